"""What a video is before decoding it: its header (:func:`probe_video`), its display orientation, the frame files of
a folder of frames, and the one-line errors (:class:`VideoError`) that name the file and the problem."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signmusketeers.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class VideoError(InputError):
    """A video that cannot be decoded; the message is one line: ``path: reason``."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream (``frames`` is 0 when the container does not know).

    ``width``/``height`` are the displayed size (after the display rotation); ``rotation`` is the counter-clockwise
    turn in degrees (0, 90, 180, 270) applied to the stored frames; ``duration`` in seconds (0 when unknown).
    """

    path: str
    width: int
    height: int
    fps: float
    frames: int
    codec: str
    duration: float = 0.0
    rotation: int = 0


@dataclass(frozen=True)
class VideoFrame:
    index: int  # position among all decoded frames of the file, from 0
    time: float  # presentation time in seconds
    image: np.ndarray  # RGB uint8 (H, W, 3)


def _natural_key(path: Path) -> list:
    # images2.png before images10.png, whether or not the numbers are zero-padded
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_files(path: Path) -> list[Path]:
    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise VideoError(f"{path}: a folder with no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def frame_rate(path: Path, fps: float | None) -> float:
    if fps is None or not fps > 0:
        raise VideoError(
            f"{path}: a folder of frames needs its frame rate (--frame-rate FPS, or an fps column in the manifest)"
        )
    return float(fps)


def read_image(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # EXIF orientation is the still-image form of the display matrix
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise VideoError(f"{path}: not a readable image ({error_reason(error)})") from None


def open_video(path: str | os.PathLike):
    import av

    path = str(path)
    if not Path(path).exists():
        raise VideoError(f"{path}: no such file")
    if Path(path).stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(f"{path}: not a readable video ({error_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream")
    return container


def error_reason(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or error).splitlines()[0]


# ------------------------------------------------------------------------------------------ display orientation


def display_orientation(frame) -> tuple[int, bool]:
    """``(quarter turns counter-clockwise, mirror afterwards)`` from a decoded frame's display matrix.

    The matrix is a rotation possibly followed by a horizontal mirror (FFmpeg's ``av_display_rotation_set`` then
    ``av_display_matrix_flip``, as PyAV's ``set_display_rotation`` writes it); ``frame.rotation`` alone cannot tell
    a mirrored 180° turn from a plain vertical flip, so the matrix is read.
    """
    matrix = next((data for data in frame.side_data if getattr(data.type, "name", "") == "DISPLAYMATRIX"), None)
    if matrix is None:
        return 0, False
    m = np.frombuffer(memoryview(matrix), dtype=np.int32)[:9].reshape(3, 3)[:2, :2].astype(np.float64)
    mirror = bool(np.linalg.det(m) < 0)
    # rotation(θ) @ diag(±1, 1) = [[±cos, −sin], [±sin, cos]]: the second column gives θ whatever the mirror
    degrees = math.degrees(math.atan2(-m[0, 1], m[1, 1]))
    return int(round(degrees / 90.0)) % 4, mirror


def apply_orientation(image: np.ndarray, orientation: tuple[int, bool]) -> np.ndarray:
    turns, mirror = orientation
    if turns == 0 and not mirror:
        return image
    if turns:
        image = np.rot90(image, turns)
    if mirror:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)  # MediaPipe and OpenCV want contiguous arrays


def _first_frame(container, stream):
    """The first decoded frame, or ``None`` (no error: the file's own reading reports what is wrong)."""
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except (av.error.FFmpegError, ValueError):
        return None
    return None


def probe_video(path: str | os.PathLike, *, fps: float | None = None) -> VideoInfo:
    """Read the header of ``path`` (and its first frame, for the display rotation).

    ``fps``: the frame rate of a folder of frames (ignored for video files, whose rate the container says).
    """
    if Path(path).is_dir():
        files = frame_files(Path(path))
        rate = frame_rate(Path(path), fps)
        height, width = read_image(files[0]).shape[:2]
        return VideoInfo(
            path=str(path),
            width=width,
            height=height,
            fps=rate,
            frames=len(files),
            codec=f"{files[0].suffix.lower().lstrip('.')} frames",
            duration=len(files) / rate,
        )
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # av.time_base
        first = _first_frame(container, stream)
        turns, _ = display_orientation(first) if first is not None else (0, False)
        if turns % 2:
            width, height = height, width
        return VideoInfo(
            path=str(path),
            width=width,
            height=height,
            fps=float(rate) if rate else 0.0,
            frames=int(stream.frames or 0),
            codec=stream.codec_context.name,
            duration=duration,
            rotation=90 * turns,
        )
    finally:
        container.close()
