"""Optional face privacy for face crops: everything but the eyes and the mouth is greyed out, then blurred.

Off by default (the paper's encoders see whole faces; turning it on changes what a face encoder can learn). The
eye and mouth regions are the convex hulls of MediaPipe face-mesh landmarks (the FACEMESH_LEFT_EYE / RIGHT_EYE
with eyebrows, and LIPS index sets), grown by a margin. A crop without face landmarks is greyed out entirely.
"""

from __future__ import annotations

import numpy as np

LEFT_EYE = [249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
            276, 282, 283, 285, 293, 295, 296, 300, 334, 336]  # fmt: skip
RIGHT_EYE = [7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
             46, 52, 53, 55, 63, 65, 66, 70, 105, 107]  # fmt: skip
MOUTH = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269,
         270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]  # fmt: skip
GREY = 128


def anonymise_face(crop: np.ndarray, face_points: np.ndarray | None, margin: float = 0.04, blur: float = 0.01) -> np.ndarray:
    """``crop (S, S, 3)`` uint8 and the face landmarks in the crop's pixel coordinates ``(468, 2)`` (or ``None``) →
    the crop with only eyes and mouth kept, then a Gaussian blur of ``blur × S`` pixels sigma."""
    import cv2

    size = crop.shape[0]
    mask = np.zeros(crop.shape[:2], dtype=np.uint8)
    if face_points is not None and np.isfinite(face_points).all():
        for region in (LEFT_EYE, RIGHT_EYE, MOUTH):
            hull = cv2.convexHull(np.round(face_points[region]).astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1)
        grow = max(1, int(round(margin * size)))
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    out = np.where(mask[..., None] > 0, crop, np.uint8(GREY)).astype(np.uint8)
    sigma = max(blur * size, 0.5)
    return cv2.GaussianBlur(out, (0, 0), sigma)
