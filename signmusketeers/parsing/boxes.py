"""Face and hand boxes (paper §3.1, with our reading of it where the paper is silent, below), in pixels, with the
provenance of every box.

* A box from landmarks is the square centred on the landmarks' bounding-box centre with side ``scale`` (1.2) × the
  bounding box's larger side.
* Face without face landmarks: the same rule on pose landmarks 0–10 (the head points).
* Hand without hand landmarks: a square of the face box's side centred at the mean of pose landmarks 17, 19, 21
  (left) or 18, 20, 22 (right).
* A hand whose box centre has left the frame keeps the last box it had in the frame; otherwise a box crossing the
  border is shifted inward, and a box larger than the frame is shrunk to it (the crop is then padded, never
  stretched — see :func:`crop_box`).

Boxes are ``float32 (4,)`` as ``x0, y0, x1, y1``; provenance codes are :data:`LANDMARKS`, :data:`POSE_FALLBACK`,
:data:`PREVIOUS` and :data:`SHIFTED`.
"""

from __future__ import annotations

import numpy as np

from signmusketeers.constants import BOX_SCALE
from signmusketeers.parsing.landmarks import FrameLandmarks

LANDMARKS, POSE_FALLBACK, PREVIOUS, SHIFTED = 0, 1, 2, 3
PROVENANCE_NAMES = ("landmarks", "pose fallback", "previous box", "shifted into frame")
PART_NAMES = ("face", "left", "right")  # the order of boxes, crops and provenance in a parsed clip
FACE_POSE_POINTS = list(range(11))  # nose, eyes, ears, mouth
HAND_POSE_POINTS = {"left": [17, 19, 21], "right": [18, 20, 22]}  # pinky, index, thumb of each hand


def square_around(points: np.ndarray, scale: float = BOX_SCALE) -> np.ndarray | None:
    """The square centred on the bounding box of ``points (N, 2)`` (NaN rows ignored) with side ``scale`` × its
    larger side; ``None`` when no point is finite."""
    points = np.asarray(points, dtype=np.float64)[:, :2]
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    return square_at((low + high) / 2, scale * float((high - low).max()))


def square_at(centre: np.ndarray, side: float) -> np.ndarray:
    cx, cy = float(centre[0]), float(centre[1])
    half = side / 2
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float64)


def fit_in_bounds(box: np.ndarray, bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, bool]:
    """Shrink each side of ``box`` that is longer than ``bounds`` (about its centre), then shift the box inside.

    Returns the fitted box and whether it moved or shrank (more than a hundredth of a pixel).
    """
    bx0, by0, bx1, by1 = bounds
    fitted = np.array(box, dtype=np.float64)
    for low, high, lo_bound, hi_bound in ((0, 2, bx0, bx1), (1, 3, by0, by1)):
        length, limit = fitted[high] - fitted[low], hi_bound - lo_bound
        if length > limit:
            centre = (fitted[low] + fitted[high]) / 2
            fitted[low], fitted[high] = centre - limit / 2, centre + limit / 2
        if fitted[low] < lo_bound:
            fitted[[low, high]] += lo_bound - fitted[low]
        if fitted[high] > hi_bound:
            fitted[[low, high]] -= fitted[high] - hi_bound
    return fitted, bool(np.abs(fitted - box).max() > 1e-2)


def centre_inside(box: np.ndarray, bounds: tuple[float, float, float, float]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bounds[0] <= cx <= bounds[2] and bounds[1] <= cy <= bounds[3]


class BoxTracker:
    """Per-clip box state: call :meth:`update` with each frame's landmarks, in order.

    Args:
        bounds: ``(x0, y0, x1, y1)`` pixels boxes must stay in (the frame, or the region of interest).
        scale: side of a landmark box relative to the landmarks' extent (paper: 1.2).
    """

    def __init__(self, bounds: tuple[float, float, float, float], scale: float = BOX_SCALE) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.scale = scale
        self.previous: list[np.ndarray | None] = [None, None, None]

    def update(self, landmarks: FrameLandmarks) -> tuple[np.ndarray, np.ndarray]:
        """``boxes float32 (3, 4)`` (face, left, right; NaN where no box exists yet) and ``provenance uint8 (3,)``."""
        boxes = np.full((3, 4), np.nan, dtype=np.float32)
        provenance = np.full(3, PREVIOUS, dtype=np.uint8)
        pose = landmarks.pose

        # Face: landmarks, else the head's pose points.
        face, source = None, LANDMARKS
        if landmarks.face is not None:
            face = square_around(landmarks.face, self.scale)
        if face is None and pose is not None:
            face, source = square_around(pose[FACE_POSE_POINTS], self.scale), POSE_FALLBACK
        face_side = None if face is None else face[2] - face[0]
        boxes[0], provenance[0] = self._place(0, face, source, keep_when_outside=False)

        for slot, side, hand in ((1, "left", landmarks.left_hand), (2, "right", landmarks.right_hand)):
            box, source = None, LANDMARKS
            if hand is not None:
                box = square_around(hand, self.scale)
            if box is None and pose is not None and face_side is not None:
                centre = np.nanmean(pose[HAND_POSE_POINTS[side], :2], axis=0)
                if np.isfinite(centre).all():
                    box, source = square_at(centre, face_side), POSE_FALLBACK
            boxes[slot], provenance[slot] = self._place(slot, box, source, keep_when_outside=True)
        return boxes, provenance

    def _place(self, slot: int, box: np.ndarray | None, source: int, keep_when_outside: bool) -> tuple[np.ndarray, int]:
        previous = self.previous[slot]
        if box is None or (keep_when_outside and previous is not None and not centre_inside(box, self.bounds)):
            if previous is None:
                return np.full(4, np.nan), PREVIOUS
            return previous, PREVIOUS
        fitted, moved = fit_in_bounds(box, self.bounds)
        self.previous[slot] = fitted
        return fitted, SHIFTED if moved else source


def crop_box(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Cut ``box`` out of ``image (H, W, 3)``, pad it (black, centred) to a square if it is not one, and resize it
    to ``(size, size, 3)`` with bicubic interpolation. A NaN box gives a black crop."""
    import cv2

    if not np.isfinite(box).all():
        return np.zeros((size, size, 3), dtype=np.uint8)
    height, width = image.shape[:2]
    x0, y0 = max(int(round(box[0])), 0), max(int(round(box[1])), 0)
    x1, y1 = min(int(round(box[2])), width), min(int(round(box[3])), height)
    patch = image[y0:y1, x0:x1]
    h, w = patch.shape[:2]
    if h == 0 or w == 0:
        return np.zeros((size, size, 3), dtype=np.uint8)
    if h != w:
        side = max(h, w)
        square = np.zeros((side, side, 3), dtype=np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = patch
        patch = square
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_CUBIC)
