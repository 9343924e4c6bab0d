"""The SynthSign signer's figure: hand shapes, the per-clip look, facial expressions and drawing one frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from signmusketeers.synthsign.face_template import face_regions

# Canonical right hand, palm towards the camera, fingers up, in palm units (wrist at the origin, y down). The thumb
# of the signer's right hand points to the image right (towards the body's midline); the left hand is the mirror.
_FINGER_BASE = {"index": (0.32, -1.0), "middle": (0.1, -1.05), "ring": (-0.12, -1.0), "pinky": (-0.32, -0.9)}
_FINGER_LENGTH = {"index": 0.95, "middle": 1.05, "ring": 0.95, "pinky": 0.75}


def _finger(base: tuple[float, float], length: float, state: str, spread: float) -> list[tuple[float, float]]:
    """PIP, DIP and tip of one finger: 'up' (extended), 'curl' (folded over the palm)."""
    x, y = base
    if state == "up":
        dx, dy = np.sin(spread), -np.cos(spread)
        return [(x + dx * length * f, y + dy * length * f) for f in (0.45, 0.75, 1.0)]
    return [(x, y - 0.3), (x * 0.9, y - 0.05), (x * 0.8, y + 0.2)]


def _thumb(state: str) -> list[tuple[float, float]]:
    """CMC, MCP, IP and tip: 'out' (abducted), 'in' (along the palm), 'across' (folded over the fingers)."""
    if state == "out":
        return [(0.3, -0.2), (0.6, -0.4), (0.85, -0.6), (1.05, -0.8)]
    if state == "in":
        return [(0.3, -0.2), (0.5, -0.45), (0.55, -0.7), (0.55, -0.9)]
    return [(0.3, -0.2), (0.45, -0.45), (0.3, -0.75), (0.05, -0.85)]


_HANDSHAPE_STATES: dict[str, tuple[str, dict[str, tuple[str, float]]]] = {
    # name: (thumb, {finger: (state, spread angle)})
    "fist": ("across", dict.fromkeys(_FINGER_BASE, ("curl", 0.0))),
    "flat": ("in", {"index": ("up", 0.02), "middle": ("up", 0.0), "ring": ("up", -0.02), "pinky": ("up", -0.05)}),
    "point": ("across", {"index": ("up", 0.0), "middle": ("curl", 0), "ring": ("curl", 0), "pinky": ("curl", 0)}),
    "v": ("across", {"index": ("up", 0.3), "middle": ("up", -0.15), "ring": ("curl", 0), "pinky": ("curl", 0)}),
    "spread": ("out", {"index": ("up", 0.25), "middle": ("up", 0.0), "ring": ("up", -0.25), "pinky": ("up", -0.5)}),
    "y": ("out", {"index": ("curl", 0), "middle": ("curl", 0), "ring": ("curl", 0), "pinky": ("up", -0.5)}),
    "l": ("out", {"index": ("up", 0.0), "middle": ("curl", 0), "ring": ("curl", 0), "pinky": ("curl", 0)}),
}


def hand_template(shape: str) -> np.ndarray:
    """``(21, 2)`` landmarks of a right hand in palm units, in MediaPipe Hands order."""
    thumb, fingers = _HANDSHAPE_STATES[shape]
    points = [(0.0, 0.0)] + _thumb(thumb)
    for name in ("index", "middle", "ring", "pinky"):
        state, spread = fingers[name]
        points += [_FINGER_BASE[name]] + _finger(_FINGER_BASE[name], _FINGER_LENGTH[name], state, spread)
    return np.array(points, dtype=np.float32)


_FINGER_CHAINS = [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20)]
_PALM = (0, 1, 5, 9, 13, 17)


# ------------------------------------------------------------------------------------------------ the look


@dataclass(frozen=True)
class Appearance:
    """Per-clip look of the signer, drawn from the clip's random stream."""

    background: tuple[int, int, int]
    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    hair: tuple[int, int, int]
    centre_x: float  # fractions of the frame
    head_y: float
    face_half_width: float  # fraction of the frame width


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw a clip's colours, position and face size from its random stream."""

    def colour(low: int, high: int) -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(low, high, size=3))

    skin_tones = [(241, 194, 167), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)]
    return Appearance(
        background=colour(30, 120),
        skin=skin_tones[rng.integers(len(skin_tones))],
        shirt=colour(0, 90),
        hair=colour(10, 70),
        centre_x=float(rng.uniform(0.45, 0.55)),
        head_y=float(rng.uniform(0.24, 0.29)),
        face_half_width=float(rng.uniform(0.07, 0.08)),
    )


def expression_offsets(template: np.ndarray, expression: str) -> np.ndarray:
    """Per-landmark displacement of the face template (template units) for one expression at full strength."""
    regions = face_regions()
    offsets = np.zeros_like(template)
    brows = np.concatenate([regions["left_eyebrow"], regions["right_eyebrow"]])
    lips = regions["lips"]
    mouth_centre = template[lips].mean(0)
    if expression == "brows_up":
        offsets[brows, 1] -= 0.22
    elif expression == "brows_down":
        inner = np.abs(template[brows, 0]) < 0.45  # frown: inner ends down more than outer ends
        offsets[brows, 1] += np.where(inner, 0.2, 0.06)
    elif expression == "mouth_open":
        lower = template[lips, 1] > mouth_centre[1]
        offsets[lips[lower], 1] += 0.28
        chin = (template[:, 1] > mouth_centre[1] + 0.1) & (np.abs(template[:, 0]) < 0.7)
        offsets[chin, 1] += 0.15
    elif expression == "smile":
        dx = template[lips, 0] - mouth_centre[0]
        offsets[lips, 0] += 0.35 * dx  # wider, corners up
        offsets[lips, 1] -= 0.3 * dx**2 / max(float(np.abs(dx).max()) ** 2, 1e-6)
    return offsets


@dataclass
class SignerState:
    """Everything the renderer needs for one frame (pixel units)."""

    face: np.ndarray  # (468, 2)
    right_hand: np.ndarray  # (21, 2)
    left_hand: np.ndarray  # (21, 2)
    shoulders: np.ndarray  # (2, 2): signer's left, right
    elbows: np.ndarray  # (2, 2): signer's left, right


def arm_elbow(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float, outward: float) -> np.ndarray:
    """Two-link inverse kinematics: the elbow, bent outwards (``outward`` = +1 image right, −1 image left)."""
    delta = wrist - shoulder
    distance = float(np.clip(np.linalg.norm(delta), 1e-3, upper + fore - 1e-3))
    along = (upper**2 - fore**2 + distance**2) / (2 * distance)
    height = np.sqrt(max(upper**2 - along**2, 0.0))
    unit = delta / max(np.linalg.norm(delta), 1e-6)
    normal = np.array([-unit[1], unit[0]])
    if normal[0] * outward < 0:
        normal = -normal
    return shoulder + unit * along + normal * height


_SCALE, _SHIFT = 16, 4  # fixed-point coordinates for sub-pixel drawing: 1/16 px, 4 fractional bits
_AA = cv2.LINE_AA
_DARK = (25, 20, 20)


def _pts(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates as the fixed-point integers the ``cv2`` calls take (with ``_SHIFT``)."""
    return np.round(points * _SCALE).astype(np.int32)


def draw_signer(canvas: np.ndarray, state: SignerState, look: Appearance, masks: np.ndarray | None = None) -> None:
    """Draw the signer into ``canvas`` (H, W, 3) in place; ``masks`` (3, H, W) uint8 receives face/left/right."""
    regions = face_regions()
    face_width = float(np.ptp(state.face[regions["oval"], 0]))
    _draw_torso_and_neck(canvas, state, look, regions, face_width)
    _draw_face(canvas, state, look, regions, face_width, masks)
    # arms, then hands on top (a hand in front of the face hides it, as in real signing)
    _draw_arms(canvas, state, look, face_width)
    for mask_index, hand in ((1, state.left_hand), (2, state.right_hand)):
        _draw_hand(canvas, hand, look, face_width, None if masks is None else masks[mask_index])


def _draw_torso_and_neck(
    canvas: np.ndarray, state: SignerState, look: Appearance, regions: dict, face_width: float
) -> None:
    """The shirt from the shoulders down past the frame's bottom, and the neck."""
    neck_top = state.face[regions["oval"]].mean(0) + [0, face_width * 0.45]
    shoulders = state.shoulders
    torso = np.array(
        [
            shoulders[1],
            shoulders[0],
            [shoulders[0][0] + face_width * 0.2, 10_000],
            [shoulders[1][0] - face_width * 0.2, 10_000],
        ]
    )
    cv2.fillPoly(canvas, [_pts(torso)], look.shirt, _AA, _SHIFT)
    neck = np.array(
        [
            neck_top + [-face_width * 0.22, 0],
            neck_top + [face_width * 0.22, 0],
            neck_top + [face_width * 0.22, face_width * 0.7],
            neck_top + [-face_width * 0.22, face_width * 0.7],
        ]
    )
    cv2.fillPoly(canvas, [_pts(neck)], look.skin, _AA, _SHIFT)


def _draw_face(
    canvas: np.ndarray,
    state: SignerState,
    look: Appearance,
    regions: dict,
    face_width: float,
    masks: np.ndarray | None,
) -> None:
    """Hair behind, oval (also into the face mask), brows, eyes, mouth."""
    oval_order = _oval_order(state.face, regions["oval"])
    cv2.fillPoly(canvas, [_pts(state.face[oval_order] + [0, -face_width * 0.05])], look.hair, _AA, _SHIFT)
    cv2.fillPoly(canvas, [_pts(state.face[oval_order])], look.skin, _AA, _SHIFT)
    if masks is not None:
        cv2.fillPoly(masks[0], [_pts(state.face[oval_order])], 1, cv2.LINE_8, _SHIFT)
    for brow in ("left_eyebrow", "right_eyebrow"):  # the brow region's upper and lower contours, filled
        brow_points = state.face[regions[brow]]
        cv2.fillPoly(canvas, [_pts(brow_points[_angle_order(brow_points)])], look.hair, _AA, _SHIFT)
    for eye in ("left_eye", "right_eye"):
        eye_points = state.face[regions[eye]]
        centre = eye_points.mean(0)
        cv2.fillPoly(canvas, [_pts(eye_points[_angle_order(eye_points)])], (245, 245, 245), _AA, _SHIFT)
        cv2.circle(canvas, tuple(_pts(centre)), int(face_width * 0.06 * _SCALE), _DARK, -1, _AA, _SHIFT)
    lip_points = state.face[regions["lips"]]
    cv2.fillPoly(canvas, [_pts(lip_points[_angle_order(lip_points)])], (150, 40, 50), _AA, _SHIFT)


def _draw_arms(canvas: np.ndarray, state: SignerState, look: Appearance, face_width: float) -> None:
    """Each arm a thick shirt-coloured line: shoulder, elbow, wrist."""
    thick = max(2, int(round(face_width * 0.28)))
    for side, hand in ((0, state.left_hand), (1, state.right_hand)):
        wrist = hand[0]
        arm = np.array([state.shoulders[side], state.elbows[side], wrist])
        cv2.polylines(canvas, [_pts(arm)], False, look.shirt, thick, _AA, _SHIFT)


def _draw_hand(
    canvas: np.ndarray, hand: np.ndarray, look: Appearance, face_width: float, mask: np.ndarray | None
) -> None:
    """Palm and fingers in skin (and into ``mask``), then a dark outline of the fingers."""
    finger_width = max(1, int(round(face_width * 0.1)))
    layers = [(canvas, look.skin, _AA)]
    if mask is not None:
        layers.append((mask, 1, cv2.LINE_8))
    for target, colour, line in layers:
        cv2.fillPoly(target, [_pts(hand[list(_PALM)])], colour, line, _SHIFT)
        for chain in _FINGER_CHAINS:
            cv2.polylines(
                target,
                [_pts(hand[list((0,) + chain) if chain[0] == 1 else list(chain)])],
                False,
                colour,
                finger_width,
                line,
                _SHIFT,
            )
    for chain in _FINGER_CHAINS:  # a thin dark outline keeps fingers apart at small crop sizes
        cv2.polylines(canvas, [_pts(hand[list(chain)])], False, _DARK, 1, _AA, _SHIFT)


def _angle_order(points: np.ndarray) -> np.ndarray:
    centre = points.mean(0)
    return np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))


def _oval_order(face: np.ndarray, oval: np.ndarray) -> np.ndarray:
    return oval[_angle_order(face[oval])]
