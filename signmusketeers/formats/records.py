"""The records of the shard folders, defined once: clip records (full and boxes-only), crop records and feature
records, each with a builder, a check and (where a record holds images) a reader; and the JPEG packing they use.

Records hold only str and numpy arrays of at least one dimension (what :class:`~signmusketeers.data.shards.ShardWriter`
stores without pickle). The field order of a builder is the order LitData stores, so builders keep it fixed: the
same inputs give the same bytes. ``docs/formats.md`` describes every field.

This module is the base layer: numpy, OpenCV, the shared constants and errors only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from signmusketeers.constants import JPEG_QUALITY
from signmusketeers.errors import InputError

SIDES = ("face", "left", "right")  # the crops of a frame in clip records, and a crop record's ``side``
CLIP_RECORDS = ("full", "boxes")  # full: JPEG crops of every kept frame; boxes: boxes + source video only
CLIP_FIELDS = ("pose", "provenance", "boxes", "frames", "timestamps", "fps", "size", "text", "split", "clip_id")
POSE_DIM = 14  # pose features per frame (parsing.pose)


class RecordError(InputError):
    """A record that does not have the fields, types or shapes of its format; one line naming the clip."""


# --------------------------------------------------------------------------------------------- JPEG


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """RGB ``uint8 (H, W, 3)`` → JPEG bytes as a 1-d ``uint8`` array."""
    import cv2

    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not JPEG-encode an image of shape {image.shape}")
    return buffer.reshape(-1)


def decode_jpeg(buffer: np.ndarray | bytes | memoryview) -> np.ndarray:
    """JPEG bytes (array, bytes or memoryview) → RGB ``uint8 (H, W, 3)``."""
    import cv2

    array = np.frombuffer(buffer, dtype=np.uint8) if not isinstance(buffer, np.ndarray) else buffer
    image = cv2.imdecode(array, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("corrupted JPEG record")
    return image[..., ::-1].copy()


def pack_jpegs(images: Sequence[np.ndarray], quality: int = JPEG_QUALITY) -> tuple[np.ndarray, np.ndarray]:
    """Encode images and concatenate them: ``(data uint8 (N,), offsets int64 (len(images) + 1,))``."""
    encoded = [encode_jpeg(image, quality) for image in images]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    data = np.concatenate(encoded) if encoded else np.zeros(0, dtype=np.uint8)
    return data, offsets


def unpack_jpegs(data: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Inverse of :func:`pack_jpegs`: the decoded RGB images, in order."""
    return [decode_jpeg(data[offsets[i] : offsets[i + 1]]) for i in range(len(offsets) - 1)]


# --------------------------------------------------------------------------------------------- clip records


def clip_record(
    clip: Any,
    text: str = "",
    split: str = "",
    *,
    records: str = "full",
    video: str | None = None,
    video_frames: int = 0,
) -> dict[str, Any]:
    """The clip-shard record of a parsed clip.

    ``clip``: a :class:`~signmusketeers.parsing.ParsedClip` (raw crops) or an
    :class:`~signmusketeers.parsing.encoded.EncodedClip` (crops kept as JPEGs, ``packed_crops()``); both give
    byte-identical records. ``records="full"``: the crops as JPEGs packed in one array + offsets.
    ``records="boxes"``: no crops; instead the source ``video`` (its absolute path), the frame count its header
    announced (``video_frames``, 0 = unknown), the ``crop_size`` and, where faces were masked, the ``face_regions``,
    from which extraction cuts the same crops again. Both kinds hold :data:`CLIP_FIELDS`.
    """
    record: dict[str, Any] = {}
    encoded = hasattr(clip, "packed_crops")
    if records == "full":
        if encoded:
            record["crops"], record["offsets"] = clip.packed_crops()
        else:
            record["crops"], record["offsets"] = pack_jpegs(list(clip.crops.reshape(-1, *clip.crops.shape[2:])))
    elif records == "boxes":
        if video is None:
            raise ValueError("a boxes-only clip record needs its source video path")
        record.update(
            video=str(Path(video).resolve()),
            video_frames=np.array([video_frames], dtype=np.int64),
            crop_size=np.array([clip.crop_size if encoded else clip.crops.shape[2]], dtype=np.int64),
        )
        regions = clip.face_regions
        if regions is not None:  # extract masks the faces it cuts again with these
            record["face_regions"] = regions
    else:
        raise ValueError(f"clip records are one of {CLIP_RECORDS}, got {records!r}")
    return record | {
        "pose": clip.pose,
        "provenance": clip.provenance,
        "boxes": clip.boxes,
        "frames": clip.frame_index,
        "timestamps": clip.timestamps,
        "fps": np.array([clip.fps], dtype=np.float32),
        "size": np.array(clip.size, dtype=np.int64),
        "text": text,
        "split": split,
        "clip_id": clip.clip_id,
    }


def _shape_problem(record: Mapping[str, Any], name: str, shape: tuple, dtype: str | None = None) -> str | None:
    """Why ``record[name]`` is not an array of ``shape`` (``None`` entries: any length) and ``dtype``, or None."""
    if name not in record:
        return f"no {name!r} field"
    value = np.asarray(record[name])
    if value.ndim != len(shape) or any(want is not None and got != want for got, want in zip(value.shape, shape)):
        return f"{name!r} has shape {value.shape}, expected {tuple('T' if s is None else s for s in shape)}"
    if dtype is not None and value.dtype != np.dtype(dtype):
        return f"{name!r} is {value.dtype}, expected {dtype}"
    return None


def _raise_first(what: str, problems: Sequence[str | None]) -> None:
    for problem in problems:
        if problem is not None:
            raise RecordError(f"{what}: {problem}")


def clip_record_kind(record: Mapping[str, Any]) -> str:
    """``"full"`` or ``"boxes"``: which kind of clip record ``record`` is (:data:`CLIP_RECORDS`)."""
    if "crops" in record:
        return "full"
    if "video" in record:
        return "boxes"
    raise RecordError(f"clip {record.get('clip_id')!r}: neither JPEG crops nor a source video in the clip record")


def check_clip_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``record`` as a dict if it is a clip record of either kind; raise :class:`RecordError` otherwise."""
    what = f"clip {record.get('clip_id')!r}"
    kind = clip_record_kind(record)
    frames = len(np.asarray(record.get("frames", [])))
    _raise_first(what, [None if name in record else f"no {name!r} field" for name in CLIP_FIELDS])
    _raise_first(
        what,
        [
            _shape_problem(record, "pose", (frames, POSE_DIM), "float32"),
            _shape_problem(record, "provenance", (frames, 3), "uint8"),
            _shape_problem(record, "boxes", (frames, 3, 4), "float32"),
            _shape_problem(record, "frames", (frames,), "int64"),
            _shape_problem(record, "timestamps", (frames,), "float64"),
            _shape_problem(record, "fps", (1,), "float32"),
            _shape_problem(record, "size", (2,), "int64"),
        ],
    )
    if kind == "full":
        _raise_first(
            what,
            [
                _shape_problem(record, "crops", (None,), "uint8"),
                _shape_problem(record, "offsets", (3 * frames + 1,), "int64"),
            ],
        )
    else:
        _raise_first(
            what,
            [_shape_problem(record, "video_frames", (1,), "int64"), _shape_problem(record, "crop_size", (1,), "int64")],
        )
        if "face_regions" in record and len(np.asarray(record["face_regions"])) != frames:
            raise RecordError(f"{what}: face regions for {len(record['face_regions'])} of {frames} frames")
    return dict(record)


def unpack_clip_crops(record: Mapping[str, Any]) -> np.ndarray:
    """A full clip record's crops as ``uint8 (T, 3, S, S, 3)`` (face, left hand, right hand per frame).

    Boxes-only records (``parse --clip-records boxes``) hold no crops: extract cuts theirs from the source video
    (:func:`signmusketeers.parsing.recrop.record_crops`).
    """
    if "crops" not in record:
        raise RecordError(f"clip {record.get('clip_id')!r}: a boxes-only clip record holds no crops")
    images = unpack_jpegs(np.asarray(record["crops"]), np.asarray(record["offsets"]))
    frames = len(record["frames"])
    if len(images) != 3 * frames:
        raise RecordError(f"clip {record.get('clip_id')!r}: {len(images)} crops for {frames} frames, expected 3 each")
    return np.stack(images).reshape(frames, 3, *images[0].shape)


# --------------------------------------------------------------------------------------------- crop records


def crop_record(jpeg: np.ndarray, side: str, clip_id: str, frame: int, provenance: int) -> dict[str, Any]:
    """One crop-shard record: a face or hand crop as JPEG bytes (``uint8 (N,)``, e.g. :func:`encode_jpeg`'s), its
    ``side`` (:data:`SIDES`), the clip and decoded frame index it was cut from and its box's provenance code."""
    if side not in SIDES:
        raise ValueError(f"a crop's side is one of {SIDES}, got {side!r}")
    return {
        "image": jpeg,
        "part": "face" if side == "face" else "hand",
        "side": side,
        "clip_id": clip_id,
        "frame": np.array([frame], dtype=np.int64),
        "provenance": np.array([provenance], dtype=np.uint8),
    }


def check_crop_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``record`` as a dict if it is a crop record; raise :class:`RecordError` otherwise."""
    what = f"crop of clip {record.get('clip_id')!r}"
    _raise_first(
        what,
        [
            None if name in record else f"no {name!r} field"
            for name in ("image", "part", "side", "clip_id", "frame", "provenance")
        ],
    )
    if record["side"] not in SIDES or record["part"] != ("face" if record["side"] == "face" else "hand"):
        raise RecordError(f"{what}: part {record['part']!r} and side {record['side']!r} do not go together")
    _raise_first(
        what,
        [
            _shape_problem(record, "image", (None,), "uint8"),
            _shape_problem(record, "frame", (1,), "int64"),
            _shape_problem(record, "provenance", (1,), "uint8"),
        ],
    )
    return dict(record)


# --------------------------------------------------------------------------------------------- feature records

FEATURE_STREAMS = ("face", "left", "right")


def feature_record(
    clip_id: str,
    text: str,
    face: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    pose: np.ndarray,
    global_features: np.ndarray | None = None,
) -> dict[str, Any]:
    """One feature-shard record: per kept frame the face, left-hand and right-hand features ``(T, D)`` (float16 or
    float32, as extracted), the pose ``float32 (T, 14)``, optionally the whole-frame ``global`` features
    ``(T, D')``, and the clip's ``text`` and ``clip_id``. Checked by :func:`check_feature_record`."""
    record = {
        "face": face,
        "left": left,
        "right": right,
        "pose": np.asarray(pose, dtype=np.float32),
        "text": text,
        "clip_id": clip_id,
    }
    if global_features is not None:
        record["global"] = global_features
    return check_feature_record(record)


def check_feature_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``record`` as a dict if it is a feature record; raise :class:`RecordError` otherwise."""
    what = f"features of clip {record.get('clip_id')!r}"
    _raise_first(
        what,
        [None if name in record else f"no {name!r} field" for name in (*FEATURE_STREAMS, "pose", "text", "clip_id")],
    )
    frames = len(np.asarray(record["pose"]))
    _raise_first(what, [_shape_problem(record, "pose", (frames, POSE_DIM), "float32")])
    for name in FEATURE_STREAMS + (("global",) if "global" in record else ()):
        _raise_first(what, [_shape_problem(record, name, (frames, None))])
        if np.asarray(record[name]).dtype not in (np.float16, np.float32):
            raise RecordError(f"{what}: {name!r} is {np.asarray(record[name]).dtype}, expected float16 or float32")
    if not isinstance(record["text"], str) or not isinstance(record["clip_id"], str):
        raise RecordError(f"{what}: 'text' and 'clip_id' must be str")
    return dict(record)


# --------------------------------------------------------------------------------------------- part index

PART_INDEX = "part_index.npz"
PART_CODES = {"face": 0, "hand": 1}  # in a part index; any other value: a record of neither part


def part_index_key(folder: str | os.PathLike) -> str:
    """A digest of the folder's LitData chunk table: a part index is valid for exactly that record order."""
    index = json.loads((Path(folder) / "index.json").read_text())
    table = [(chunk["filename"], int(chunk["chunk_size"])) for chunk in index["chunks"]]
    return hashlib.sha1(json.dumps(table).encode()).hexdigest()


def write_part_index(folder: str | os.PathLike, parts: np.ndarray) -> Path:
    """Save the part of every record of a finished crop folder (``parts[i]``: :data:`PART_CODES` of global index
    ``i``) as ``part_index.npz``, keyed to its ``index.json``."""
    folder = Path(folder)
    path = folder / PART_INDEX
    tmp = folder / f".{PART_INDEX}.{os.getpid()}.tmp.npz"
    np.savez(tmp, parts=np.asarray(parts, dtype=np.uint8), index_key=np.asarray([part_index_key(folder)]))
    tmp.replace(path)
    return path
