"""Landmark sources: where the face, hand and pose landmarks of each frame come from.

Every source gives the same layout, in **pixel** coordinates of the full frame (x right, y down;
MediaPipe's normalised x/y scaled by width/height, so distances mean the same along both axes of a non-square
frame): ``pose (33, 3)`` (x, y, visibility), ``face (468, 2)``, ``left_hand (21, 2)``, ``right_hand (21, 2)``, a
part being ``None`` when it was not found. Left/right are the signer's own hands (MediaPipe's convention: the
signer's left hand is on the right of a front-facing image).

* :class:`~signmusketeers.parsing.mediapipe_holistic.MediaPipeHolistic` — MediaPipe Holistic (legacy
  ``mp.solutions.holistic``) in video (tracking) mode, with the models bundled in the mediapipe 0.10.21 wheel
  (Python ≤ 3.12; the offline default);
* :class:`~signmusketeers.parsing.mediapipe_tasks.MediaPipeTasksHolistic` — MediaPipe Tasks ``HolisticLandmarker``
  from a ``.task`` model file given by path (mediapipe ≥ 1.2, Python 3.9–3.14, numpy 2;
  :func:`~signmusketeers.parsing.mediapipe_tasks.write_holistic_task` assembles one from the 0.10.21 wheel);
* :class:`PrecomputedLandmarks` — landmarks stored per clip in an ``.npz`` (SynthSign's files);
* :class:`~signmusketeers.parsing.posefile.PoseFileLandmarks` — a ``.pose`` file (pose-format, MediaPipe Holistic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

PARTS = ("pose", "face", "left_hand", "right_hand")
POINTS = {"pose": 33, "face": 468, "left_hand": 21, "right_hand": 21}


@dataclass
class FrameLandmarks:
    """One frame's landmarks in pixels; ``None`` where the part was not found."""

    pose: np.ndarray | None = None  # (33, 3) x, y, visibility
    face: np.ndarray | None = None  # (468, 2)
    left_hand: np.ndarray | None = None  # (21, 2)
    right_hand: np.ndarray | None = None  # (21, 2)
    # Where the source has them (MediaPipe, .pose files): each found part's MediaPipe z, (N,) by part, and the pose's
    # world landmarks (33, 4) x, y, z in metres + visibility. Not used for boxes or pose; kept for .pose output.
    depth: dict[str, np.ndarray] | None = None
    pose_world: np.ndarray | None = None


@dataclass
class ClipLandmarks:
    """A clip's landmarks stacked over frames: NaN where absent, ``present[part]`` bool (T,)."""

    pose: np.ndarray  # (T, 33, 3)
    face: np.ndarray  # (T, 468, 2)
    left_hand: np.ndarray  # (T, 21, 2)
    right_hand: np.ndarray  # (T, 21, 2)
    present: dict[str, np.ndarray]
    depth: dict[str, np.ndarray] | None = None  # part → (T, N) MediaPipe z, NaN where unknown; None: no source had it
    pose_world: np.ndarray | None = None  # (T, 33, 4) world x, y, z (metres) + visibility, NaN where unknown

    @classmethod
    def stack(cls, frames: list[FrameLandmarks]) -> ClipLandmarks:
        arrays, present = {}, {}
        depth = None
        if any(frame.depth for frame in frames):
            depth = {part: np.full((len(frames), POINTS[part]), np.nan, dtype=np.float32) for part in PARTS}
            for t, frame in enumerate(frames):
                for part, z in (frame.depth or {}).items():
                    depth[part][t] = z
        pose_world = None
        if any(frame.pose_world is not None for frame in frames):
            pose_world = np.full((len(frames), 33, 4), np.nan, dtype=np.float32)
            for t, frame in enumerate(frames):
                if frame.pose_world is not None:
                    pose_world[t] = frame.pose_world
        for part in PARTS:
            width = 3 if part == "pose" else 2
            stacked = np.full((len(frames), POINTS[part], width), np.nan, dtype=np.float32)
            mask = np.zeros(len(frames), dtype=bool)
            for t, frame in enumerate(frames):
                value = getattr(frame, part)
                if value is not None:
                    stacked[t] = value
                    mask[t] = True
            arrays[part], present[part] = stacked, mask
        return cls(**arrays, present=present, depth=depth, pose_world=pose_world)


class LandmarkSource(Protocol):
    """Gives the landmarks of each decoded frame of one clip at a time.

    ``start_clip`` is called before a clip's first frame (a tracking source resets there), then ``__call__`` for
    each kept frame in order with the RGB image and its decoded frame index.
    """

    def start_clip(self, path: str, width: int, height: int) -> None: ...

    def __call__(self, image: np.ndarray, frame_index: int) -> FrameLandmarks: ...


class PrecomputedLandmarks:
    """Landmarks read from a per-clip ``.npz`` in pixels (SynthSign's layout): ``pose (T,33,3)``, ``face (T,468,2)``,
    ``left_hand``/``right_hand (T,21,2)`` and ``present_<part>`` bool (T,), indexed by decoded frame index."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        try:
            with np.load(self.path) as data:
                self.arrays = {part: np.asarray(data[part], dtype=np.float32) for part in PARTS}
                self.present = {part: np.asarray(data[f"present_{part}"], dtype=bool) for part in PARTS}
        except FileNotFoundError:
            raise ValueError(f"{self.path}: no such landmark file") from None
        except KeyError as error:
            raise ValueError(f"{self.path}: landmark file lacks {error.args[0]!r}") from None
        except (OSError, ValueError) as error:
            raise ValueError(f"{self.path}: not a landmark .npz ({error})") from None
        frames = len(self.arrays["pose"])
        for part in PARTS:
            expected = (frames, POINTS[part], 3 if part == "pose" else 2)
            if self.arrays[part].shape != expected or self.present[part].shape != (frames,):
                raise ValueError(f"{self.path}: {part} has shape {self.arrays[part].shape}, expected {expected}")
        self.frames = frames

    def start_clip(self, path: str, width: int, height: int) -> None:
        pass

    def __call__(self, image: np.ndarray, frame_index: int) -> FrameLandmarks:
        if frame_index >= self.frames:
            raise ValueError(f"{self.path}: has landmarks for {self.frames} frames, the video has more")
        return FrameLandmarks(
            **{
                part: self.arrays[part][frame_index].copy() if self.present[part][frame_index] else None
                for part in PARTS
            }
        )


def open_landmark_file(path: str | os.PathLike) -> LandmarkSource:
    """The landmark source for a per-clip landmark file: a ``.pose`` file (pose-format, MediaPipe Holistic layout,
    :class:`~signmusketeers.parsing.posefile.PoseFileLandmarks`) or SynthSign's ``.npz``
    (:class:`PrecomputedLandmarks`)."""
    if str(path).lower().endswith(".pose"):
        from signmusketeers.parsing.posefile import PoseFileLandmarks  # posefile imports this module

        return PoseFileLandmarks(path)
    return PrecomputedLandmarks(path)


def check_region(region: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
    """Validate a region of interest given as fractions ``(x0, y0, x1, y1)`` of the frame."""
    if region is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in region)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"region of interest {region} must be fractions 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1")
    return (x0, y0, x1, y1)


def region_pixels(region: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = region
    return (int(round(x0 * width)), int(round(y0 * height)), int(round(x1 * width)), int(round(y1 * height)))
