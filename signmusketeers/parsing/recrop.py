"""Crops of a boxes-only clip record, cut again from its source video (``signmusketeers parse --clip-records boxes``).

A boxes-only clip record keeps what parsing decided (the square boxes of every kept frame, the pose, the
provenance) and where the pixels are (the source video, the decoded indices and times of the kept frames, the frame
size, the crop size), but no JPEG crops. :func:`crops_from_video` decodes the video with PyAV exactly as the parser
did (:func:`~signmusketeers.parsing.video.read_frames`) and cuts each box with the parser's own
:func:`~signmusketeers.parsing.boxes.crop_box` (pad to a square, bicubic resize), so the crops equal the parser's
in-memory crops bit for bit; full records hold those crops after a JPEG (quality 95) round trip.

Records of a parse that masked faces (``parse`` does by default) also hold ``face_regions``, the eye and mouth
points of every kept frame in face-crop pixels, with which the face crops are masked again exactly as the parser
masked them (:func:`~signmusketeers.parsing.privacy.mask_face_crop`).

The video must be the one that was parsed: a missing file, another frame size, a frame count or frame times that
differ from the record raise :class:`SourceVideoError` with one line naming the file (never a silently shifted clip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from signmusketeers.errors import InputError
from signmusketeers.parsing.boxes import crop_box
from signmusketeers.parsing.privacy import mask_face_crop
from signmusketeers.parsing.video import VideoError, probe_video, read_frames


class SourceVideoError(InputError):
    """The source video of a boxes-only clip record is missing or is not the video that was parsed (one line)."""


def crops_from_video(
    video: str | os.PathLike,
    frames: np.ndarray,
    boxes: np.ndarray,
    crop_size: int,
    size: tuple[int, int],
    timestamps: np.ndarray | None = None,
    video_frames: int = 0,
    whole: np.ndarray | None = None,
    fps: float | None = None,
    face_regions: np.ndarray | None = None,
) -> np.ndarray:
    """Decode ``video`` and cut ``boxes`` out of the frames with decoded index ``frames``.

    Args:
        video: the source video the record was parsed from.
        frames: ``int (T,)`` decoded indices (from the file's first frame) of the record's frames, increasing.
        boxes: ``float32 (T, 3, 4)`` face, left-hand, right-hand boxes ``x0, y0, x1, y1`` in frame pixels.
        crop_size: side of the square crops (the parser's ``crop_size``).
        size: ``(H, W)`` of the frames the record was parsed from.
        timestamps: ``float (T,)`` presentation times the parser saw, checked to within half a frame when given.
        video_frames: the frame count the video's header announced at parse time (0 = unknown, not checked).
        whole: optional ``uint8 (T, W, W, 3)`` array, filled in the same pass with each frame whole
            (:func:`whole_frame`: padded to a square, resized to ``W``), for the whole-frame ``global`` stream.
        fps: the record's frame rate, needed where the source is a folder of frames.
        face_regions: ``int16 (T, 92, 2)`` eye and mouth points per frame in face-crop pixels when the parse masked
            faces (:func:`~signmusketeers.parsing.privacy.face_regions`); the face crops are then masked the same way.
            ``None``: faces are left as they are.

    Decoding starts at the keyframe before the record's first frame (its first timestamp), so a clip cut from a
    long video costs its own length, not its offset.

    Returns:
        ``uint8 (T, 3, crop_size, crop_size, 3)`` RGB crops in the order face, left hand, right hand.
    """
    path = str(video)
    frames, boxes = np.asarray(frames, dtype=np.int64), np.asarray(boxes, dtype=np.float32)
    face_regions = None if face_regions is None else np.asarray(face_regions, dtype=np.int16)
    _check_record(path, frames, boxes, face_regions)
    try:
        info = probe_video(path, fps=fps)
        _check_source(path, info, size, video_frames)
        crops = np.zeros((len(frames), 3, crop_size, crop_size, 3), dtype=np.uint8)
        half_frame = 0.5 / info.fps if info.fps else None
        found = 0
        for position, frame in _wanted_frames(path, frames, timestamps, half_frame, fps):
            crops[position] = [crop_box(frame.image, box, crop_size) for box in boxes[position]]
            if whole is not None:
                whole[position] = whole_frame(frame.image, whole.shape[1])
            if face_regions is not None:
                crops[position, 0] = mask_face_crop(crops[position, 0], face_regions[position])
            found += 1
        if found < len(frames):
            raise SourceVideoError(
                f"{path}: decodes {found} of the clip record's {len(frames)} frames (last needed: frame "
                f"{int(frames[-1])}); not the parsed video, or truncated"
            )
        return crops
    except VideoError as error:
        raise SourceVideoError(str(error)) from None


def _check_record(path: str, frames: np.ndarray, boxes: np.ndarray, face_regions: np.ndarray | None) -> None:
    if frames.ndim != 1 or boxes.shape != (len(frames), 3, 4):
        raise SourceVideoError(f"{path}: record has {frames.shape} frame indices and {boxes.shape} boxes")
    if face_regions is not None and face_regions.shape[0] != len(frames):
        raise SourceVideoError(f"{path}: record has face regions for {face_regions.shape[0]} of {len(frames)} frames")
    if len(frames) and (np.diff(frames) <= 0).any():
        raise SourceVideoError(f"{path}: record's frame indices are not increasing")


def _check_source(path: str, info: Any, size: tuple[int, int], video_frames: int) -> None:
    """The video's frame size and announced frame count must be those the record was parsed from."""
    if (info.height, info.width) != tuple(int(s) for s in size):
        raise SourceVideoError(
            f"{path}: frames are {info.width}x{info.height}, the clip record was parsed from "
            f"{int(size[1])}x{int(size[0])} (not the parsed video?)"
        )
    if video_frames and info.frames and info.frames != video_frames:
        raise SourceVideoError(
            f"{path}: header announces {info.frames} frames, the clip record was parsed from a video of "
            f"{video_frames} (not the parsed video?)"
        )


def _wanted_frames(
    path: str, frames: np.ndarray, timestamps: np.ndarray | None, half_frame: float | None, fps: float | None
) -> Iterator[tuple[int, Any]]:
    """``(position in the record, decoded frame)`` of the record's frames, in order, each at the time the record
    has it to within half a frame; decoding stops after the last one."""
    if not len(frames):
        return
    wanted = {int(index): position for position, index in enumerate(frames)}
    start = None
    if timestamps is not None and len(timestamps):
        start = float(timestamps[0]) - (half_frame or 0.0)  # the time checks catch a video that differs
    found = 0
    for frame in read_frames(path, start=start, end=None, fps=fps):
        position = wanted.get(frame.index)
        if position is None:
            continue
        late = None if timestamps is None or half_frame is None else abs(frame.time - float(timestamps[position]))
        if late is not None and late > half_frame:
            raise SourceVideoError(
                f"{path}: frame {frame.index} is at {frame.time:.3f} s, the clip record has it at "
                f"{float(timestamps[position]):.3f} s (not the parsed video?)"
            )
        yield position, frame
        found += 1
        if found == len(frames):
            return  # no need to decode the rest of the file


def whole_frame(image: np.ndarray, size: int) -> np.ndarray:
    """The whole frame ``(H, W, 3)`` as one ``(size, size, 3)`` image: padded (black, centred) to a square and
    resized, as crops are (never stretched; :func:`~signmusketeers.parsing.boxes.crop_box`)."""
    height, width = image.shape[:2]
    return crop_box(image, np.array([0, 0, width, height], dtype=np.float32), size)


def record_crops(record: Mapping[str, Any], whole: np.ndarray | None = None) -> np.ndarray:
    """The crops of a boxes-only clip record (fields as written by ``signmusketeers parse --clip-records boxes``);
    ``whole`` as in :func:`crops_from_video`."""
    timestamps = record.get("timestamps")
    fps = record.get("fps")
    return crops_from_video(
        str(record["video"]),
        np.asarray(record["frames"]),
        np.asarray(record["boxes"]),
        crop_size=int(np.asarray(record["crop_size"])[0]),
        size=tuple(int(s) for s in np.asarray(record["size"])),
        timestamps=None if timestamps is None else np.asarray(timestamps),
        video_frames=int(np.asarray(record.get("video_frames", [0]))[0]),
        whole=whole,
        fps=None if fps is None else float(np.asarray(fps).reshape(-1)[0]),
        face_regions=record.get("face_regions"),
    )
