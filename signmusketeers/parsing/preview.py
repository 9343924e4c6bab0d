"""Preview images: sampled frames with the boxes drawn (colour = part, dashes = not from landmarks) and each
frame's three crops beside it, so a user can see which person was parsed and how each box was found."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from signmusketeers.parsing.boxes import LANDMARKS, PART_NAMES, PROVENANCE_NAMES
from signmusketeers.parsing.parser import ParsedClip
from signmusketeers.parsing.video import read_frames

if TYPE_CHECKING:
    from signmusketeers.parsing.encoded import EncodedClip

COLOURS = {"face": (60, 200, 60), "left": (60, 120, 255), "right": (255, 80, 60)}  # RGB


def render_preview(
    video: str | os.PathLike,
    clip: ParsedClip | EncodedClip,
    frames: int = 4,
    height: int = 240,
    region_of_interest: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """An RGB ``uint8`` image: ``frames`` evenly spaced frames of ``clip`` (re-decoded from ``video``), one row each."""
    import cv2

    positions = np.unique(np.linspace(0, len(clip) - 1, min(frames, len(clip))).round().astype(int))
    wanted = {int(clip.frame_index[p]): p for p in positions}
    rows = []
    timing = {}
    if len(clip.timestamps):  # decode only the clip's own segment (seeking to the keyframe before it)
        margin = 0.5 / clip.fps if clip.fps else 0.0
        timing = {"start": float(clip.timestamps[0]) - margin, "end": float(clip.timestamps[-1]) + margin}
    for frame in read_frames(video, fps=clip.fps or None, **timing):
        if frame.index not in wanted:
            continue
        position = wanted[frame.index]
        image = frame.image.copy()
        scale = height / image.shape[0]
        image = cv2.resize(image, (max(1, int(round(image.shape[1] * scale))), height), interpolation=cv2.INTER_AREA)
        if region_of_interest is not None:
            h, w = image.shape[:2]
            x0, y0, x1, y1 = region_of_interest
            cv2.rectangle(image, (int(x0 * w), int(y0 * h)), (int(x1 * w) - 1, int(y1 * h) - 1), (255, 255, 0), 1)
        labels = []
        for part, name in enumerate(PART_NAMES):
            box = clip.boxes[position, part]
            if not np.isfinite(box).all():
                continue
            x0, y0, x1, y1 = (box * scale).round().astype(int)
            thickness = 2 if clip.provenance[position, part] == LANDMARKS else 1
            cv2.rectangle(image, (x0, y0), (x1, y1), COLOURS[name], thickness)
            labels.append(f"{name}: {PROVENANCE_NAMES[clip.provenance[position, part]]}")
        cv2.putText(image, f"frame {frame.index}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        for line, text in enumerate(labels):
            cv2.putText(image, text, (4, 30 + 14 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        side = height // 2
        # an EncodedClip (signmusketeers parse) keeps its crops as JPEGs: the strip shows them decoded
        crops = clip.frame_crops(position) if hasattr(clip, "frame_crops") else clip.crops[position]
        strip = [cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA) for crop in crops]
        strip = np.concatenate(
            [np.concatenate(strip[:2], axis=1), np.concatenate([strip[2], np.zeros_like(strip[2])], axis=1)]
        )
        rows.append(np.concatenate([image, strip], axis=1))
        if len(rows) == len(wanted):
            break
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate(rows, axis=0)


def write_preview(path: str | os.PathLike, image: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise ValueError(f"{path}: could not write the preview PNG")
