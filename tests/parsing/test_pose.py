"""The 14-d pose vector on hand-computed examples, including a non-square frame."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from signmusketeers.parsing.mediapipe_holistic import _to_pixels
from signmusketeers.parsing.pose import MISSING, PoseTracker, normalise_pose


def pose_from(points: dict[int, tuple[float, float]]) -> np.ndarray:
    pose = np.zeros((33, 3), dtype=np.float32)
    for index, (x, y) in points.items():
        pose[index] = (x, y, 1)
    return pose


# A signer in a 1280 × 720 frame, in pixels. Shoulders 80 px apart → head unit h = 40; space 240 × 280 px with
# x0 = nose.x − 3h = 520 and y0 = left eye.y − 0.5h = 260.
SIGNER = {0: (640, 300), 2: (650, 280), 11: (680, 400), 12: (600, 400), 13: (700, 480), 14: (580, 480),
          15: (700, 540), 16: (520, 260)}  # fmt: skip
EXPECTED = [
    (120 / 240, 40 / 280),  # nose
    (160 / 240, 140 / 280),  # left shoulder
    (80 / 240, 140 / 280),  # right shoulder
    (180 / 240, 220 / 280),  # left elbow
    (60 / 240, 220 / 280),  # right elbow
    (180 / 240, 280 / 280),  # left wrist: bottom edge of the signing space
    (0 / 240, 0 / 280),  # right wrist at the top-left corner
]


def test_hand_computed_example() -> None:
    np.testing.assert_allclose(normalise_pose(pose_from(SIGNER)), np.ravel(EXPECTED), atol=1e-6)


def test_pixels_not_normalised_units_on_a_non_square_frame() -> None:
    # MediaPipe gives x / width and y / height; the same signer must give the same vector once in pixels.
    width, height = 1280, 720
    landmarks = [SimpleNamespace(x=0.0, y=0.0, visibility=1.0) for _ in range(33)]
    for index, (x, y) in SIGNER.items():
        landmarks[index] = SimpleNamespace(x=x / width, y=y / height, visibility=0.9)
    pixels = _to_pixels(SimpleNamespace(landmark=landmarks), width, height, 0, 0, True)
    np.testing.assert_allclose(pixels[15], (700, 540, 0.9), atol=1e-3)
    np.testing.assert_allclose(normalise_pose(pixels), np.ravel(EXPECTED), atol=1e-5)
    # measured in normalised units the head unit would differ along x and y: the result would be wrong
    wrong = normalise_pose(pixels / np.array([width, height, 1], dtype=np.float32))
    assert not np.allclose(wrong, np.ravel(EXPECTED), atol=1e-2)


def test_region_offset_is_added_back() -> None:
    landmarks = SimpleNamespace(landmark=[SimpleNamespace(x=0.5, y=0.25)])
    np.testing.assert_allclose(_to_pixels(landmarks, 200, 100, 640, 10, False), [[740, 35]])


def test_invariant_to_translation_and_scale() -> None:
    moved = {k: (2 * x + 33, 2 * y - 17) for k, (x, y) in SIGNER.items()}
    np.testing.assert_allclose(normalise_pose(pose_from(moved)), normalise_pose(pose_from(SIGNER)), atol=1e-6)


def test_missing_pose_repeats_the_previous_and_starts_at_minus_one() -> None:
    tracker = PoseTracker()
    assert (tracker.update(None) == MISSING).all()
    first = tracker.update(pose_from(SIGNER))
    np.testing.assert_allclose(tracker.update(None), first)
    coincident = pose_from({**SIGNER, 12: SIGNER[11]})  # zero shoulder width cannot be normalised
    assert normalise_pose(coincident) is None
    np.testing.assert_allclose(tracker.update(coincident), first)
