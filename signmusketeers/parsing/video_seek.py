"""Seeking to a segment's start: the keyframe before it, and how many frames precede that keyframe in the file, so
that frames decoded from there keep their index among all frames (see :mod:`signmusketeers.parsing.video`)."""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

from signmusketeers.parsing.video_probe import VideoFrame, apply_orientation, display_orientation


@dataclass
class Anchor:
    """Where decoding starts after a seek: the keyframe packet and how many frames precede it in the file."""

    packet: object  # the keyframe packet, demuxed already
    before: int  # frames (non-discarded packets) before it in decoding order


def seek_to_keyframe(container, stream, start: float) -> Anchor | None:
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
            return Anchor(packet, before)
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


class NotAsIndexed(Exception):
    """The stream after a seek is not what its index promised; decode from the first frame instead."""


def _packets(container, stream, first) -> Iterator:
    yield first
    yield from container.demux(stream)


def decode_anchored(container, stream, anchor: Anchor, start, end, stride) -> Iterator[VideoFrame]:
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
                raise NotAsIndexed
            bisect.insort(sent, pts)
            # Frames before ``start`` that no other frame refers to need not be decoded at all (the decoder still
            # decodes every reference frame, so the frames kept are exactly those of decoding everything).
            if (pts < start_pts) != skipping:
                skipping = not skipping
                context.skip_frame = "NONREF" if skipping else "DEFAULT"
        for frame in packet.decode():
            if frame.pts is None:
                raise NotAsIndexed
            if not seen_first:
                # the keyframe must present first, else it opens a GOP whose leading frames belong before it
                if frame.pts != keyframe_pts:
                    raise NotAsIndexed
                seen_first = True
            index = anchor.before + bisect.bisect_left(sent, frame.pts)
            time = float(frame.time)
            if end is not None and time >= end:
                return
            if time >= start:
                if kept % stride == 0:
                    if orientation is None:
                        orientation = display_orientation(frame)
                    yield VideoFrame(index, time, apply_orientation(frame.to_ndarray(format="rgb24"), orientation))
                kept += 1
