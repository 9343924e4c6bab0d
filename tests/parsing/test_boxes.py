"""Each box rule and fallback of paper §3.1 (and our reading of it in signmusketeers.parsing.boxes), on
hand-computed examples (pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from signmusketeers.parsing.boxes import (
    LANDMARKS,
    POSE_FALLBACK,
    PREVIOUS,
    SHIFTED,
    BoxTracker,
    crop_box,
    fit_in_bounds,
    square_around,
)
from signmusketeers.parsing.landmarks import FrameLandmarks

FRAME = (0, 0, 640, 480)


def points_in_box(x0: float, y0: float, x1: float, y1: float, n: int) -> np.ndarray:
    """n points whose bounding box is exactly (x0, y0, x1, y1)."""
    rng = np.random.default_rng(n)
    points = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    points[0], points[1] = (x0, y0), (x1, y1)
    return points.astype(np.float32)


def pose_with(head=(320, 100), left_hand=(420, 300), right_hand=(220, 300)) -> np.ndarray:
    pose = np.zeros((33, 3), dtype=np.float32)
    pose[:, 2] = 1
    pose[0:11, :2] = points_in_box(head[0] - 20, head[1] - 10, head[0] + 20, head[1] + 30, 11)  # 40 × 40
    pose[11, :2], pose[12, :2] = (380, 180), (260, 180)
    pose[[17, 19, 21], :2] = np.array(left_hand) + np.array([[-6, 0], [6, 3], [0, -3]])
    pose[[18, 20, 22], :2] = np.array(right_hand) + np.array([[-6, 0], [6, 3], [0, -3]])
    return pose


def test_square_around_is_centred_with_1_2_times_the_larger_side() -> None:
    box = square_around(points_in_box(100, 50, 140, 150, 30))  # 40 wide, 100 high, centre (120, 100)
    np.testing.assert_allclose(box, [120 - 60, 100 - 60, 120 + 60, 100 + 60])


def test_face_from_landmarks_then_pose_fallback_then_previous() -> None:
    tracker = BoxTracker(FRAME)
    face = points_in_box(300, 80, 350, 140, 468)  # 50 × 60 → side 72 centred (325, 110)
    boxes, provenance = tracker.update(FrameLandmarks(pose=pose_with(), face=face))
    np.testing.assert_allclose(boxes[0], [289, 74, 361, 146], atol=1e-4)
    assert provenance[0] == LANDMARKS

    boxes, provenance = tracker.update(FrameLandmarks(pose=pose_with(head=(330, 110))))
    # pose points 0-10 span 40 × 40 around (330, 120) → side 48
    np.testing.assert_allclose(boxes[0], [306, 96, 354, 144], atol=1e-4)
    assert provenance[0] == POSE_FALLBACK

    boxes, provenance = tracker.update(FrameLandmarks())
    np.testing.assert_allclose(boxes[0], [306, 96, 354, 144], atol=1e-4)
    assert provenance[0] == PREVIOUS


def test_no_box_before_anything_was_seen_is_nan() -> None:
    boxes, provenance = BoxTracker(FRAME).update(FrameLandmarks())
    assert np.isnan(boxes).all() and (provenance == PREVIOUS).all()


def test_hand_from_landmarks_and_pose_fallback_uses_face_side_and_the_hand_points() -> None:
    tracker = BoxTracker(FRAME)
    face = points_in_box(300, 80, 350, 140, 468)  # face side 72
    left = points_in_box(400, 280, 450, 320, 21)  # 50 × 40 → side 60 centred (425, 300)
    boxes, provenance = tracker.update(FrameLandmarks(pose=pose_with(), face=face, left_hand=left))
    np.testing.assert_allclose(boxes[1], [395, 270, 455, 330], atol=1e-4)
    assert provenance[1] == LANDMARKS
    # right hand: no landmarks → square of the face's side at the mean of pose 18/20/22 = (220, 300)
    np.testing.assert_allclose(boxes[2], [220 - 36, 300 - 36, 220 + 36, 300 + 36], atol=1e-4)
    assert provenance[2] == POSE_FALLBACK


def test_left_fallback_uses_pose_17_19_21_and_right_18_20_22() -> None:
    boxes, _ = BoxTracker(FRAME).update(FrameLandmarks(pose=pose_with(left_hand=(500, 350), right_hand=(150, 250))))
    assert np.allclose((boxes[1, :2] + boxes[1, 2:]) / 2, (500, 350))
    assert np.allclose((boxes[2, :2] + boxes[2, 2:]) / 2, (150, 250))


def test_hand_leaving_the_frame_keeps_its_last_box() -> None:
    tracker = BoxTracker(FRAME)
    first, _ = tracker.update(FrameLandmarks(pose=pose_with(left_hand=(420, 400))))
    boxes, provenance = tracker.update(FrameLandmarks(pose=pose_with(left_hand=(420, 520))))  # wrist below frame
    np.testing.assert_allclose(boxes[1], first[1])
    assert provenance[1] == PREVIOUS


def test_box_crossing_the_border_is_shifted_inward() -> None:
    tracker = BoxTracker(FRAME)
    boxes, provenance = tracker.update(FrameLandmarks(pose=pose_with(left_hand=(630, 300))))
    # side 48 (from pose head points) centred at x 630 → [606, 654] → shifted to [592, 640]
    np.testing.assert_allclose(boxes[1], [592, 276, 640, 324], atol=1e-4)
    assert provenance[1] == SHIFTED


def test_box_larger_than_the_frame_is_shrunk_to_fit() -> None:
    fitted, moved = fit_in_bounds(np.array([-100.0, -50.0, 300.0, 350.0]), (0, 0, 320, 240))
    np.testing.assert_allclose(fitted, [0, 0, 320, 240])  # 400 → 320 wide, 400 → 240 high, then inside
    assert moved
    fitted, moved = fit_in_bounds(np.array([10.0, 10.0, 50.0, 50.0]), (0, 0, 320, 240))
    assert not moved and np.allclose(fitted, [10, 10, 50, 50])


def test_region_of_interest_bounds_boxes() -> None:
    tracker = BoxTracker((0, 0, 320, 480))  # left half of a 640 × 480 frame
    boxes, provenance = tracker.update(FrameLandmarks(pose=pose_with(head=(310, 100))))
    assert boxes[0, 2] <= 320 and provenance[0] == SHIFTED


def test_crop_pads_a_non_square_box_instead_of_stretching() -> None:
    image = np.full((100, 200, 3), 255, dtype=np.uint8)
    crop = crop_box(image, np.array([0.0, 0.0, 200.0, 100.0]), 64)  # 200 × 100: 50 black rows above and below
    assert crop.shape == (64, 64, 3)
    assert crop[:10].max() == 0 and crop[-10:].max() == 0 and crop[28:36].min() == 255
    square = crop_box(image, np.array([10.0, 10.0, 60.0, 60.0]), 32)
    assert square.min() == 255


def test_nan_box_gives_a_black_crop() -> None:
    assert crop_box(np.ones((10, 10, 3), np.uint8), np.full(4, np.nan), 16).max() == 0


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_scale_is_a_parameter(scale: float) -> None:
    box = square_around(points_in_box(0, 0, 10, 20, 5), scale)
    assert box[2] - box[0] == pytest.approx(20 * scale)
