"""Segments of a long video, read by seeking everywhere a segment is read: the parser (with precomputed landmarks
indexed by the file's frame numbers) and boxes-only re-cropping give what decoding from the first frame gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signmusketeers.formats.records import clip_record
from signmusketeers.parsing import FrameParser
from signmusketeers.parsing import parser as parser_module
from signmusketeers.parsing import video as video_module
from signmusketeers.parsing.recrop import record_crops
from tests.parsing.corpus_media import encode
from tests.parsing.media import noise_frames
from tests.parsing.test_parser import synthetic_landmarks

FRAMES, WIDTH, HEIGHT = 400, 160, 120  # 16 s at 25 fps, a keyframe every 50 frames


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("segments")
    video = encode(folder / "long.mp4", noise_frames(60, WIDTH, HEIGHT), FRAMES, gop=50)
    return video, synthetic_landmarks(folder / "long.npz", FRAMES, WIDTH, HEIGHT)


def no_decoding_from_zero(*args, **kwargs):
    raise AssertionError("decoded from the file's first frame")


def test_parser_segment_by_seeking_equals_decoding_from_the_start(long_video, monkeypatch) -> None:
    video, landmarks = long_video
    parser = FrameParser(crop_size=32, stride=2)
    with monkeypatch.context() as patch:
        patch.setattr(video_module, "_decode_from_zero", no_decoding_from_zero)
        seeked = parser.parse_video(video, landmarks=landmarks, start=12.3, end=13.1)
    original = parser_module.read_frames
    with monkeypatch.context() as patch:
        patch.setattr(parser_module, "read_frames", lambda *a, **k: original(*a, **{**k, "seek": False}))
        decoded = parser.parse_video(video, landmarks=landmarks, start=12.3, end=13.1)
    assert list(seeked.frame_index) == list(range(308, 328, 2))  # 12.32 s on, the file's own frame numbers
    assert np.array_equal(seeked.frame_index, decoded.frame_index)
    assert np.array_equal(seeked.timestamps, decoded.timestamps)
    assert np.array_equal(seeked.crops, decoded.crops) and np.array_equal(seeked.boxes, decoded.boxes)
    assert np.array_equal(seeked.pose, decoded.pose)


def test_boxes_only_recropping_seeks(long_video, monkeypatch) -> None:
    video, landmarks = long_video
    clip = FrameParser(crop_size=32, stride=2).parse_video(video, landmarks=landmarks, start=14.0, end=15.0)
    record = clip_record(clip, records="boxes", video=str(video), video_frames=FRAMES)
    monkeypatch.setattr(video_module, "_decode_from_zero", no_decoding_from_zero)
    assert np.array_equal(record_crops(record), clip.crops)


def test_folder_of_frames_parses_and_recrops(tmp_path: Path) -> None:
    from tests.parsing.corpus_media import frame_folder

    folder = frame_folder(tmp_path / "video-0001", noise_frames(20, WIDTH, HEIGHT))
    landmarks = synthetic_landmarks(tmp_path / "video.npz", 20, WIDTH, HEIGHT)
    clip = FrameParser(crop_size=32, stride=2).parse_video(folder, landmarks=landmarks, fps=25, start=0.2)
    assert list(clip.frame_index) == list(range(5, 20, 2)) and clip.fps == 25.0 and clip.size == (HEIGHT, WIDTH)
    record = clip_record(clip, records="boxes", video=str(folder), video_frames=20)
    assert np.array_equal(record_crops(record), clip.crops)
