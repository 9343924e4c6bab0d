"""``signmusketeers parse`` streams: records made frame by frame (:func:`encode_clip`) are byte-identical to those
made from the whole parsed clip (``parse_video``), on a SynthSign clip and on a real signing clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from signmusketeers.cli import main
from signmusketeers.data.crop_sample import crop_records, pick_crops
from signmusketeers.data.shards import open_dataset
from signmusketeers.formats.records import clip_record
from signmusketeers.parsing import FrameParser, ParseError
from signmusketeers.parsing.encoded import EncodedClip, encode_clip
from tests.parsing.media import SHARED_CLIPS, noise_frames, write_video
from tests.parsing.test_command import synth_folder
from tests.parsing.test_parser import synthetic_landmarks
from tests.parsing.test_streaming import _leading_frames_without_pose

BLUE_SCREEN = SHARED_CLIPS / "signer_blue_screen.mp4"


def assert_same_record(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys, and every value the same type, dtype, shape and bytes."""
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        if isinstance(value, np.ndarray):
            assert isinstance(ours[key], np.ndarray), key
            assert (ours[key].dtype, ours[key].shape) == (value.dtype, value.shape), key
            assert ours[key].tobytes() == value.tobytes(), key
        else:
            assert type(ours[key]) is type(value) and ours[key] == value, key


def assert_same_records(parser: FrameParser, video: Path, **where: Any) -> tuple[EncodedClip, Any]:
    """Every kind of record parse writes, from both paths; returns the two clips."""
    whole = parser.parse_video(video, clip_id="c", **where)
    streamed = encode_clip(parser, str(video), clip_id="c", keep_landmarks=True, **where)
    assert len(streamed) == len(whole) >= 2
    assert streamed.fps == whole.fps and streamed.size == whole.size
    for records in ("full", "boxes"):
        assert_same_record(
            clip_record(streamed, "a text", "dev", records=records, video=str(video), video_frames=7),
            clip_record(whole, "a text", "dev", records=records, video=str(video), video_frames=7),
        )
    for ours, theirs in (
        (crop_records(streamed, 3), crop_records(whole, 3)),
        (
            crop_records(streamed, 0, pick_crops("c", whole.found, whole.provenance, 4, 4, seed=1)),
            crop_records(whole, 0, pick_crops("c", whole.found, whole.provenance, 4, 4, seed=1)),
        ),
    ):
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs):
            assert_same_record(a, b)
    for part in ("pose", "face", "left_hand", "right_hand"):
        np.testing.assert_array_equal(getattr(streamed.landmarks, part), getattr(whole.landmarks, part))
    # only the crops crop records may take are encoded when no full clip record is written
    usable = encode_clip(parser, str(video), clip_id="c", jpegs="usable", **where)
    for a, b in zip(crop_records(usable, 3), crop_records(whole, 3)):
        assert_same_record(a, b)
    assert sum(data is not None for row in usable._jpegs for data in row) < 3 * len(whole)
    return streamed, whole


def test_synthsign_clip_records_are_byte_identical(synthsign_small: Path) -> None:
    entry = json.loads((synthsign_small / "manifest.jsonl").read_text().splitlines()[0])
    parser = FrameParser(crop_size=56, stride=2, face_privacy=True)
    streamed, _ = assert_same_records(
        parser, synthsign_small / entry["video"], landmarks=synthsign_small / entry["landmarks"]
    )
    assert streamed.face_regions is not None


def test_frames_waiting_for_a_first_box_are_backfilled_as_parse_video_does(tmp_path: Path) -> None:
    video, npz = _leading_frames_without_pose(tmp_path, 8, 3)
    streamed, whole = assert_same_records(FrameParser(crop_size=32), video, landmarks=npz)
    assert np.isfinite(whole.boxes).all() and (streamed.provenance[:2, 1:] == 2).all()  # previous box, backfilled


def test_stream_video_refuses_what_parse_video_refuses(tmp_path: Path) -> None:
    parser = FrameParser(crop_size=32)
    one = write_video(tmp_path / "one.mp4", noise_frames(1, 64, 48), fps=10)
    nobody = write_video(tmp_path / "nobody.mp4", noise_frames(4, 64, 48), fps=10)
    npz = synthetic_landmarks(tmp_path / "nobody.npz", 4, 64, 48)
    data = dict(np.load(npz))
    for key in [k for k in data if k.startswith("present_")]:
        data[key][:] = False
    np.savez(npz, **data)
    for video, landmarks, where in ((one, None, {}), (nobody, npz, {}), (nobody, npz, {"start": 99.0})):
        with pytest.raises(ParseError) as whole:
            parser.parse_video(
                video, landmarks=landmarks or synthetic_landmarks(tmp_path / "one.npz", 1, 64, 48), **where
            )
        with pytest.raises(ParseError) as streamed:
            encode_clip(parser, str(video), landmarks=landmarks or tmp_path / "one.npz", **where)
        assert str(streamed.value) == str(whole.value) and str(video) in str(streamed.value)


def test_parse_never_holds_a_whole_clip_of_crops(tmp_path: Path, monkeypatch) -> None:
    """The command works with parse_video gone: it consumes frames one by one."""

    def refuse(*args, **kwargs):
        raise AssertionError("parse stacked a whole clip")

    monkeypatch.setattr(FrameParser, "parse_video", refuse)
    data = synth_folder(tmp_path / "synth", 2)
    out, crops, poses = tmp_path / "clips", tmp_path / "crops", tmp_path / "poses"
    assert (
        main(
            [
                "parse",
                str(data),
                "--out",
                str(out),
                "--crops-out",
                str(crops),
                "--crop-size",
                "32",
                "--crops-per-clip",
                "2",
                "--poses-out",
                str(poses),
                "--preview",
            ]
        )
        == 0
    )
    assert sorted(r["clip_id"] for r in open_dataset(out, "clips")) == ["clip000", "clip001"]
    assert len(list(open_dataset(crops, "crops"))) > 0
    assert sorted(p.name for p in poses.iterdir()) == ["clip000.pose", "clip001.pose"]
    assert len(list((out / "previews").glob("*.png"))) == 2


@pytest.mark.needs_shared_data
@pytest.mark.skipif(not BLUE_SCREEN.exists(), reason=f"shared clips not found at {SHARED_CLIPS}")
def test_real_clip_records_are_byte_identical() -> None:
    parser = FrameParser(crop_size=224, stride=2, face_privacy=True)  # parse's defaults, MediaPipe Holistic
    try:
        streamed, whole = assert_same_records(parser, BLUE_SCREEN, end=2.0)
    finally:
        parser.close()
    assert whole.found[:, 0].mean() > 0.9  # a real face, found: the crop records hold real crops
