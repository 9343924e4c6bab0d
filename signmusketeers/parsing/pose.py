"""The 14-d pose vector (paper §3.1, with our reading of it where the paper is silent, below).

Seven pose landmarks — nose (0), shoulders (11, 12), elbows (13, 14), wrists (15, 16) — normalised into the
signing space: head unit ``h = |shoulder_L − shoulder_R| / 2`` (pixels); the space is ``6h`` wide centred on the
nose (``x0 = nose.x − 3h``) and ``7h`` high starting half a head unit above the left eye (pose landmark 2,
``y0 = eye_L.y − 0.5h``); a point maps to ``((x − x0) / 6h, (y − y0) / 7h)``, so the signing space is the unit
square centred at (0.5, 0.5). The result is flattened as ``x0, y0, x1, y1, ...`` in the order above.
"""

from __future__ import annotations

import numpy as np

POSE_POINTS = (0, 11, 12, 13, 14, 15, 16)
NOSE, LEFT_EYE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 2, 11, 12
SPACE_WIDTH, SPACE_HEIGHT, SPACE_TOP = 6.0, 7.0, 0.5  # in head units (paper §3.1)
MISSING = -1.0  # the placeholder before any pose has been seen


def normalise_pose(pose: np.ndarray) -> np.ndarray | None:
    """``pose (33, 2+)`` pixels → ``float32 (14,)``; ``None`` when it cannot be normalised (coincident shoulders or
    non-finite points)."""
    xy = np.asarray(pose, dtype=np.float64)[:, :2]
    head = float(np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER])) / 2
    if not np.isfinite(head) or head < 1e-6:
        return None
    origin = np.array([xy[NOSE, 0] - SPACE_WIDTH / 2 * head, xy[LEFT_EYE, 1] - SPACE_TOP * head])
    normalised = (xy[list(POSE_POINTS)] - origin) / (np.array([SPACE_WIDTH, SPACE_HEIGHT]) * head)
    if not np.isfinite(normalised).all():
        return None
    return normalised.reshape(-1).astype(np.float32)


class PoseTracker:
    """Per-clip pose vectors: a frame without a usable pose repeats the previous frame's vector; before the first
    pose it is all :data:`MISSING` (−1)."""

    def __init__(self) -> None:
        self.previous = np.full(2 * len(POSE_POINTS), MISSING, dtype=np.float32)

    def update(self, pose: np.ndarray | None) -> np.ndarray:
        vector = None if pose is None else normalise_pose(pose)
        if vector is not None:
            self.previous = vector
        return self.previous.copy()
