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

import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from signmusketeers.parsing.video_probe import (
    VideoError,
    VideoFrame,
    VideoInfo,
    apply_orientation,
    display_orientation,
    error_reason,
    frame_files,
    frame_rate,
    open_video,
    probe_video,
    read_image,
)
from signmusketeers.parsing.video_seek import Anchor, NotAsIndexed, decode_anchored, seek_to_keyframe

__all__ = ["VideoError", "VideoFrame", "VideoInfo", "prefetch", "probe_video", "read_frames"]


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
        container = open_video(path)
        try:
            stream = container.streams.video[0]
            anchor = seek_to_keyframe(container, stream, start)
            if anchor is not None:
                yield from _decode_from(path, container, stream, anchor, start, end, stride)
                return
        finally:
            container.close()
    yield from _decode_from_zero(path, start, end, stride)


def _read_frame_folder(path: Path, start, end, stride, fps) -> Iterator[VideoFrame]:
    files = frame_files(path)
    rate = frame_rate(path, fps)
    first = 0 if start is None else max(0, math.ceil(start * rate - 1e-9))
    kept = 0
    for index in range(first, len(files)):
        time = index / rate
        if end is not None and time >= end:
            break
        if start is not None and time < start:
            continue
        if kept % stride == 0:
            yield VideoFrame(index, time, read_image(files[index]))
        kept += 1


def _decode_from_zero(path, start, end, stride) -> Iterator[VideoFrame]:
    import av

    container = open_video(path)
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
                            orientation = display_orientation(frame)
                        yield VideoFrame(
                            index, float(time), apply_orientation(frame.to_ndarray(format="rgb24"), orientation)
                        )
                    kept += 1
                index += 1
        except av.error.FFmpegError as error:
            raise VideoError(f"{path}: decoding failed after {index} frames ({error_reason(error)})") from None
        if start is None and end is None and announced > 2 and index < 0.9 * announced:
            raise VideoError(f"{path}: truncated: {index} of the {announced} frames its header announces decode")
    finally:
        container.close()


def _decode_from(path, container, stream, anchor: Anchor, start, end, stride) -> Iterator[VideoFrame]:
    """Decode from ``anchor`` on; a frame's index is the number of frames presenting before it in the file.

    Frames before the keyframe in decoding order present before it (closed GOPs, as IDR frames guarantee); among
    the packets from the keyframe on, those with an earlier presentation time are counted as they arrive (the
    decoder only outputs a frame once every frame that presents before it has been sent).
    """
    import av

    try:
        generator = decode_anchored(container, stream, anchor, start, end, stride)
        first = next(generator, None)
    except NotAsIndexed:
        yield from _decode_from_zero(path, start, end, stride)
        return
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: decoding failed after seeking to {start:.3f} s ({error_reason(error)})") from None
    if first is None:
        return
    yield first
    try:
        yield from generator
    except NotAsIndexed:  # a packet or frame without a time, after frames were given out: too late to restart
        raise VideoError(f"{path}: frame order after seeking does not match the container's index") from None
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: decoding failed after seeking to {start:.3f} s ({error_reason(error)})") from None


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
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
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
