"""FrameParser on real MediaPipe Holistic (a real portrait photo as video) and on precomputed landmarks: output
layout, containers, grayscale/odd sizes, every bad input with its one-line reason, face privacy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signmusketeers.parsing import LANDMARKS, POSE_FALLBACK, FrameParser, ParseError
from signmusketeers.parsing.landmarks import PrecomputedLandmarks
from tests.parsing.media import noise_frames, portrait, write_video

CROP = 64


@pytest.fixture(scope="module")
def parser():
    parser = FrameParser(crop_size=CROP)
    yield parser
    parser.close()


def test_parsed_clip_layout_on_a_real_face(parser, tmp_path: Path) -> None:
    path = write_video(tmp_path / "portrait.mp4", [portrait(320, 376)] * 5, fps=12)
    clip = parser.parse_video(path)
    assert clip.clip_id == "portrait" and len(clip) == 5 and clip.size == (376, 320) and clip.fps == 12
    assert clip.crops.shape == (5, 3, CROP, CROP, 3) and clip.crops.dtype == np.uint8
    assert clip.boxes.shape == (5, 3, 4) and clip.boxes.dtype == np.float32
    assert clip.provenance.shape == (5, 3) and clip.provenance.dtype == np.uint8
    assert clip.pose.shape == (5, 14) and clip.pose.dtype == np.float32
    assert (clip.frame_index == np.arange(5)).all()
    assert (clip.provenance[:, 0] == LANDMARKS).all()  # the face is found by its landmarks
    assert clip.landmarks.present["face"].all()
    # the face box holds the face landmarks and sits in the upper half of the photo
    face = clip.landmarks.face[0]
    x0, y0, x1, y1 = clip.boxes[0, 0]
    assert x0 <= face[:, 0].min() and face[:, 0].max() <= x1 and y0 <= face[:, 1].min() and y1 < 376 * 0.8
    # no hands in the photo: hand boxes come from the pose (or were kept / shifted), never from hand landmarks
    assert not clip.landmarks.present["left_hand"].any()
    assert (clip.provenance[:, 1:] != LANDMARKS).all()


@pytest.mark.parametrize("suffix", [".webm", ".mov", ".gif"])
def test_other_containers(parser, tmp_path: Path, suffix: str) -> None:
    clip = parser.parse_video(write_video(tmp_path / f"p{suffix}", [portrait(240, 282)] * 3, fps=10))
    assert len(clip) == 3 and (clip.provenance[:, 0] == LANDMARKS).all()


def test_grayscale_and_odd_size(parser, tmp_path: Path) -> None:
    gray = [portrait(241, 283).mean(axis=2).astype(np.uint8)] * 3
    clip = parser.parse_video(write_video(tmp_path / "gray.mkv", gray, pix_fmt="gray"))
    assert clip.size == (283, 241) and (clip.provenance[:, 0] == LANDMARKS).all()


def test_stride(parser, tmp_path: Path) -> None:
    clip = FrameParser(crop_size=CROP, stride=2, landmark_source=parser.landmark_source).parse_video(
        write_video(tmp_path / "p.mp4", [portrait(160, 188)] * 5, fps=10)
    )
    assert list(clip.frame_index) == [0, 2, 4]


def test_bad_inputs_fail_with_one_line_naming_the_file(parser, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "readme.mov"
    text.write_text("not a video at all\n" * 30)
    cases = {
        empty: "empty file",
        text: "not a readable video",
        write_video(tmp_path / "nobody.mp4", noise_frames(4, 96, 64), fps=10): "no person found in any of its 4 frames",
        write_video(tmp_path / "single.mp4", [portrait(160, 188)], fps=10): "1 frame decoded; a clip needs at least 2",
    }
    for path, reason in cases.items():
        with pytest.raises(ParseError, match=reason) as error:
            parser.parse_video(path)
        assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_model_complexity_without_a_bundled_model_is_refused_with_the_reason(tmp_path: Path) -> None:
    from signmusketeers.parsing import MediaPipeHolistic

    parser = FrameParser(landmark_source=MediaPipeHolistic(model_complexity=2))
    with pytest.raises(ParseError, match="does not bundle.*use model_complexity=1"):
        parser.parse_video(write_video(tmp_path / "p.mp4", [portrait(160, 188)] * 2, fps=10))


def synthetic_landmarks(path: Path, frames: int, width: int, height: int) -> Path:
    """SynthSign-layout landmarks: face box 40 × 40 at the top centre, left hand landmarks from frame 2 on."""
    pose = np.full((frames, 33, 3), np.nan, np.float32)
    face = np.full((frames, 468, 2), np.nan, np.float32)
    left = np.full((frames, 21, 2), np.nan, np.float32)
    right = np.full((frames, 21, 2), np.nan, np.float32)
    rng = np.random.default_rng(0)
    for t in range(frames):
        pose[t, :, :2] = rng.uniform([width * 0.3, height * 0.2], [width * 0.7, height * 0.9], (33, 2))
        pose[t, :, 2] = 1
        pose[t, 0:11, :2] = rng.uniform([width / 2 - 15, 10], [width / 2 + 15, 40], (11, 2))
        face[t] = rng.uniform([width / 2 - 20, 5], [width / 2 + 20, 45], (468, 2))
        left[t] = rng.uniform([width * 0.6, height * 0.5], [width * 0.7, height * 0.6], (21, 2))
    present_left = np.arange(frames) >= 2
    left[~present_left] = np.nan
    np.savez(
        path, pose=pose, face=face, left_hand=left, right_hand=right,
        present_pose=np.ones(frames, bool), present_face=np.ones(frames, bool),
        present_left_hand=present_left, present_right_hand=np.zeros(frames, bool),
    )  # fmt: skip
    return path


def test_precomputed_landmarks(tmp_path: Path) -> None:
    video = write_video(tmp_path / "synth.mp4", noise_frames(6, 160, 120), fps=10)
    npz = synthetic_landmarks(tmp_path / "synth.npz", 6, 160, 120)
    clip = FrameParser(crop_size=CROP).parse_video(video, landmarks=npz)
    assert (clip.provenance[:, 0] == LANDMARKS).all()
    assert list(clip.provenance[:, 1]) == [POSE_FALLBACK] * 2 + [LANDMARKS] * 4
    assert (clip.provenance[:, 2] == POSE_FALLBACK).all()
    np.testing.assert_allclose(clip.landmarks.face, np.load(npz)["face"])
    short = synthetic_landmarks(tmp_path / "short.npz", 3, 160, 120)
    with pytest.raises(ParseError, match="has landmarks for 3 frames"):
        FrameParser(crop_size=CROP).parse_video(video, landmarks=short)
    with pytest.raises(ParseError, match="no such landmark file"):
        FrameParser(crop_size=CROP).parse_video(video, landmarks=tmp_path / "missing.npz")
    assert PrecomputedLandmarks(npz).frames == 6


def test_leading_frames_without_a_hand_box_take_the_first_one(tmp_path: Path) -> None:
    video = write_video(tmp_path / "synth.mp4", noise_frames(5, 160, 120), fps=10)
    npz = synthetic_landmarks(tmp_path / "synth.npz", 5, 160, 120)
    data = dict(np.load(npz))
    data["present_pose"][:2] = False  # no pose, so no hand fallback, in the first two frames
    data["pose"][:2] = np.nan
    np.savez(npz, **data)
    clip = FrameParser(crop_size=CROP).parse_video(video, landmarks=npz)
    assert np.isfinite(clip.boxes).all()
    np.testing.assert_allclose(clip.boxes[0, 1], clip.boxes[2, 1])
    assert (clip.pose[:2] == -1).all() and (clip.pose[2:] != -1).any()


def test_face_privacy_keeps_only_eyes_and_mouth(parser, tmp_path: Path) -> None:
    path = write_video(tmp_path / "portrait.mp4", [portrait(320, 376)] * 2, fps=10)
    plain = parser.parse_video(path)
    private = FrameParser(crop_size=CROP, face_privacy=True, landmark_source=parser.landmark_source).parse_video(path)
    face, hidden = plain.crops[0, 0].astype(int), private.crops[0, 0].astype(int)
    # corners (hair, background) become flat grey; the whole crop is no longer the plain face
    assert abs(hidden[:6, :6].mean() - 128) < 3 and hidden[:6, :6].std() < 3
    assert np.abs(face - hidden).mean() > 10
    np.testing.assert_array_equal(private.crops[:, 1:], plain.crops[:, 1:])  # hands untouched
