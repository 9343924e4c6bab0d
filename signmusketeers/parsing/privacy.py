"""Face privacy for face crops, as in the paper's recipe (§3.2): all but the eyes and the mouth greyed out, then
blurred.

``signmusketeers parse`` masks face crops by default (``--no-face-privacy`` turns it off); :class:`FrameParser`
takes ``face_privacy=True``. The eye and mouth regions are the convex hulls of MediaPipe face-mesh landmarks (the
FACEMESH_LEFT_EYE / RIGHT_EYE with eyebrows, and LIPS index sets), grown by a margin. A crop without face landmarks
is greyed out entirely.

Whether a shard folder was made with it is recorded in its ``manifest.json`` (``made_by.face_privacy``) and, while
a resumable run is still writing, in ``.ledger/face-privacy``: :func:`claim_face_privacy` refuses to add
masked records to a folder of unmasked ones or the other way round.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from signmusketeers.errors import InputError

LEFT_EYE = [249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
            276, 282, 283, 285, 293, 295, 296, 300, 334, 336]  # fmt: skip
RIGHT_EYE = [7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
             46, 52, 53, 55, 63, 65, 66, 70, 105, 107]  # fmt: skip
MOUTH = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269,
         270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]  # fmt: skip
GREY = 128
# The landmarks a mask needs, in this order (boxes-only clip records store just these, per frame).
REGION_POINTS = np.array(LEFT_EYE + RIGHT_EYE + MOUTH)
_REGION_SLICES = (
    slice(0, len(LEFT_EYE)),
    slice(len(LEFT_EYE), len(LEFT_EYE) + len(RIGHT_EYE)),
    slice(len(LEFT_EYE) + len(RIGHT_EYE), len(REGION_POINTS)),
)
MARKER = "face-privacy"  # no .json suffix: ledger globs stay untouched


class FacePrivacyError(InputError):
    """Masked and unmasked faces would be mixed (folders, features, a checkpoint and translate); one line."""


NO_POINT = np.iinfo(np.int16).min  # face_regions of a frame without face landmarks


def face_regions(face: np.ndarray | None, box: np.ndarray, crop_size: int) -> np.ndarray:
    """The ``int16 (92, 2)`` eye and mouth points that place the mask, in pixels of the face crop cut from ``box``
    (the box padded to a square about its centre, then scaled, as :func:`~signmusketeers.parsing.boxes.crop_box`
    does), rounded as the mask rounds them; all :data:`NO_POINT` without face landmarks (a wholly grey crop).

    Boxes-only clip records store these per frame (368 bytes), so ``extract`` masks exactly as ``parse`` did."""
    box = np.asarray(box, dtype=np.float64)
    if face is None or not np.isfinite(box).all() or not np.isfinite(np.asarray(face)[REGION_POINTS, :2]).all():
        return np.full((len(REGION_POINTS), 2), NO_POINT, dtype=np.int16)
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    offset = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) - side / 2
    points = (np.asarray(face, dtype=np.float64)[REGION_POINTS, :2] - offset) * (crop_size / side)
    return np.clip(np.round(points), NO_POINT + 1, np.iinfo(np.int16).max).astype(np.int16)


def mask_face_crop(crop: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """The masked face crop, given its :func:`face_regions` (``None`` or :data:`NO_POINT`: grey out entirely)."""
    if regions is None or (np.asarray(regions) == NO_POINT).any():
        return anonymise_face(crop, None)
    return anonymise_face(crop, np.asarray(regions))


def anonymise_face(
    crop: np.ndarray, face_points: np.ndarray | None, margin: float = 0.04, blur: float = 0.01
) -> np.ndarray:
    """``crop (S, S, 3)`` uint8 and the face landmarks in the crop's pixel coordinates ``(468, 2)``, or just their
    ``(92, 2)`` eye and mouth points (or ``None``) → the crop with only eyes and mouth kept, then a Gaussian blur of
    ``blur × S`` pixels sigma."""
    import cv2

    size = crop.shape[0]
    mask = np.zeros(crop.shape[:2], dtype=np.uint8)
    if face_points is not None and np.isfinite(face_points).all():
        if len(face_points) != len(REGION_POINTS):
            face_points = np.asarray(face_points)[REGION_POINTS]
        for region in _REGION_SLICES:
            hull = cv2.convexHull(np.round(face_points[region]).astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1)
        grow = max(1, int(round(margin * size)))
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    out = np.full_like(crop, GREY)
    cv2.copyTo(np.ascontiguousarray(crop), mask, out)  # keep eyes and mouth (3× faster than np.where)
    sigma = max(blur * size, 0.5)
    return cv2.GaussianBlur(out, (0, 0), sigma)


def folder_face_privacy(folder: str | os.PathLike) -> bool | None:
    """Whether the shard folder's records have masked faces: from ``manifest.json`` (``made_by.face_privacy``, or
    the parser config of folders written before it was recorded there), else from the marker a run still writing
    left; ``None`` when the folder says nothing (not written by parse/extract, or not started)."""
    folder = Path(folder)
    try:
        made_by = json.loads((folder / "manifest.json").read_text()).get("made_by", {})
    except (OSError, ValueError):
        made_by = None
    if isinstance(made_by, dict):
        if "face_privacy" in made_by:  # None: made from clips that did not record it
            return None if made_by["face_privacy"] is None else bool(made_by["face_privacy"])
        if isinstance(made_by.get("config"), dict) and made_by["config"].get("face_privacy") is not None:
            return bool(made_by["config"]["face_privacy"])
    try:
        return bool(json.loads((folder / ".ledger" / MARKER).read_text())["face_privacy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(face_privacy: bool | None) -> str:
    return {True: "masked faces", False: "unmasked faces", None: "faces of unrecorded masking"}[face_privacy]


def claim_face_privacy(folder: str | os.PathLike, face_privacy: bool, option: str = "--no-face-privacy") -> None:
    """Record that ``folder`` holds records with (or without) masked faces; raises :class:`FacePrivacyError` if
    it already holds the other kind."""
    existing = folder_face_privacy(folder)
    if existing is not None and existing != face_privacy:
        raise FacePrivacyError(
            f"{folder}: holds {describe(existing)}, cannot add {describe(face_privacy)} "
            f"(use another folder, or {'drop' if face_privacy is False else 'give'} {option})"
        )
    marker = Path(folder) / ".ledger" / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f".{MARKER}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"face_privacy": bool(face_privacy)}) + "\n")
    tmp.replace(marker)
