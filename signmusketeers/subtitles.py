"""Long videos → sentence-sized segments → timed subtitles (``signmusketeers translate VIDEO --srt OUT.srt``).

Segmentation works on what the parser already gives for every kept frame: the 14-d pose vector in signing-space
units (paper §3.1: the signing space is the unit square, y grows downwards, 1 unit = 7 head units high) and whether
the pose landmarks were found. A frame is **signing** when

* a hand is **up**: a wrist is above its elbow by more than ``raise_margin`` (0.02 units, about a seventh of a head
  unit). Resting hands hang below the elbows (wrist ≈ 0.53, elbow ≈ 0.49 on our real clips), signing hands are
  well above them (wrist 0.25–0.40); comparing with the signer's own elbow needs no per-signer calibration;
* and the hands are **moving**: the faster wrist moves more than ``motion_threshold`` (0.1 units/s) somewhere within
  ``motion_window`` (1 s) around the frame — holds inside a sign stay signing, a still image with raised hands does
  not.

Signing frames are grouped into segments: gaps shorter than ``min_gap`` (0.6 s) are bridged, segments shorter than
``min_length`` (0.8 s) dropped, longer than ``max_length`` (12 s) cut into equal parts, and each segment is padded
by ``padding`` (0.2 s, never into its neighbour). Stretches of at least ``min_length`` where no pose was found —
the landmarks cannot tell whether someone signs there — fall back to a **sliding window** of ``window`` seconds
(8 s), as does the whole video with ``method="window"``.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

WRIST, ELBOW = {"left": 5, "right": 6}, {"left": 3, "right": 4}  # point positions in the 14-d pose vector


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, last)`` of the kept frames, shown from ``start`` to ``end`` seconds; ``method`` is
    ``"activity"`` or ``"window"``; ``text`` is filled in by translation."""

    first: int
    last: int
    start: float
    end: float
    method: str
    text: str = ""

    def to_json(self) -> dict:
        data = asdict(self)
        data["start"], data["end"] = round(self.start, 3), round(self.end, 3)
        return data


@dataclass(frozen=True)
class SegmentOptions:
    """Segmentation thresholds (module doc); times in seconds, positions in signing-space units."""

    method: str = "activity"  # "activity" (landmarks, with the window fallback) or "window"
    raise_margin: float = 0.02
    motion_threshold: float = 0.1
    motion_window: float = 1.0
    min_gap: float = 0.6
    min_length: float = 0.8
    max_length: float = 12.0
    padding: float = 0.2
    window: float = 8.0

    def __post_init__(self) -> None:
        if self.method not in ("activity", "window"):
            raise ValueError(f"segmentation method is 'activity' or 'window', got {self.method!r}")
        if not 0 < self.min_length <= self.max_length or self.window <= 0:
            raise ValueError("segment lengths must satisfy 0 < min_length <= max_length and window > 0")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, last))`` of the True runs of a bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def signing_frames(
    pose: np.ndarray, times: np.ndarray, pose_found: np.ndarray, options: SegmentOptions = SegmentOptions()
) -> np.ndarray:
    """``bool (T,)``: frames whose hands are up and moving (module doc)."""
    pose = np.asarray(pose, dtype=np.float64).reshape(len(pose), 7, 2)
    times = np.asarray(times, dtype=np.float64)
    found = np.asarray(pose_found, dtype=bool)
    up = np.zeros(len(pose), dtype=bool)
    for side in ("left", "right"):
        up |= pose[:, ELBOW[side], 1] - pose[:, WRIST[side], 1] > options.raise_margin
    wrists = pose[:, [WRIST["left"], WRIST["right"]]]
    speed = np.zeros(len(pose))
    if len(pose) > 1:
        step = np.linalg.norm(np.diff(wrists, axis=0), axis=2).max(axis=1) / np.maximum(np.diff(times), 1e-6)
        step[~(found[1:] & found[:-1])] = 0.0  # a wrist re-found after a gap has not moved that fast
        speed[1:] = np.maximum(speed[1:], step)
        speed[:-1] = np.maximum(speed[:-1], step)
    fast = speed > options.motion_threshold
    half = options.motion_window / 2
    lo = np.searchsorted(times, times - half, side="left")
    hi = np.searchsorted(times, times + half, side="right")
    cumulative = np.concatenate([[0], np.cumsum(fast)])
    moving = cumulative[hi] - cumulative[lo] > 0
    return up & moving & found


def segment_frames(
    pose: np.ndarray,
    times: np.ndarray,
    pose_found: np.ndarray,
    frame_duration: float,
    options: SegmentOptions = SegmentOptions(),
) -> list[Segment]:
    """Sentence-sized segments of a video's kept frames, in time order (module doc).

    Args:
        pose: ``(T, 14)`` normalised pose vectors; times: ``(T,)`` seconds of the kept frames (increasing);
        pose_found: ``bool (T,)`` whether the pose landmarks were found in each frame; frame_duration: seconds one
        kept frame stands for (stride / fps), the end of a segment's last frame.
    """
    times = np.asarray(times, dtype=np.float64)
    count = len(times)
    if count == 0:
        return []
    found = np.asarray(pose_found, dtype=bool)
    ends = np.append(times[1:], times[-1] + frame_duration)

    def seconds(first: int, last: int) -> float:
        return float(ends[last - 1] - times[first])

    spans: list[tuple[int, int, str]] = []
    if options.method == "window":
        spans = [(a, b, "window") for a, b in _windows(times, 0, count, options.window)]
    else:
        signing = signing_frames(pose, times, found, options)
        runs = _runs(signing)
        merged: list[list[int]] = []
        for first, last in runs:  # bridge short pauses between signs
            if merged and times[first] - ends[merged[-1][1] - 1] < options.min_gap:
                merged[-1][1] = last
            else:
                merged.append([first, last])
        for first, last in merged:
            if seconds(first, last) < options.min_length:
                continue
            parts = int(np.ceil(seconds(first, last) / options.max_length))
            bounds = np.linspace(times[first], ends[last - 1], parts + 1)
            cuts = [first] + [int(np.searchsorted(times, b)) for b in bounds[1:-1]] + [last]
            spans += [(a, b, "activity") for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        for first, last in _runs(~found):  # no landmarks to judge by: a sliding window instead
            if seconds(first, last) >= options.min_length:
                spans += [(a, b, "window") for a, b in _windows(times, first, last, options.window)]
        spans.sort()
    segments = []
    for number, (first, last, method) in enumerate(spans):
        start, end = float(times[first]), float(ends[last - 1])
        before = segments[-1].end if segments else 0.0
        after = float(times[spans[number + 1][0]]) if number + 1 < len(spans) else float(ends[-1])
        start = max(start - options.padding, before, 0.0)
        end = min(end + options.padding, max(after, end))
        segments.append(Segment(first, last, start, end, method))
    return segments


def _windows(times: np.ndarray, first: int, last: int, window: float) -> list[tuple[int, int]]:
    """Consecutive windows of ``window`` seconds over frames ``[first, last)``."""
    spans, a = [], first
    while a < last:
        b = max(int(np.searchsorted(times, times[a] + window, side="left")), a + 1)
        b = min(b, last)
        spans.append((a, b))
        a = b
    return spans


# ------------------------------------------------------------------------------------------ subtitle files


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def cue_text(text: str) -> str:
    """A translation as one subtitle line: control characters dropped, whitespace (newlines too: a blank line ends
    a cue) collapsed to single spaces."""
    return " ".join(
        "".join(
            " " if ch in "\n\r\t" else ch for ch in text if ch in "\n\r\t" or unicodedata.category(ch) != "Cc"
        ).split()
    )


def to_srt(segments: list[Segment]) -> str:
    """SubRip text: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm``; segments without text are left out."""
    cues = [(s, cue_text(s.text)) for s in segments if cue_text(s.text)]
    return "".join(
        f"{number}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{text}\n\n"
        for number, (s, text) in enumerate(cues, 1)
    )


def to_vtt(segments: list[Segment]) -> str:
    """WebVTT text (``WEBVTT`` header, ``HH:MM:SS.mmm`` times); segments without text are left out."""
    cues = [(s, cue_text(s.text)) for s in segments if cue_text(s.text)]
    # "-->" may not appear in a WebVTT cue payload
    body = "".join(
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{text.replace('-->', '->')}\n\n" for s, text in cues
    )
    return "WEBVTT\n\n" + body


def write_subtitles(path: str | os.PathLike, segments: list[Segment]) -> Path:
    """Write ``segments`` as SRT or WebVTT, chosen by the suffix of ``path`` (``.srt`` / ``.vtt``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".srt", ".vtt"):
        raise ValueError(f"{path}: subtitles are written as .srt or .vtt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_srt(segments) if suffix == ".srt" else to_vtt(segments), encoding="utf-8")
    return path
