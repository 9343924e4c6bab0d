"""Video decoding with PyAV: RGB frames with their decoded index and presentation time.

Any container/codec FFmpeg reads works (mp4, webm, mov, mkv, avi, gif, ...). Timestamps come from the stream,
so variable-frame-rate video keeps its real timing; grayscale and odd-sized frames are converted to RGB
``uint8 (H, W, 3)``. Errors name the file and the problem (:class:`VideoError`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class VideoError(ValueError):
    """A video that cannot be decoded; the message is one line: ``path: reason``."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream (``frames`` is 0 when the container does not know)."""

    path: str
    width: int
    height: int
    fps: float
    frames: int
    codec: str


@dataclass(frozen=True)
class VideoFrame:
    index: int  # position among all decoded frames of the file, from 0
    time: float  # presentation time in seconds
    image: np.ndarray  # RGB uint8 (H, W, 3)


def _open(path: str | os.PathLike):
    import av

    path = str(path)
    if not Path(path).exists():
        raise VideoError(f"{path}: no such file")
    if Path(path).stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(f"{path}: not a readable video ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream")
    return container


def _reason(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or error).splitlines()[0]


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read the header of ``path``."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return VideoInfo(
            path=str(path),
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=float(rate) if rate else 0.0,
            frames=int(stream.frames or 0),
            codec=stream.codec_context.name,
        )
    finally:
        container.close()


def read_frames(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    stride: int = 1,
) -> Iterator[VideoFrame]:
    """Decode ``path`` frame by frame.

    Args:
        start, end: keep frames whose time is in ``[start, end)`` seconds (How2Sign-style segments); ``None`` = open.
        stride: keep every ``stride``-th frame of the kept segment, counting from its first frame.

    Raises :class:`VideoError` for unreadable input, including a stream that stops well before the frame count its
    container announces (a truncated file): no clip is silently shortened.
    """
    import av

    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        announced = int(stream.frames or 0)
        index = kept = 0
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else (index / fps if fps else float(index))
                if end is not None and time >= end:
                    break
                if start is None or time >= start:
                    if kept % stride == 0:
                        yield VideoFrame(index, float(time), frame.to_ndarray(format="rgb24"))
                    kept += 1
                index += 1
        except av.error.FFmpegError as error:
            raise VideoError(f"{path}: decoding failed after {index} frames ({_reason(error)})") from None
        if start is None and end is None and announced > 2 and index < 0.9 * announced:
            raise VideoError(f"{path}: truncated: {index} of the {announced} frames its header announces decode")
    finally:
        container.close()
