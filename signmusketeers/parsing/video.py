"""Video decoding with PyAV: RGB frames with their decoded index and presentation time, as players show them.

Any container/codec FFmpeg reads works (mp4, webm, mov, mkv, avi, gif, ...), and so does a folder of numbered
frames (PNG/JPEG, e.g. RWTH-PHOENIX-Weather 2014T) given with its frame rate. Timestamps come from the stream, so
variable-frame-rate video keeps its real timing; grayscale and odd-sized frames are converted to RGB
``uint8 (H, W, 3)``. Frames are turned the way the container's display matrix says (phones store frames sideways
and record the rotation there), so width and height are those a player shows. Errors name the file and the
problem (:class:`VideoError`).

A segment (``start``/``end``) costs in proportion to its length, not its offset: decoding starts at the keyframe
before ``start``, and each frame's index is still its position among all frames of the file, as if decoded from the
first frame (``read_frames(..., seek=False)`` does that, and gives the same frames). The keyframe's place comes from
the container's index where it lists every packet (mp4, mov) or else from one pass over the packets without decoding
them, kept for the file's next segments (Matroska/WebM, whose cues list keyframes only); files with neither (gif,
...) are decoded from their start.
"""

from __future__ import annotations

import bisect
import math
import os
import queue
import re
import threading
from collections.abc import Iterable, Iterator
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


def _frame_files(path: Path) -> list[Path]:
    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise VideoError(f"{path}: a folder with no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _frame_rate(path: Path, fps: float | None) -> float:
    if fps is None or not fps > 0:
        raise VideoError(f"{path}: a folder of frames needs its frame rate (--frame-rate FPS, or an fps column in "
                         "the manifest)")
    return float(fps)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # EXIF orientation is the still-image form of the display matrix
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise VideoError(f"{path}: not a readable image ({_reason(error)})") from None


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


# ------------------------------------------------------------------------------------------ display orientation


def _orientation(frame) -> tuple[int, bool]:
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
    sign = -1.0 if mirror else 1.0
    # rotation(θ) @ diag(sign, 1) = [[sign·cos, −sin], [sign·sin, cos]]
    degrees = math.degrees(math.atan2(-m[0, 1], m[1, 1]))
    return int(round(degrees / 90.0)) % 4, mirror


def _oriented(image: np.ndarray, orientation: tuple[int, bool]) -> np.ndarray:
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
        files = _frame_files(Path(path))
        rate = _frame_rate(Path(path), fps)
        height, width = _read_image(files[0]).shape[:2]
        return VideoInfo(path=str(path), width=width, height=height, fps=rate, frames=len(files),
                         codec=f"{files[0].suffix.lower().lstrip('.')} frames", duration=len(files) / rate)
    container = _open(path)
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
        turns, _ = _orientation(first) if first is not None else (0, False)
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


# ------------------------------------------------------------------------------------------ reading


def read_frames(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    stride: int = 1,
    fps: float | None = None,
    seek: bool = True,
) -> Iterator[VideoFrame]:
    """Decode ``path`` frame by frame, turned as the display matrix says.

    Args:
        start, end: keep frames whose time is in ``[start, end)`` seconds (How2Sign-style segments); ``None`` = open.
        stride: keep every ``stride``-th frame of the kept segment, counting from its first frame.
        fps: frame rate of a folder of frames (frame ``i`` is at ``i / fps`` s); ignored for video files.
        seek: start decoding at the keyframe before ``start`` where the container indexes every packet (the
            default); ``False`` decodes from the first frame. Both give the same frames, indices and times.

    Raises :class:`VideoError` for unreadable input, including a stream that stops well before the frame count its
    container announces (a truncated file): no clip is silently shortened.
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if Path(path).is_dir():
        yield from _read_frame_folder(Path(path), start, end, stride, fps)
        return
    if seek and start is not None and start > 0:
        container = _open(path)
        try:
            stream = container.streams.video[0]
            anchor = _seek_to_keyframe(container, stream, start)
            if anchor is not None:
                yield from _decode_from(path, container, stream, anchor, start, end, stride)
                return
        finally:
            container.close()
    yield from _decode_from_zero(path, start, end, stride)


def _read_frame_folder(path: Path, start, end, stride, fps) -> Iterator[VideoFrame]:
    files = _frame_files(path)
    rate = _frame_rate(path, fps)
    first = 0 if start is None else max(0, math.ceil(start * rate - 1e-9))
    kept = 0
    for index in range(first, len(files)):
        time = index / rate
        if end is not None and time >= end:
            break
        if start is not None and time < start:
            continue
        if kept % stride == 0:
            yield VideoFrame(index, time, _read_image(files[index]))
        kept += 1


def _decode_from_zero(path, start, end, stride) -> Iterator[VideoFrame]:
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        announced = int(stream.frames or 0)
        index = kept = 0
        orientation = None
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else (index / fps if fps else float(index))
                if end is not None and time >= end:
                    break
                if start is None or time >= start:
                    if kept % stride == 0:
                        if orientation is None:
                            orientation = _orientation(frame)
                        yield VideoFrame(index, float(time), _oriented(frame.to_ndarray(format="rgb24"), orientation))
                    kept += 1
                index += 1
        except av.error.FFmpegError as error:
            raise VideoError(f"{path}: decoding failed after {index} frames ({_reason(error)})") from None
        if start is None and end is None and announced > 2 and index < 0.9 * announced:
            raise VideoError(f"{path}: truncated: {index} of the {announced} frames its header announces decode")
    finally:
        container.close()


@dataclass
class _Anchor:
    """Where decoding starts after a seek: the keyframe packet and how many frames precede it in the file."""

    packet: object  # the keyframe packet, demuxed already
    before: int  # frames (non-discarded packets) before it in decoding order


def _seek_to_keyframe(container, stream, start: float) -> _Anchor | None:
    """Seek to the last keyframe whose presentation time is at or before ``start``; ``None`` where this container
    cannot tell how many frames precede a keyframe (then the caller decodes from the first frame)."""
    import av

    if stream.time_base is None:
        return None
    locate = _frame_counter(container, stream)
    if locate is None:
        return None
    target = int(math.floor(start / stream.time_base))
    for _ in range(8):  # a keyframe may present after ``start`` (B-frames): step back a keyframe at a time
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            packet = next((p for p in container.demux(stream) if p.size), None)
        except (av.error.FFmpegError, StopIteration):
            return None
        if packet is None or not packet.is_keyframe or packet.pts is None:
            return None
        before = locate(packet)
        if before is None:
            return None
        if packet.pts * stream.time_base <= start:
            return _Anchor(packet, before)
        if before == 0:  # ``start`` lies before the first frame
            return None
        target = (packet.dts if packet.dts is not None else packet.pts) - 1
    return None


def _frame_counter(container, stream):
    """``packet -> frames before it in decoding order`` (``None`` if unknown) for this file, or ``None``.

    From the container's index where it lists every packet (mp4/mov sample tables: free); else from one pass over
    the packets without decoding them (Matroska/WebM, whose cues list keyframes only), kept for the file's next
    segments (a few files per process).
    """
    try:
        entries = stream.index_entries
        count = len(entries)
    except (AttributeError, TypeError):
        entries, count = None, 0
    if count and count == int(stream.frames or 0):
        # samples an edit list cuts from the start are decoded but never shown (edit lists cutting the middle of a
        # stream are not counted: rare outside editing software)
        leading = 0
        while leading < count and entries[leading].is_discard:
            leading += 1

        def from_index(packet) -> int | None:
            if packet.dts is None:
                return None
            position = _entry_position(entries, count, packet)
            return None if position is None or position < leading else position - leading

        return from_index
    table = _packet_table(container.name, stream.index)
    return None if table is None else (lambda packet: table.get(packet.pos))


_TABLES: dict[tuple, dict[int, int] | None] = {}
_TABLES_KEPT = 4


def _packet_table(path: str, stream_index: int) -> dict[int, int] | None:
    """Byte position of every packet of the stream → frames before it in decoding order (one demuxing pass, no
    decoding); ``None`` where packets have no distinct positions."""
    import av

    try:
        status = os.stat(path)
    except OSError:
        return None
    key = (os.path.abspath(path), status.st_size, status.st_mtime_ns, stream_index)
    if key in _TABLES:
        return _TABLES[key]
    table: dict[int, int] | None = {}
    try:
        with av.open(path) as container:
            before = 0
            for packet in container.demux(container.streams[stream_index]):
                if not packet.size:
                    continue
                if packet.pos is None or packet.pos < 0 or packet.pos in table:
                    table = None
                    break
                table[packet.pos] = before
                before += 0 if packet.is_discard else 1
    except (av.error.FFmpegError, ValueError, OSError):
        table = None
    while len(_TABLES) >= _TABLES_KEPT:
        del _TABLES[next(iter(_TABLES))]
    _TABLES[key] = table
    return table


def _entry_position(entries, count: int, packet) -> int | None:
    """Position of ``packet`` among the index entries (decoding order), by binary search on their timestamps (DTS)
    and checked by byte position: the cost of a seek does not grow with the length of the video."""
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        if entries[middle].timestamp < packet.dts:
            low = middle + 1
        else:
            high = middle
    for position in range(max(0, low - 4), min(count, low + 5)):
        if entries[position].pos == packet.pos:
            return position
    return None


class _NotAsIndexed(Exception):
    """The stream after a seek is not what its index promised; decode from the first frame instead."""


def _decode_from(path, container, stream, anchor: _Anchor, start, end, stride) -> Iterator[VideoFrame]:
    """Decode from ``anchor`` on; a frame's index is the number of frames presenting before it in the file.

    Frames before the keyframe in decoding order present before it (closed GOPs, as IDR frames guarantee); among
    the packets from the keyframe on, those with an earlier presentation time are counted as they arrive (the
    decoder only outputs a frame once every frame that presents before it has been sent).
    """
    import av

    try:
        generator = _decode_anchored(container, stream, anchor, start, end, stride)
        first = next(generator, None)
    except _NotAsIndexed:
        yield from _decode_from_zero(path, start, end, stride)
        return
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: decoding failed after seeking to {start:.3f} s ({_reason(error)})") from None
    if first is None:
        return
    yield first
    try:
        yield from generator
    except _NotAsIndexed:  # a packet or frame without a time, after frames were given out: too late to restart
        raise VideoError(f"{path}: frame order after seeking does not match the container's index") from None
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: decoding failed after seeking to {start:.3f} s ({_reason(error)})") from None


def _packets(container, stream, first) -> Iterator:
    yield first
    yield from container.demux(stream)


def _decode_anchored(container, stream, anchor: _Anchor, start, end, stride) -> Iterator[VideoFrame]:
    sent: list[int] = []  # presentation times of the frames sent since the keyframe, sorted
    keyframe_pts = anchor.packet.pts
    seen_first = False
    kept = 0
    orientation = None
    context = stream.codec_context
    start_pts = start / stream.time_base
    skipping = False
    for packet in _packets(container, stream, anchor.packet):
        if packet.size and not packet.is_discard:
            pts = packet.pts
            if pts is None:
                raise _NotAsIndexed
            bisect.insort(sent, pts)
            # Frames before ``start`` that no other frame refers to need not be decoded at all (the decoder still
            # decodes every reference frame, so the frames kept are exactly those of decoding everything).
            if (pts < start_pts) != skipping:
                skipping = not skipping
                context.skip_frame = "NONREF" if skipping else "DEFAULT"
        for frame in packet.decode():
            if frame.pts is None:
                raise _NotAsIndexed
            if not seen_first:
                # the keyframe must present first, else it opens a GOP whose leading frames belong before it
                if frame.pts != keyframe_pts:
                    raise _NotAsIndexed
                seen_first = True
            index = anchor.before + bisect.bisect_left(sent, frame.pts)
            time = float(frame.time)
            if end is not None and time >= end:
                return
            if time >= start:
                if kept % stride == 0:
                    if orientation is None:
                        orientation = _orientation(frame)
                    yield VideoFrame(index, time, _oriented(frame.to_ndarray(format="rgb24"), orientation))
                kept += 1


_DONE = object()


def prefetch(items: Iterable, depth: int = 4) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    FFmpeg decoding releases the GIL and so does MediaPipe while its graph runs, so decoding the next frames
    overlaps landmark detection of the current one instead of adding to it. Errors are re-raised in the caller.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None))
        except BaseException as error:  # handed to the consumer, which raises it
            buffer.put((_DONE, error))

    thread = threading.Thread(target=produce, daemon=True, name="frame-prefetch")
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
