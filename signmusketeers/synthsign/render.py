"""Rendering a SynthSign clip: the signer's body, the timeline of signs and transitions, and the per-frame landmarks.

Landmarks are made in MediaPipe Holistic layout (33 pose, 468 face, 21 per hand) in pixel coordinates, so the frame
parser can read them instead of running MediaPipe (the landmark layout of :mod:`signmusketeers.parsing.landmarks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from signmusketeers.synthsign.face_template import face_regions, load_face_template
from signmusketeers.synthsign.figure import (
    Appearance,
    SignerState,
    arm_elbow,
    draw_signer,
    expression_offsets,
    hand_template,
    sample_appearance,
)
from signmusketeers.synthsign.vocabulary import EXPRESSIONS, HANDSHAPES, LOCATIONS, VOCABULARY, Sentence


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
    """One rendered clip: its frames, the arrays of its landmark file and, when asked, per-part pixel masks."""

    frames: np.ndarray  # uint8 (T, H, W, 3) RGB
    landmarks: dict[str, np.ndarray]  # the landmark npz contents (pose, face, hands, present_*, labels)
    masks: np.ndarray | None  # uint8 (T, 3, H, W): face, left hand, right hand pixels, when asked


class _Body:
    """Geometry of one clip's signer in pixels."""

    def __init__(self, look: Appearance, config: SynthSignConfig):
        self.width, self.height = config.width, config.height
        self.fw = look.face_half_width * config.width  # face half-width, the unit of the body
        self.centre = np.array([look.centre_x * config.width, look.head_y * config.height])
        self.shoulder_y = self.centre[1] + 2.3 * self.fw
        # signer's left shoulder is on the image right (a front-facing camera)
        self.shoulders = np.array(
            [[self.centre[0] + 2.3 * self.fw, self.shoulder_y], [self.centre[0] - 2.3 * self.fw, self.shoulder_y]]
        )
        self.upper_arm, self.forearm = 2.6 * self.fw, 2.5 * self.fw
        self.palm = 0.62 * self.fw

    def location(self, name: str) -> np.ndarray:
        """Target position of the right hand's palm centre."""
        cx, cy, fw, sy = self.centre[0], self.centre[1], self.fw, self.shoulder_y
        return np.array(
            {
                "temple": (cx - 1.7 * fw, cy - 0.7 * fw),
                "chin": (cx - 0.4 * fw, cy + 1.9 * fw),
                "chest": (cx - 0.4 * fw, sy + 1.6 * fw),
                "neutral": (cx - 1.5 * fw, sy + 2.6 * fw),
                "side": (cx - 3.6 * fw, sy + 1.2 * fw),
                "shoulder": (cx + 1.9 * fw, sy + 0.4 * fw),
            }[name]
        )

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
            frames.append(
                {
                    "where": "sign",
                    "word": sign_word,
                    "phase": k / max(n - 1, 1),
                    "ramp": min(1.0, (k + 1) / 3, (n - k) / 2),
                }
            )

    for _ in range(int(rng.integers(*config.rest_frames, endpoint=True))):
        frames.append(dict(rest))
    previous = None
    for word in signs:
        for k in range(config.transition_frames + (2 if previous is None else 0)):
            frames.append(
                {
                    "where": "move",
                    "from": previous,
                    "to": word,
                    "t": (k + 1) / (config.transition_frames + (2 if previous is None else 0) + 1),
                }
            )
        hold(word, int(rng.integers(*config.hold_frames, endpoint=True)))
        previous = word
    for k in range(config.transition_frames + 2):
        frames.append({"where": "move", "from": previous, "to": None, "t": (k + 1) / (config.transition_frames + 3)})
    for _ in range(int(rng.integers(*config.rest_frames, endpoint=True))):
        frames.append(dict(rest))
    return frames


def _frame_targets(body: _Body, key: dict, amplitude: float) -> tuple[np.ndarray, np.ndarray, str, str, str, float]:
    """At one timeline keyframe: right and left palm centres, their handshapes, the expression and its strength."""

    def right_target(word: str | None, phase: float = 0.0) -> np.ndarray:
        if word is None:
            return body.rest("right")
        sign = VOCABULARY[word]
        return body.location(sign.location) + _movement(sign.movement, phase, amplitude)

    def left_target(word: str | None) -> np.ndarray:
        return body.rest("left") if word is None else body.left_base()

    if key["where"] == "rest":
        return body.rest("right"), body.rest("left"), "flat", "flat", "neutral", 0.0
    if key["where"] == "sign":
        sign = VOCABULARY[key["word"]]
        right, left = right_target(key["word"], key["phase"]), left_target(key["word"])
        return right, left, sign.right, sign.left, sign.face, key["ramp"]
    t = 0.5 - 0.5 * np.cos(np.pi * key["t"])  # ease in and out
    start_r, end_r = right_target(key["from"], 1.0), right_target(key["to"], 0.0)
    right = (1 - t) * start_r + t * end_r
    left = (1 - t) * left_target(key["from"]) + t * left_target(key["to"])
    source = key["from"] if t < 0.5 else key["to"]
    right_shape = VOCABULARY[source].right if source else "flat"
    left_shape = VOCABULARY[source].left if source else "flat"
    return right, left, right_shape, left_shape, "neutral", 0.0


def render_clip(
    sentence: Sentence, rng: np.random.Generator, config: SynthSignConfig = SynthSignConfig(), with_masks: bool = False
) -> RenderedClip:
    """Render one sentence: frames, landmarks in MediaPipe Holistic layout (pixels) and per-frame labels."""
    look = sample_appearance(rng)
    body = _Body(look, config)
    template = load_face_template()
    timeline = _timeline(sentence.signs, rng, config)
    n = len(timeline)
    frames = np.empty((n, config.height, config.width, 3), dtype=np.uint8)
    masks = np.zeros((n, 3, config.height, config.width), dtype=np.uint8) if with_masks else None
    pose = np.zeros((n, 33, 3), dtype=np.float32)
    face = np.zeros((n, 468, 2), dtype=np.float32)
    hands = {"left": np.zeros((n, 21, 2), dtype=np.float32), "right": np.zeros((n, 21, 2), dtype=np.float32)}
    labels = {
        key: np.full(n, -1, dtype=np.int64) for key in ("right_handshape", "left_handshape", "expression", "location")
    }
    amplitude = 0.55 * body.fw
    head_jitter = rng.normal(0, 0.02 * body.fw, size=(n, 2)).cumsum(0) * 0.3

    for i, key in enumerate(timeline):
        right, left, right_shape, left_shape, expression, strength = _frame_targets(body, key, amplitude)
        if key["where"] == "sign":
            labels["location"][i] = LOCATIONS.index(VOCABULARY[key["word"]].location)
        head_centre = body.centre + head_jitter[i]
        face_points = template + strength * expression_offsets(template, expression)
        face[i] = face_points * body.fw + head_centre
        hands["right"][i] = body.hand(right_shape, right, "right", tilt=0.25)
        hands["left"][i] = body.hand(left_shape, left, "left", tilt=-0.2)
        elbows = np.stack(
            [
                arm_elbow(body.shoulders[0], hands["left"][i][0], body.upper_arm, body.forearm, outward=+1),
                arm_elbow(body.shoulders[1], hands["right"][i][0], body.upper_arm, body.forearm, outward=-1),
            ]
        )
        pose[i] = _pose_landmarks(face[i], body, elbows, hands["left"][i], hands["right"][i])
        frames[i] = look.background
        state = SignerState(face[i], hands["right"][i], hands["left"][i], body.shoulders, elbows)
        draw_signer(frames[i], state, look, None if masks is None else masks[i])
        labels["expression"][i] = EXPRESSIONS.index(expression) if strength >= 0.5 or expression == "neutral" else -1
        labels["right_handshape"][i] = HANDSHAPES.index(right_shape)
        labels["left_handshape"][i] = HANDSHAPES.index(left_shape)
    landmarks = _landmark_arrays(pose, face, hands, labels, config)
    return RenderedClip(frames=frames, landmarks=landmarks, masks=masks)


def _landmark_arrays(
    pose: np.ndarray,
    face: np.ndarray,
    hands: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    config: SynthSignConfig,
) -> dict[str, np.ndarray]:
    """The landmark file's arrays: parts outside the frame become NaN, marked absent, and lose their handshape label."""
    n, width, height = len(pose), config.width, config.height
    present = {"pose": np.ones(n, dtype=bool), "face": _visible(face, width, height, 0.9)}
    for side in ("left", "right"):
        present[f"{side}_hand"] = _visible(hands[side], width, height, config.visible_fraction)
        label = labels[f"{side}_handshape"]
        label[~present[f"{side}_hand"]] = -1
    return {
        "pose": pose,
        "face": np.where(present["face"][:, None, None], face, np.nan).astype(np.float32),
        "left_hand": np.where(present["left_hand"][:, None, None], hands["left"], np.nan).astype(np.float32),
        "right_hand": np.where(present["right_hand"][:, None, None], hands["right"], np.nan).astype(np.float32),
        **{f"present_{part}": value for part, value in present.items()},
        **labels,
    }


def _visible(points: np.ndarray, width: int, height: int, fraction: float) -> np.ndarray:
    inside = (points[..., 0] >= 0) & (points[..., 0] < width) & (points[..., 1] >= 0) & (points[..., 1] < height)
    return inside.mean(-1) >= fraction


def _pose_landmarks(
    face: np.ndarray, body: _Body, elbows: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """33 MediaPipe Pose landmarks (x, y, visibility) consistent with the drawn face, arms and hands."""
    regions = face_regions()
    pose = np.zeros((33, 3), dtype=np.float32)
    eye = {side: face[regions[f"{side}_eye"]] for side in ("left", "right")}
    oval = face[regions["oval"]]
    eye_y = (eye["left"][:, 1].mean() + eye["right"][:, 1].mean()) / 2
    points = {
        0: face[1],  # nose tip
        1: eye["left"][np.argmin(eye["left"][:, 0])],
        2: eye["left"].mean(0),
        3: eye["left"][np.argmax(eye["left"][:, 0])],
        4: eye["right"][np.argmax(eye["right"][:, 0])],
        5: eye["right"].mean(0),
        6: eye["right"][np.argmin(eye["right"][:, 0])],
        7: (oval[:, 0].max(), eye_y + 0.2 * body.fw),
        8: (oval[:, 0].min(), eye_y + 0.2 * body.fw),
        9: face[291],
        10: face[61],  # mouth corners: signer's left, right
        11: body.shoulders[0],
        12: body.shoulders[1],
        13: elbows[0],
        14: elbows[1],
        15: left[0],
        16: right[0],
        17: left[17],
        18: right[17],
        19: left[8],
        20: right[8],
        21: left[4],
        22: right[4],
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
