"""The record formats (:mod:`signmusketeers.formats.records`): builders make what the checks accept, and the checks
name the clip and the field of a record that is not of its format."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from signmusketeers.formats.records import (
    SIDES,
    RecordError,
    check_clip_record,
    check_crop_record,
    check_feature_record,
    clip_record,
    crop_record,
    encode_jpeg,
    feature_record,
    unpack_clip_crops,
)
from signmusketeers.parsing.boxes import PART_NAMES


def parsed_clip(frames: int = 3, size: int = 16) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        crops=rng.integers(0, 256, (frames, 3, size, size, 3), dtype=np.uint8),
        pose=np.zeros((frames, 14), np.float32),
        provenance=np.zeros((frames, 3), np.uint8),
        boxes=np.ones((frames, 3, 4), np.float32),
        frame_index=np.arange(frames, dtype=np.int64) * 2,
        timestamps=np.arange(frames) / 5.0,
        fps=10.0,
        size=(120, 160),
        clip_id="c",
        face_regions=np.zeros((frames, 92, 2), np.int16),
    )


def test_clip_records_of_both_kinds_pass_their_check_and_a_broken_one_does_not(tmp_path) -> None:
    clip = parsed_clip()
    full = check_clip_record(clip_record(clip, "a text", "train"))
    assert unpack_clip_crops(full).shape == (3, 3, 16, 16, 3)
    boxes = check_clip_record(clip_record(clip, records="boxes", video=str(tmp_path / "v.mp4"), video_frames=6))
    assert boxes["video"] == str(tmp_path / "v.mp4") and boxes["face_regions"].shape == (3, 92, 2)
    with pytest.raises(RecordError, match="clip 'c': 'pose' has shape"):
        check_clip_record(full | {"pose": np.zeros((2, 14), np.float32)})
    with pytest.raises(RecordError, match="clip 'c': 'offsets' has shape"):
        check_clip_record(full | {"offsets": full["offsets"][:-1]})
    with pytest.raises(RecordError, match="neither JPEG crops nor a source video"):
        check_clip_record({key: value for key, value in full.items() if key not in ("crops", "offsets")})


def test_crop_and_feature_records() -> None:
    assert SIDES == tuple(PART_NAMES)  # the crops' order in clip records is the parser's
    record = check_crop_record(crop_record(encode_jpeg(np.zeros((8, 8, 3), np.uint8)), "left", "c", 4, 3))
    assert (record["part"], record["frame"].tolist(), record["provenance"].dtype) == ("hand", [4], np.uint8)
    with pytest.raises(RecordError, match="part 'face' and side 'left'"):
        check_crop_record(record | {"part": "face"})
    features = np.zeros((5, 384), np.float16)
    record = feature_record("c", "hello", features, features, features, np.zeros((5, 14)))
    assert list(record) == ["face", "left", "right", "pose", "text", "clip_id"] and record["pose"].dtype == np.float32
    assert "global" in feature_record("c", "", features, features, features, np.zeros((5, 14), np.float32), features)
    with pytest.raises(RecordError, match="features of clip 'c': 'left' has shape"):
        feature_record("c", "", features, features[:4], features, np.zeros((5, 14)))
    with pytest.raises(RecordError, match="expected float16 or float32"):
        check_feature_record(record | {"face": features.astype(np.int32)})
