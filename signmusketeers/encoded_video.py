"""A video's encoder features as :meth:`signmusketeers.inference.Translator.encode` collects them, a few frames at
a time: :class:`EncodedVideo`, the buffer each stream grows in, and the probes that size it (the video's frame rate,
about how many frames it keeps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


class FeatureBuffer:
    """Rows appended batch by batch into one tensor that grows by half its size when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.length, self.data = max(int(capacity), 1), 0, None

    def append(self, rows: torch.Tensor) -> None:
        needed = self.length + rows.shape[0]
        if self.data is None or needed > self.data.shape[0]:
            capacity = max(needed, self.capacity if self.data is None else self.data.shape[0] * 3 // 2)
            grown = torch.empty((capacity, *rows.shape[1:]), dtype=rows.dtype)
            if self.data is not None:
                grown[: self.length] = self.data[: self.length]
            self.data = grown
        self.data[self.length : needed] = rows
        self.length = needed

    def values(self) -> torch.Tensor:
        if self.data is None:
            return torch.zeros(0)
        return self.data[: self.length].clone()  # a tight copy: the spare capacity is freed


@dataclass
class EncodedVideo:
    """A video's encoder features (``streams``: face/left/right ``float16 (T, D)``, CPU), pose ``(T, 14)``, the
    times (s) of its kept frames, whether their pose was found, the seconds one kept frame stands for, and the
    seconds spent parsing and encoding."""

    streams: dict[str, torch.Tensor]
    pose: torch.Tensor
    times: np.ndarray
    pose_found: np.ndarray
    frame_duration: float
    seconds: dict[str, float]

    def __len__(self) -> int:
        return int(self.pose.shape[0])


def probe_fps(video: str | os.PathLike, fps: float | None = None) -> float:
    """The stream's average frame rate (``fps`` for a folder of frames), 0 when unknown or unreadable (the parser
    then reports the problem)."""
    from signmusketeers.parsing.video import VideoError, probe_video

    try:
        return probe_video(video, fps=fps).fps
    except VideoError:
        return 0.0


def estimated_frames(
    video: str | os.PathLike,
    stride: int,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
) -> int | None:
    """About how many frames ``translate`` keeps from ``video`` (for a progress bar); None when unknown."""
    from signmusketeers.parsing.video import VideoError, probe_video

    try:
        info = probe_video(video, fps=fps)
    except (VideoError, OSError):
        return None
    frames = info.frames
    if info.fps and (start is not None or end is not None):
        duration = frames / info.fps if frames else None
        if end is not None:
            duration = end if duration is None else min(duration, end)
        if duration is None:
            return None
        frames = int((duration - (start or 0.0)) * info.fps)
    return -(-frames // stride) if frames > 0 else None
