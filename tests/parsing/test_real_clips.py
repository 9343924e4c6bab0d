"""FrameParser on the real signing clips in ../shared/data/clips (skipped where that folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from signmusketeers.parsing import LANDMARKS, FrameParser
from tests.parsing.media import SHARED_CLIPS

BLUE_SCREEN = SHARED_CLIPS / "signer_blue_screen.mp4"
TV_SPEAKER = SHARED_CLIPS / "signer_and_tv_speaker.mp4"

pytestmark = [
    pytest.mark.needs_shared_data,
    pytest.mark.skipif(not BLUE_SCREEN.exists(), reason=f"shared clips not found at {SHARED_CLIPS}"),
]


@pytest.fixture(scope="module")
def blue_screen():
    parser = FrameParser()  # paper defaults: 224-px crops, MediaPipe Holistic, every frame
    clip = parser.parse_video(BLUE_SCREEN)
    parser.close()
    return clip


def test_every_frame_parsed_with_224_crops_and_provenance(blue_screen) -> None:
    assert len(blue_screen) == 133 and list(blue_screen.frame_index) == list(range(133))
    assert blue_screen.crops.shape == (133, 3, 224, 224, 3)
    assert blue_screen.provenance.shape == (133, 3) and blue_screen.provenance.max() <= 3
    assert np.isfinite(blue_screen.boxes).all()
    assert abs(blue_screen.fps - 24.17) < 0.01 and blue_screen.size == (480, 640)


def test_face_found_in_at_least_95_percent_of_frames(blue_screen) -> None:
    assert (blue_screen.provenance[:, 0] == LANDMARKS).mean() >= 0.95


def test_pose_lies_in_the_signing_space(blue_screen) -> None:
    pose = blue_screen.pose
    assert (pose != -1).all()  # the signer is visible from the first frame
    assert ((pose >= 0) & (pose <= 1)).mean() >= 0.9
    nose = pose[:, :2]
    assert np.abs(nose[:, 0] - 0.5).max() < 1e-5  # the space is centred on the nose by construction


def test_left_hand_is_the_signers_left_near_pose_landmark_15(blue_screen) -> None:
    """MediaPipe's convention: the signer's own left hand, on the right of a front-facing image."""
    pose = blue_screen.landmarks.pose
    both = blue_screen.landmarks.present["left_hand"] & blue_screen.landmarks.present["right_hand"]
    assert both.sum() >= 50
    left_centre = (blue_screen.boxes[both, 1, :2] + blue_screen.boxes[both, 1, 2:]) / 2
    right_centre = (blue_screen.boxes[both, 2, :2] + blue_screen.boxes[both, 2, 2:]) / 2
    to_15 = np.linalg.norm(left_centre - pose[both, 15, :2], axis=1)
    to_16 = np.linalg.norm(left_centre - pose[both, 16, :2], axis=1)
    assert (to_15 < to_16).mean() >= 0.9
    face_side = blue_screen.boxes[both, 0, 2] - blue_screen.boxes[both, 0, 0]
    assert np.median(to_15 / face_side) < 0.6  # the box sits on the wrist's hand
    assert (left_centre[:, 0] > right_centre[:, 0]).mean() >= 0.9  # image right = signer's left


@pytest.mark.skipif(not TV_SPEAKER.exists(), reason=f"{TV_SPEAKER} not found")
def test_region_of_interest_picks_the_person() -> None:
    """Two people: the signer (left) and a speaker on a TV screen (right). A region of interest decides which one
    is parsed; boxes then stay inside it."""
    width = 1280

    def face_centres(region):
        parser = FrameParser(crop_size=64, stride=8, region_of_interest=region, keep_landmarks=False)
        clip = parser.parse_video(TV_SPEAKER, end=3.0)
        parser.close()
        assert (clip.provenance[:, 0] == LANDMARKS).mean() >= 0.9
        return (clip.boxes[:, 0, 0] + clip.boxes[:, 0, 2]) / 2, clip

    default, _ = face_centres(None)
    signer, signer_clip = face_centres((0.0, 0.0, 0.5, 1.0))
    speaker, speaker_clip = face_centres((0.5, 0.0, 1.0, 1.0))
    assert (default < width / 2).all()  # MediaPipe alone follows the signer in this clip...
    assert (signer < width / 2).all() and (signer_clip.boxes[..., 2] <= width / 2 + 1e-3).all()
    assert (speaker > width / 2).all() and (speaker_clip.boxes[..., 0] >= width / 2 - 1e-3).all()  # ...or the speaker
