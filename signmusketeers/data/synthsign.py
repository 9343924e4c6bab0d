"""SynthSign: the embedded synthetic signing dataset.

A cartoon signer (face with eyes, brows and mouth; torso; two arms; two hands) signs English sentences from a small
grammar. Each word is one sign, defined by the five parameters in :data:`VOCABULARY`:

* the right (dominant) hand's handshape  → only visible in the right-hand crop,
* the left (base) hand's handshape       → only visible in the left-hand crop,
* the right hand's location and movement → only visible in the pose (wrist and elbow trajectories),
* the facial expression                  → only visible in the face crop.

Some words differ *only* in the face, some only in one hand's shape, some only in location (see
:func:`minimal_pairs`), so every stream of the translation model carries information that no other stream has.
Train/val/test hold out word *combinations* (verb-noun pairs), never words.

Everything is deterministic per seed: the same ``synth --out DIR --clips N --seed S`` writes byte-identical files.
Landmarks are written in MediaPipe Holistic layout (33 pose, 468 face, 21 per hand) in pixel coordinates, so the
frame parser can read them instead of running MediaPipe (the landmark layout of :mod:`signmusketeers.parsing.landmarks`).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from signmusketeers.data.face_template import face_regions, load_face_template

# ------------------------------------------------------------------------------------------------ the signs

HANDSHAPES = ("fist", "flat", "point", "v", "spread", "y", "l")
EXPRESSIONS = ("neutral", "brows_up", "brows_down", "mouth_open", "smile")
LOCATIONS = ("temple", "chin", "chest", "neutral", "side", "shoulder")
MOVEMENTS = ("hold", "up_down", "side_to_side", "circle")


@dataclass(frozen=True)
class Sign:
    """The five parameters that define one word's sign."""

    right: str  # right-hand handshape (HANDSHAPES)
    left: str  # left-hand handshape (HANDSHAPES)
    location: str  # right-hand location (LOCATIONS)
    movement: str  # right-hand movement (MOVEMENTS)
    face: str  # facial expression (EXPRESSIONS)


# word -> sign. The comments name the minimal pairs: words whose signs differ in one parameter only.
VOCABULARY: dict[str, Sign] = {
    # subjects
    "I": Sign("point", "flat", "chest", "hold", "neutral"),
    "you": Sign("point", "flat", "neutral", "hold", "neutral"),  # I/you: location only
    "we": Sign("point", "flat", "chest", "circle", "neutral"),  # I/we: movement only
    "they": Sign("point", "flat", "side", "side_to_side", "neutral"),
    "mother": Sign("spread", "flat", "chin", "hold", "neutral"),
    "father": Sign("spread", "flat", "temple", "hold", "neutral"),  # mother/father: location only
    "teacher": Sign("flat", "flat", "temple", "up_down", "brows_up"),
    "friend": Sign("l", "fist", "neutral", "circle", "smile"),
    # verbs
    "see": Sign("v", "flat", "temple", "side_to_side", "neutral"),
    "like": Sign("l", "flat", "chest", "up_down", "smile"),
    "want": Sign("spread", "spread", "neutral", "up_down", "neutral"),
    "have": Sign("flat", "spread", "chest", "hold", "neutral"),
    "need": Sign("point", "fist", "neutral", "up_down", "brows_down"),
    "make": Sign("fist", "fist", "neutral", "circle", "neutral"),
    "find": Sign("y", "flat", "neutral", "side_to_side", "brows_up"),
    "love": Sign("fist", "flat", "chest", "hold", "smile"),
    # adjectives
    "big": Sign("l", "l", "neutral", "side_to_side", "mouth_open"),
    "small": Sign("l", "l", "neutral", "side_to_side", "brows_down"),  # big/small: face only
    "red": Sign("point", "fist", "chin", "up_down", "neutral"),
    "blue": Sign("v", "fist", "chin", "up_down", "neutral"),  # red/blue: right hand only
    "new": Sign("flat", "flat", "neutral", "side_to_side", "brows_up"),
    "old": Sign("fist", "fist", "chin", "up_down", "neutral"),
    "happy": Sign("flat", "fist", "chest", "circle", "smile"),
    "sad": Sign("flat", "fist", "chest", "circle", "brows_down"),  # happy/sad: face only
    # nouns
    "house": Sign("flat", "flat", "neutral", "up_down", "neutral"),
    "car": Sign("fist", "fist", "neutral", "side_to_side", "neutral"),
    "book": Sign("flat", "y", "neutral", "hold", "neutral"),
    "ball": Sign("flat", "v", "neutral", "hold", "neutral"),  # book/ball: left hand only
    "dog": Sign("v", "point", "side", "up_down", "neutral"),
    "cat": Sign("v", "l", "side", "up_down", "neutral"),  # dog/cat: left hand only
    "apple": Sign("y", "fist", "chin", "circle", "neutral"),
    "tree": Sign("spread", "point", "shoulder", "side_to_side", "neutral"),
    # times
    "today": Sign("y", "y", "neutral", "up_down", "neutral"),
    "now": Sign("y", "y", "neutral", "hold", "brows_up"),
    "again": Sign("point", "flat", "neutral", "circle", "mouth_open"),
    "often": Sign("point", "flat", "neutral", "circle", "brows_up"),  # again/often: face only
    "always": Sign("point", "spread", "shoulder", "circle", "neutral"),
    "sometimes": Sign("point", "spread", "temple", "circle", "neutral"),  # always/sometimes: location only
    "every day": Sign("spread", "l", "chin", "side_to_side", "neutral"),
    "at night": Sign("fist", "l", "shoulder", "up_down", "neutral"),
}

SUBJECTS = {"I": "I", "you": "you", "we": "we", "they": "they",
            "mother": "my mother", "father": "my father", "teacher": "the teacher", "friend": "my friend"}
VERBS = ("see", "like", "want", "have", "need", "make", "find", "love")
ADJECTIVES = ("big", "small", "red", "blue", "new", "old", "happy", "sad")
NOUNS = ("house", "car", "book", "ball", "dog", "cat", "apple", "tree")
TIMES = ("today", "now", "again", "often", "always", "sometimes", "every day", "at night")
SPLIT_SEED = 20240  # fixed: every SynthSign set, whatever its seed, holds out the same verb-noun pairs


def stream_of_difference(a: Sign, b: Sign) -> str | None:
    """Which translation stream tells two signs apart when they differ in exactly one of them, else None.

    Streams: "face" (expression), "left" / "right" (handshapes), "pose" (location or movement).
    """
    differs = {
        "face": a.face != b.face,
        "left": a.left != b.left,
        "right": a.right != b.right,
        "pose": a.location != b.location or a.movement != b.movement,
    }
    changed = [stream for stream, different in differs.items() if different]
    return changed[0] if len(changed) == 1 else None


def minimal_pairs() -> dict[str, list[tuple[str, str]]]:
    """Word pairs whose signs differ in a single stream, grouped by that stream."""
    words = list(VOCABULARY)
    pairs: dict[str, list[tuple[str, str]]] = {"face": [], "left": [], "right": [], "pose": []}
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            stream = stream_of_difference(VOCABULARY[a], VOCABULARY[b])
            if stream is not None:
                pairs[stream].append((a, b))
    return pairs


# ------------------------------------------------------------------------------------------------ sentences


@dataclass(frozen=True)
class Sentence:
    subject: str
    verb: str
    adjective: str
    noun: str
    time: str | None

    @property
    def signs(self) -> list[str]:
        """Sign order (time first, adjective after the noun), as sign languages often have it."""
        return ([self.time] if self.time else []) + [self.subject, self.verb, self.noun, self.adjective]

    @property
    def text(self) -> str:
        verb = self.verb if self.subject in ("I", "you", "we", "they") else self.verb + ("s" if self.verb != "have" else "")
        if self.subject not in ("I", "you", "we", "they") and self.verb == "have":
            verb = "has"
        words = f"{SUBJECTS[self.subject]} {verb} the {self.adjective} {self.noun}" + (f" {self.time}" if self.time else "")
        return words[0].upper() + words[1:] + "."


@functools.lru_cache(maxsize=1)
def _pair_splits() -> dict[tuple[str, str], str]:
    pairs = [(v, n) for v in VERBS for n in NOUNS]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(pairs))
    n_heldout = round(0.1 * len(pairs))
    rank = np.argsort(order)  # rank[i]: position of pair i in the shuffled order
    return {pair: "test" if rank[i] < n_heldout else "val" if rank[i] < 2 * n_heldout else "train"
            for i, pair in enumerate(pairs)}


def split_of_pair(verb: str, noun: str) -> str:
    """The split a verb-noun combination belongs to (80/10/10 over the 64 pairs, fixed by SPLIT_SEED)."""
    return _pair_splits()[(verb, noun)]


def sample_sentence(rng: np.random.Generator, split: str) -> Sentence:
    pairs = [pair for pair, pair_split in _pair_splits().items() if pair_split == split]
    verb, noun = pairs[rng.integers(len(pairs))]
    time = TIMES[rng.integers(len(TIMES))] if rng.random() < 0.5 else None
    return Sentence(
        subject=list(SUBJECTS)[rng.integers(len(SUBJECTS))],
        verb=verb,
        adjective=ADJECTIVES[rng.integers(len(ADJECTIVES))],
        noun=noun,
        time=time,
    )


def assign_splits(n_clips: int) -> list[str]:
    """10% val, 10% test (at least one each from 3 clips on), the rest train, interleaved."""
    if n_clips < 3:
        return ["train"] * n_clips
    n_small = max(1, round(0.1 * n_clips))
    splits = ["train"] * n_clips
    for k in range(n_small):  # spread held-out clips over the set rather than putting them last
        splits[(k * n_clips) // n_small + n_clips // (2 * n_small)] = "test"
        splits[(k * n_clips) // n_small + max(0, n_clips // (2 * n_small) - 1)] = "val"
    return splits


# ------------------------------------------------------------------------------------------------ hands

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
    "fist": ("across", {f: ("curl", 0.0) for f in _FINGER_BASE}),
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


# ------------------------------------------------------------------------------------------------ rendering


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


def _arm_elbow(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float, outward: float) -> np.ndarray:
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


def draw_signer(
    canvas: np.ndarray, state: SignerState, look: Appearance, masks: np.ndarray | None = None
) -> None:
    """Draw the signer into ``canvas`` (H, W, 3) in place; ``masks`` (3, H, W) uint8 receives face/left/right."""
    regions = face_regions()
    aa = cv2.LINE_AA
    scale = 16  # fixed-point coordinates for sub-pixel drawing
    shift = 4

    def pts(points: np.ndarray) -> np.ndarray:
        return np.round(points * scale).astype(np.int32)

    face_width = float(np.ptp(state.face[regions["oval"], 0]))
    thick = max(2, int(round(face_width * 0.28)))
    # torso and neck
    neck_top = state.face[regions["oval"]].mean(0) + [0, face_width * 0.45]
    shoulders = state.shoulders
    torso = np.array([shoulders[1], shoulders[0], [shoulders[0][0] + face_width * 0.2, 10_000],
                      [shoulders[1][0] - face_width * 0.2, 10_000]])
    cv2.fillPoly(canvas, [pts(torso)], look.shirt, aa, shift)
    neck = np.array([neck_top + [-face_width * 0.22, 0], neck_top + [face_width * 0.22, 0],
                     neck_top + [face_width * 0.22, face_width * 0.7], neck_top + [-face_width * 0.22, face_width * 0.7]])
    cv2.fillPoly(canvas, [pts(neck)], look.skin, aa, shift)
    # face: hair behind, oval, brows, eyes, mouth
    oval_order = _oval_order(state.face, regions["oval"])
    cv2.fillPoly(canvas, [pts(state.face[oval_order] + [0, -face_width * 0.05])], look.hair, aa, shift)
    cv2.fillPoly(canvas, [pts(state.face[oval_order])], look.skin, aa, shift)
    if masks is not None:
        cv2.fillPoly(masks[0], [pts(state.face[oval_order])], 1, cv2.LINE_8, shift)
    dark = (25, 20, 20)
    for brow in ("left_eyebrow", "right_eyebrow"):  # the brow region's upper and lower contours, filled
        brow_points = state.face[regions[brow]]
        cv2.fillPoly(canvas, [pts(brow_points[_angle_order(brow_points)])], look.hair, aa, shift)
    for eye in ("left_eye", "right_eye"):
        eye_points = state.face[regions[eye]]
        centre = eye_points.mean(0)
        cv2.fillPoly(canvas, [pts(eye_points[_angle_order(eye_points)])], (245, 245, 245), aa, shift)
        cv2.circle(canvas, tuple(pts(centre)), int(face_width * 0.06 * scale), dark, -1, aa, shift)
    lip_points = state.face[regions["lips"]]
    cv2.fillPoly(canvas, [pts(lip_points[_angle_order(lip_points)])], (150, 40, 50), aa, shift)
    # arms, then hands on top (a hand in front of the face hides it, as in real signing)
    for side, hand in ((0, state.left_hand), (1, state.right_hand)):
        wrist = hand[0]
        arm = np.array([shoulders[side], state.elbows[side], wrist])
        cv2.polylines(canvas, [pts(arm)], False, look.shirt, thick, aa, shift)
    for mask_index, hand in ((1, state.left_hand), (2, state.right_hand)):
        finger_width = max(1, int(round(face_width * 0.1)))
        layers = [(canvas, look.skin, aa)]
        if masks is not None:
            layers.append((masks[mask_index], 1, cv2.LINE_8))
        for target, colour, line in layers:
            cv2.fillPoly(target, [pts(hand[list(_PALM)])], colour, line, shift)
            for chain in _FINGER_CHAINS:
                cv2.polylines(target, [pts(hand[list((0,) + chain) if chain[0] == 1 else list(chain)])], False,
                              colour, finger_width, line, shift)
        for chain in _FINGER_CHAINS:  # a thin dark outline keeps fingers apart at small crop sizes
            cv2.polylines(canvas, [pts(hand[list(chain)])], False, dark, 1, aa, shift)


def _angle_order(points: np.ndarray) -> np.ndarray:
    centre = points.mean(0)
    return np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))


def _oval_order(face: np.ndarray, oval: np.ndarray) -> np.ndarray:
    return oval[_angle_order(face[oval])]


# ------------------------------------------------------------------------------------------------ motion


@dataclass(frozen=True)
class SynthSignConfig:
    """Size and timing of rendered clips (defaults sized for fast CPU demos)."""

    width: int = 320
    height: int = 240
    fps: float = 25.0
    hold_frames: tuple[int, int] = (9, 13)  # frames a sign is held (with its movement), drawn per sign
    transition_frames: int = 5
    rest_frames: tuple[int, int] = (2, 5)  # hands below the frame at the clip's start and end
    visible_fraction: float = 0.5  # a hand counts as detected when at least this share of its landmarks is inside


@dataclass
class RenderedClip:
    frames: np.ndarray  # uint8 (T, H, W, 3) RGB
    landmarks: dict[str, np.ndarray]  # the landmark npz contents (see module docstring)
    masks: np.ndarray | None  # uint8 (T, 3, H, W): face, left hand, right hand pixels, when asked


class _Body:
    """Geometry of one clip's signer in pixels."""

    def __init__(self, look: Appearance, config: SynthSignConfig):
        self.width, self.height = config.width, config.height
        self.fw = look.face_half_width * config.width  # face half-width, the unit of the body
        self.centre = np.array([look.centre_x * config.width, look.head_y * config.height])
        self.shoulder_y = self.centre[1] + 2.3 * self.fw
        # signer's left shoulder is on the image right (a front-facing camera)
        self.shoulders = np.array([[self.centre[0] + 2.3 * self.fw, self.shoulder_y],
                                   [self.centre[0] - 2.3 * self.fw, self.shoulder_y]])
        self.upper_arm, self.forearm = 2.6 * self.fw, 2.5 * self.fw
        self.palm = 0.62 * self.fw

    def location(self, name: str) -> np.ndarray:
        """Target position of the right hand's palm centre."""
        cx, cy, fw, sy = self.centre[0], self.centre[1], self.fw, self.shoulder_y
        return np.array({
            "temple": (cx - 1.7 * fw, cy - 0.7 * fw),
            "chin": (cx - 0.4 * fw, cy + 1.9 * fw),
            "chest": (cx - 0.4 * fw, sy + 1.6 * fw),
            "neutral": (cx - 1.5 * fw, sy + 2.6 * fw),
            "side": (cx - 3.6 * fw, sy + 1.2 * fw),
            "shoulder": (cx + 1.9 * fw, sy + 0.4 * fw),
        }[name])

    def left_base(self) -> np.ndarray:
        return np.array([self.centre[0] + 1.5 * self.fw, self.shoulder_y + 2.9 * self.fw])

    def rest(self, side: str) -> np.ndarray:
        dx = 2.0 * self.fw if side == "left" else -2.0 * self.fw
        return np.array([self.centre[0] + dx, self.height + 3.5 * self.fw])

    def hand(self, shape: str, palm_centre: np.ndarray, side: str, tilt: float) -> np.ndarray:
        """Hand landmarks in pixels, palm centre at ``palm_centre``, fingers up tilted by ``tilt`` radians."""
        points = hand_template(shape) - np.array([0.0, -0.55], dtype=np.float32)  # palm centre → origin
        if side == "left":
            points[:, 0] = -points[:, 0]
        rotation = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]], dtype=np.float32)
        return (points @ rotation.T) * self.palm + palm_centre


def _movement(name: str, phase: float, amplitude: float) -> np.ndarray:
    """Offset of the hand along a sign's movement at ``phase`` in [0, 1]."""
    angle = 2 * np.pi * 1.5 * phase
    if name == "up_down":
        return np.array([0.0, amplitude * np.sin(angle)])
    if name == "side_to_side":
        return np.array([amplitude * np.sin(angle), 0.0])
    if name == "circle":
        return amplitude * np.array([np.cos(2 * np.pi * phase) - 1, np.sin(2 * np.pi * phase)])
    return np.zeros(2)


def _timeline(signs: Sequence[str], rng: np.random.Generator, config: SynthSignConfig) -> list[dict]:
    """Per-frame keyframes: right/left palm targets, shapes, expression weight and labels."""
    frames: list[dict] = []
    rest = {"where": "rest", "right": "flat", "left": "flat", "face": "neutral", "sign": None}

    def hold(sign_word: str, n: int) -> None:
        for k in range(n):
            frames.append({"where": "sign", "word": sign_word, "phase": k / max(n - 1, 1),
                           "ramp": min(1.0, (k + 1) / 3, (n - k) / 2)})

    for _ in range(int(rng.integers(*config.rest_frames, endpoint=True))):
        frames.append(dict(rest))
    previous = None
    for word in signs:
        for k in range(config.transition_frames + (2 if previous is None else 0)):
            frames.append({"where": "move", "from": previous, "to": word,
                           "t": (k + 1) / (config.transition_frames + (2 if previous is None else 0) + 1)})
        hold(word, int(rng.integers(*config.hold_frames, endpoint=True)))
        previous = word
    for k in range(config.transition_frames + 2):
        frames.append({"where": "move", "from": previous, "to": None, "t": (k + 1) / (config.transition_frames + 3)})
    for _ in range(int(rng.integers(*config.rest_frames, endpoint=True))):
        frames.append(dict(rest))
    return frames


def render_clip(
    sentence: Sentence, rng: np.random.Generator, config: SynthSignConfig = SynthSignConfig(), with_masks: bool = False
) -> RenderedClip:
    """Render one sentence: frames, landmarks in MediaPipe Holistic layout (pixels) and per-frame labels."""
    look = sample_appearance(rng)
    body = _Body(look, config)
    template = load_face_template()
    timeline = _timeline(sentence.signs, rng, config)
    n = len(timeline)
    height, width = config.height, config.width
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    masks = np.zeros((n, 3, height, width), dtype=np.uint8) if with_masks else None
    pose = np.zeros((n, 33, 3), dtype=np.float32)
    face = np.zeros((n, 468, 2), dtype=np.float32)
    hands = {"left": np.zeros((n, 21, 2), dtype=np.float32), "right": np.zeros((n, 21, 2), dtype=np.float32)}
    labels = {key: np.full(n, -1, dtype=np.int64) for key in ("right_handshape", "left_handshape", "expression", "location")}
    amplitude = 0.55 * body.fw
    head_jitter = rng.normal(0, 0.02 * body.fw, size=(n, 2)).cumsum(0) * 0.3

    def right_target(word: str | None, phase: float = 0.0) -> np.ndarray:
        if word is None:
            return body.rest("right")
        sign = VOCABULARY[word]
        return body.location(sign.location) + _movement(sign.movement, phase, amplitude)

    def left_target(word: str | None) -> np.ndarray:
        return body.rest("left") if word is None else body.left_base()

    for i, key in enumerate(timeline):
        expression, strength = "neutral", 0.0
        if key["where"] == "rest":
            right, left = body.rest("right"), body.rest("left")
            right_shape = left_shape = "flat"
        elif key["where"] == "sign":
            sign = VOCABULARY[key["word"]]
            right, left = right_target(key["word"], key["phase"]), left_target(key["word"])
            right_shape, left_shape = sign.right, sign.left
            expression, strength = sign.face, key["ramp"]
            labels["location"][i] = LOCATIONS.index(sign.location)
        else:
            t = 0.5 - 0.5 * np.cos(np.pi * key["t"])  # ease in and out
            start_r, end_r = right_target(key["from"], 1.0), right_target(key["to"], 0.0)
            right = (1 - t) * start_r + t * end_r
            left = (1 - t) * left_target(key["from"]) + t * left_target(key["to"])
            source = key["from"] if t < 0.5 else key["to"]
            right_shape = VOCABULARY[source].right if source else "flat"
            left_shape = VOCABULARY[source].left if source else "flat"
        head_centre = body.centre + head_jitter[i]
        face_points = template + strength * expression_offsets(template, expression)
        face[i] = face_points * body.fw + head_centre
        hands["right"][i] = body.hand(right_shape, right, "right", tilt=0.25)
        hands["left"][i] = body.hand(left_shape, left, "left", tilt=-0.2)
        elbows = np.stack([
            _arm_elbow(body.shoulders[0], hands["left"][i][0], body.upper_arm, body.forearm, outward=+1),
            _arm_elbow(body.shoulders[1], hands["right"][i][0], body.upper_arm, body.forearm, outward=-1),
        ])
        pose[i] = _pose_landmarks(face[i], body, elbows, hands["left"][i], hands["right"][i])
        frames[i] = look.background
        state = SignerState(face[i], hands["right"][i], hands["left"][i], body.shoulders, elbows)
        draw_signer(frames[i], state, look, None if masks is None else masks[i])
        labels["expression"][i] = EXPRESSIONS.index(expression) if strength >= 0.5 or expression == "neutral" else -1
        labels["right_handshape"][i] = HANDSHAPES.index(right_shape)
        labels["left_handshape"][i] = HANDSHAPES.index(left_shape)

    present = {"pose": np.ones(n, dtype=bool), "face": _visible(face, width, height, 0.9)}
    for side in ("left", "right"):
        present[f"{side}_hand"] = _visible(hands[side], width, height, config.visible_fraction)
        label = labels[f"{side}_handshape"]
        label[~present[f"{side}_hand"]] = -1
    landmarks = {
        "pose": pose,
        "face": np.where(present["face"][:, None, None], face, np.nan).astype(np.float32),
        "left_hand": np.where(present["left_hand"][:, None, None], hands["left"], np.nan).astype(np.float32),
        "right_hand": np.where(present["right_hand"][:, None, None], hands["right"], np.nan).astype(np.float32),
        **{f"present_{part}": value for part, value in present.items()},
        **labels,
    }
    return RenderedClip(frames=frames, landmarks=landmarks, masks=masks)


def _visible(points: np.ndarray, width: int, height: int, fraction: float) -> np.ndarray:
    inside = (points[..., 0] >= 0) & (points[..., 0] < width) & (points[..., 1] >= 0) & (points[..., 1] < height)
    return inside.mean(-1) >= fraction


def _pose_landmarks(face: np.ndarray, body: _Body, elbows: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """33 MediaPipe Pose landmarks (x, y, visibility) consistent with the drawn face, arms and hands."""
    regions = face_regions()
    pose = np.zeros((33, 3), dtype=np.float32)
    eye = {side: face[regions[f"{side}_eye"]] for side in ("left", "right")}
    oval = face[regions["oval"]]
    eye_y = (eye["left"][:, 1].mean() + eye["right"][:, 1].mean()) / 2
    points = {
        0: face[1],  # nose tip
        1: eye["left"][np.argmin(eye["left"][:, 0])], 2: eye["left"].mean(0), 3: eye["left"][np.argmax(eye["left"][:, 0])],
        4: eye["right"][np.argmax(eye["right"][:, 0])], 5: eye["right"].mean(0), 6: eye["right"][np.argmin(eye["right"][:, 0])],
        7: (oval[:, 0].max(), eye_y + 0.2 * body.fw), 8: (oval[:, 0].min(), eye_y + 0.2 * body.fw),
        9: face[291], 10: face[61],  # mouth corners: signer's left, right
        11: body.shoulders[0], 12: body.shoulders[1], 13: elbows[0], 14: elbows[1],
        15: left[0], 16: right[0], 17: left[17], 18: right[17], 19: left[8], 20: right[8], 21: left[4], 22: right[4],
        23: (body.shoulders[0][0] - 0.3 * body.fw, body.shoulder_y + 7 * body.fw),
        24: (body.shoulders[1][0] + 0.3 * body.fw, body.shoulder_y + 7 * body.fw),
    }
    for index, (x, y) in points.items():
        inside = 0 <= x < body.width and 0 <= y < body.height
        pose[index] = (x, y, 0.99 if inside else 0.2)
    for index in range(25, 33):  # legs: far below the frame, not visible
        side = -1 if index % 2 else 1
        pose[index] = (body.centre[0] + side * body.fw, body.shoulder_y + (9 + (index - 25) // 2 * 3) * body.fw, 0.0)
    return pose


# ------------------------------------------------------------------------------------------------ writing files


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write RGB frames as H.264 in mp4, bit-exact (no timestamps or encoder strings that vary between runs)."""
    import av
    from fractions import Fraction

    with av.open(str(path), mode="w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"crf": "20", "preset": "ultrafast", "threads": "1", "flags": "+bitexact"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so the file is byte-identical for equal arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def clip_seed(seed: int, index: int) -> np.random.Generator:
    """Each clip has its own random stream, so clip i is the same whatever the number of clips."""
    digest = hashlib.sha256(f"synthsign:{seed}:{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def generate(
    out: str | Path,
    clips: int,
    seed: int = 0,
    config: SynthSignConfig = SynthSignConfig(),
    preview: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Path:
    """Render ``clips`` SynthSign clips into ``out``; returns the path of ``manifest.jsonl``.

    ``out`` receives ``videos/*.mp4``, ``landmarks/*.npz``, ``manifest.jsonl`` (one JSON object per clip:
    clip_id, video, landmarks, start, end, text, split, fps, frames, width, height; paths relative to ``out``),
    ``synthsign.json`` (label names and generation settings) and, with ``preview``, ``preview.png``.
    ``workers`` > 1 renders clips in that many processes; the files are the same either way.
    """
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "landmarks").mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, index, split, config) for index, split in enumerate(assign_splits(clips))]
    rows = []
    if workers > 1 and clips > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for row in pool.imap(_write_clip, jobs):
                rows.append(row)
                if progress is not None:
                    progress(len(rows))
    else:
        for job in jobs:
            rows.append(_write_clip(job))
            if progress is not None:
                progress(len(rows))
    (out / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    info = {
        "seed": seed, "clips": clips, "config": asdict(config), "handshapes": HANDSHAPES, "expressions": EXPRESSIONS,
        "locations": LOCATIONS, "movements": MOVEMENTS,
        "vocabulary": {word: asdict(sign) for word, sign in VOCABULARY.items()},
    }
    (out / "synthsign.json").write_text(json.dumps(info, indent=2) + "\n")
    if preview:
        previews = []
        for job in jobs[:3]:  # re-rendered (cheap) rather than kept in memory for the whole set
            rng = clip_seed(seed, job[2])
            sentence = sample_sentence(rng, job[3])
            previews.append((render_clip(sentence, rng, config), sentence.text))
        save_preview(out / "preview.png", previews)
    return out / "manifest.jsonl"


def _write_clip(job: tuple[Path, int, int, str, SynthSignConfig]) -> dict:
    """Render and write clip ``index``; returns its manifest row."""
    out, seed, index, split, config = job
    rng = clip_seed(seed, index)
    sentence = sample_sentence(rng, split)
    clip = render_clip(sentence, rng, config)
    clip_id = f"synthsign-{seed}-{index:05d}"
    write_video(out / "videos" / f"{clip_id}.mp4", clip.frames, config.fps)
    write_npz(out / "landmarks" / f"{clip_id}.npz", clip.landmarks)
    return {
        "clip_id": clip_id, "video": f"videos/{clip_id}.mp4", "landmarks": f"landmarks/{clip_id}.npz",
        "start": None, "end": None, "text": sentence.text, "split": split, "fps": config.fps,
        "frames": len(clip.frames), "width": config.width, "height": config.height, "signs": sentence.signs,
    }


def draw_landmarks(frame: np.ndarray, landmarks: dict[str, np.ndarray], index: int) -> np.ndarray:
    """A copy of ``frame`` with the landmarks of frame ``index`` drawn on it (pose green, face white, hands)."""
    image = frame.copy()
    colours = {"face": (255, 255, 255), "left_hand": (255, 80, 80), "right_hand": (80, 160, 255)}
    for part, colour in colours.items():
        if landmarks[f"present_{part}"][index]:
            for x, y in landmarks[part][index]:
                cv2.circle(image, (int(x), int(y)), 1, colour, -1)
    for x, y, visibility in landmarks["pose"][index][:23]:
        if visibility > 0.5:
            cv2.circle(image, (int(x), int(y)), 2, (60, 230, 60), -1)
    return image


def save_preview(path: Path, clips: Sequence[tuple[RenderedClip, str]], per_clip: int = 5) -> None:
    """Contact sheet: a row of frames per clip, every second one with its landmarks drawn, captioned."""
    rows = []
    for clip, text in clips:
        picks = np.linspace(0, len(clip.frames) - 1, per_clip + 2)[1:-1].round().astype(int)
        tiles = []
        for k, i in enumerate(picks):
            tile = draw_landmarks(clip.frames[i], clip.landmarks, i) if k % 2 else clip.frames[i].copy()
            cv2.putText(tile, f"frame {i}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        row = np.concatenate(tiles, axis=1)
        caption = np.full((22, row.shape[1], 3), 20, dtype=np.uint8)
        cv2.putText(caption, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
        rows.append(np.concatenate([caption, row], axis=0))
    sheet = np.concatenate(rows, axis=0) if rows else np.zeros((10, 10, 3), np.uint8)
    cv2.imwrite(str(path), sheet[..., ::-1])


# ------------------------------------------------------------------------------------------------ command


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """``signmusketeers synth``: render a SynthSign set."""
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--clips", type=int, default=200, help="number of clips (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; equal seeds give byte-identical files")
    parser.add_argument("--width", type=int, default=SynthSignConfig.width)
    parser.add_argument("--height", type=int, default=SynthSignConfig.height)
    parser.add_argument("--fps", type=float, default=SynthSignConfig.fps)
    parser.add_argument("--preview", action="store_true", help="also write preview.png, a contact sheet of frames")
    parser.add_argument("--workers", type=int, default=1, help="render in this many processes (same files)")
    return _run


def _run(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    if args.clips < 1:
        raise SystemExit("signmusketeers synth: --clips must be at least 1")
    if args.width < 96 or args.height < 96:
        raise SystemExit("signmusketeers synth: --width and --height must be at least 96 pixels")
    config = SynthSignConfig(width=args.width, height=args.height, fps=args.fps)
    with Progress(transient=True) as bar:
        task = bar.add_task("rendering SynthSign", total=args.clips)
        manifest = generate(args.out, args.clips, args.seed, config, preview=args.preview,
                            progress=lambda done: bar.update(task, completed=done), workers=args.workers)
    print(f"wrote {args.clips} clips to {args.out} (manifest {manifest})")
    if args.preview:
        print(f"preview: {Path(args.out) / 'preview.png'}")
    return 0
