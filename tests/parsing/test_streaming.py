"""FrameParser.iter_frames: the same frames as parse_video, one at a time, holding at most a few."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signmusketeers.parsing import FrameParser, ParseError
from tests.parsing.media import noise_frames, write_video
from tests.parsing.test_parser import CROP, synthetic_landmarks


def _leading_frames_without_pose(tmp_path: Path, frames: int, without: int) -> tuple[Path, Path]:
    video = write_video(tmp_path / "synth.mp4", noise_frames(frames, 160, 120), fps=10)
    npz = synthetic_landmarks(tmp_path / "synth.npz", frames, 160, 120)
    data = dict(np.load(npz))
    data["present_pose"][:without] = False  # no pose, so no hand box, in the first frames
    data["pose"][:without] = np.nan
    np.savez(npz, **data)
    return video, npz


def test_iter_frames_gives_parse_video_frame_by_frame(tmp_path: Path) -> None:
    video, npz = _leading_frames_without_pose(tmp_path, 6, 2)
    parser = FrameParser(crop_size=CROP)
    clip = parser.parse_video(video, landmarks=npz)
    frames = list(parser.iter_frames(video, landmarks=npz))
    assert len(frames) == len(clip) == 6
    np.testing.assert_array_equal(np.stack([f.crops for f in frames]), clip.crops)
    np.testing.assert_array_equal(np.stack([f.boxes for f in frames]), clip.boxes)
    np.testing.assert_array_equal(np.stack([f.provenance for f in frames]), clip.provenance)
    np.testing.assert_array_equal(np.stack([f.pose for f in frames]), clip.pose)
    assert [f.index for f in frames] == list(clip.frame_index) and [f.time for f in frames] == list(clip.timestamps)
    assert [f.pose_found for f in frames] == [False, False, True, True, True, True]
    assert np.isfinite(clip.boxes).all()  # the two leading frames took the first hand boxes


def test_iter_frames_holds_at_most_max_pending_frames(tmp_path: Path) -> None:
    video, npz = _leading_frames_without_pose(tmp_path, 6, 3)
    frames = list(FrameParser(crop_size=CROP).iter_frames(video, landmarks=npz, max_pending=1))
    assert [f.index for f in frames] == list(range(6))
    # released before the first hand box came: the hand boxes stay NaN and the crops black, never made up
    assert not np.isfinite(frames[0].boxes[1:]).any() and not frames[0].crops[1:].any()
    assert np.isfinite(frames[3].boxes).all()


def test_iter_frames_without_any_person_fails_naming_the_file(tmp_path: Path) -> None:
    video, npz = _leading_frames_without_pose(tmp_path, 4, 4)
    data = dict(np.load(npz))
    data["present_face"][:] = False
    np.savez(npz, **data)
    with pytest.raises(ParseError, match=r"synth\.mp4: no person found"):
        list(FrameParser(crop_size=CROP).iter_frames(video, landmarks=npz, max_pending=2))
