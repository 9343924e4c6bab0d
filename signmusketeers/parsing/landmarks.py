"""Landmark sources: where the face, hand and pose landmarks of each frame come from.

Every source gives the same layout, in **pixel** coordinates of the full frame (x right, y down;
MediaPipe's normalised x/y scaled by width/height, so distances mean the same along both axes of a non-square
frame): ``pose (33, 3)`` (x, y, visibility), ``face (468, 2)``, ``left_hand (21, 2)``, ``right_hand (21, 2)``, a
part being ``None`` when it was not found. Left/right are the signer's own hands (MediaPipe's convention: the
signer's left hand is on the right of a front-facing image).

* :class:`MediaPipeHolistic` — MediaPipe Holistic (legacy ``mp.solutions.holistic``) in video (tracking) mode, with
  the models bundled in the mediapipe 0.10.21 wheel (Python ≤ 3.12; the offline default);
* :class:`MediaPipeTasksHolistic` — MediaPipe Tasks ``HolisticLandmarker`` from a ``.task`` model file given by path
  (mediapipe ≥ 1.2, Python 3.9–3.14, numpy 2; :func:`write_holistic_task` assembles one from the 0.10.21 wheel);
* :class:`PrecomputedLandmarks` — landmarks stored per clip in an ``.npz`` (SynthSign's files);
* :class:`~signmusketeers.parsing.posefile.PoseFileLandmarks` — a ``.pose`` file (pose-format, MediaPipe Holistic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
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


# The legacy Holistic graph's pose landmark model per complexity; only "full" (1) ships in the mediapipe wheel.
_POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


def _to_pixels(landmark_list, width: int, height: int, x0: float, y0: float, with_visibility: bool) -> np.ndarray:
    values = [
        (l.x * width + x0, l.y * height + y0, l.visibility) if with_visibility else (l.x * width + x0, l.y * height + y0)
        for l in landmark_list.landmark
    ]
    return np.asarray(values, dtype=np.float32)


class MediaPipeHolistic:
    """MediaPipe Holistic (legacy solution API) in video mode, one graph per instance (one per worker process).

    Args:
        model_complexity: the pose model; only 1 is bundled with mediapipe 0.10.21 — 0 and 2 would be downloaded
            at first use, which fails offline, so they are refused unless their model file is already installed.
        region_of_interest: ``(x0, y0, x1, y1)`` as fractions of the frame width/height: only this region is shown
            to MediaPipe (pick the signer when several people are in view); landmarks are returned in full-frame
            pixels.
        min_detection_confidence, min_tracking_confidence: MediaPipe's thresholds (its defaults).
    """

    def __init__(
        self,
        model_complexity: int = 1,
        region_of_interest: tuple[float, float, float, float] | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if model_complexity not in _POSE_MODELS:
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        self.model_complexity = model_complexity
        self.region_of_interest = check_region(region_of_interest)
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._graph = None
        self._fresh = True

    def _holistic(self):
        if self._graph is None:
            # MediaPipe's C++ logging prints a screenful per graph; keep warnings and errors only.
            os.environ.setdefault("GLOG_minloglevel", "2")
            import mediapipe as mp

            if not hasattr(mp, "solutions"):
                raise ValueError(
                    f"mediapipe {getattr(mp, '__version__', '?')} has no bundled Holistic models (legacy solutions); "
                    "give a HolisticLandmarker .task model file (--landmarks-model FILE.task, MediaPipeTasksHolistic)"
                )
            model = Path(mp.__file__).parent / "modules" / "pose_landmark" / _POSE_MODELS[self.model_complexity]
            if not model.exists():
                raise ValueError(
                    f"model_complexity={self.model_complexity} needs {model.name}, which this mediapipe wheel does not "
                    "bundle (MediaPipe would download it at first use, which fails offline); use model_complexity=1"
                )
            self._graph = mp.solutions.holistic.Holistic(
                static_image_mode=False,
                model_complexity=self.model_complexity,
                smooth_landmarks=True,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
            self._fresh = True
        return self._graph

    def start_clip(self, path: str, width: int, height: int) -> None:
        graph = self._holistic()
        if not self._fresh:
            graph.reset()  # tracking state must not leak from one clip into the next
        self._fresh = True

    def __call__(self, image: np.ndarray, frame_index: int) -> FrameLandmarks:
        height, width = image.shape[:2]
        x0 = y0 = 0
        if self.region_of_interest is not None:
            x0, y0, x1, y1 = region_pixels(self.region_of_interest, width, height)
            image = image[y0:y1, x0:x1]
        self._fresh = False
        result = self._holistic().process(np.ascontiguousarray(image))
        h, w = image.shape[:2]
        found = {"pose": result.pose_landmarks, "face": result.face_landmarks,
                 "left_hand": result.left_hand_landmarks, "right_hand": result.right_hand_landmarks}
        world = result.pose_world_landmarks
        return FrameLandmarks(
            pose=_to_pixels(result.pose_landmarks, w, h, x0, y0, True) if result.pose_landmarks else None,
            face=_to_pixels(result.face_landmarks, w, h, x0, y0, False)[:468] if result.face_landmarks else None,
            left_hand=_to_pixels(result.left_hand_landmarks, w, h, x0, y0, False) if result.left_hand_landmarks else None,
            right_hand=(
                _to_pixels(result.right_hand_landmarks, w, h, x0, y0, False) if result.right_hand_landmarks else None
            ),
            depth={part: np.asarray([l.z for l in found[part].landmark][: POINTS[part]], dtype=np.float32)
                   for part in PARTS if found[part]} or None,
            pose_world=(np.asarray([(l.x, l.y, l.z, l.visibility) for l in world.landmark], dtype=np.float32)
                        if world else None),
        )

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def __getstate__(self) -> dict:
        # A MediaPipe graph cannot cross processes: each worker builds its own on first use.
        return {**self.__dict__, "_graph": None, "_fresh": True}


# HolisticLandmarker bundle entry → the legacy Holistic model in the mediapipe 0.10.21 wheel holding the same network,
# with the input range its legacy graph feeds it ((0, 1) or (-1, 1)), which the Tasks graph reads from the metadata.
HOLISTIC_TASK_MODELS = {
    "pose_detector.tflite": ("pose_detection/pose_detection.tflite", (-1.0, 1.0)),
    "pose_landmarks_detector.tflite": ("pose_landmark/pose_landmark_full.tflite", (0.0, 1.0)),
    "face_detector.tflite": ("face_detection/face_detection_short_range.tflite", (-1.0, 1.0)),
    "face_landmarks_detector.tflite": ("face_landmark/face_landmark.tflite", (0.0, 1.0)),
    "hand_landmarks_detector.tflite": ("hand_landmark/hand_landmark_full.tflite", (0.0, 1.0)),
    "hand_roi_refinement.tflite": ("holistic_landmark/hand_recrop.tflite", (0.0, 1.0)),
}


def write_holistic_task(path: str | os.PathLike) -> Path:
    """Assemble a ``holistic_landmarker.task`` for :class:`MediaPipeTasksHolistic` from the Holistic models that
    the mediapipe 0.10.21 wheel bundles (run it where that wheel is installed; copy the file anywhere).

    A ``.task`` file is a zip of TFLite models under the names the Tasks graph looks for; the Tasks graph also
    needs each model's input normalisation in its TFLite metadata, which the legacy files lack, so it is added
    (:data:`HOLISTIC_TASK_MODELS`). Face blendshapes are left out (not used here).
    """
    import zipfile

    import mediapipe as mp

    try:
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
    except ImportError as error:
        raise ValueError(f"this mediapipe cannot write TFLite metadata ({error})") from None
    modules = Path(mp.__file__).parent / "modules"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as bundle:
        for name, (source, (low, high)) in HOLISTIC_TASK_MODELS.items():
            if not (modules / source).exists():
                temporary.unlink()
                raise ValueError(f"mediapipe {mp.__version__} does not bundle {source}; mediapipe 0.10.21 does")
            writer = metadata_writer.MetadataWriter.create(bytearray((modules / source).read_bytes()))
            writer.add_general_info(name.removesuffix(".tflite"), "MediaPipe Holistic model (mediapipe 0.10.21)")
            # (pixel - mean) / std maps 0..255 onto (low, high)
            writer.add_image_input(norm_mean=[-low * 255 / (high - low)], norm_std=[255 / (high - low)])
            model, _ = writer.populate()
            bundle.writestr(name, bytes(model))
    temporary.replace(path)
    return path


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


class MediaPipeTasksHolistic:
    """MediaPipe Tasks ``HolisticLandmarker`` in video mode, from a ``.task`` model bundle given by path.

    For Python versions where mediapipe 0.10.21 (and its bundled Holistic models) does not install: mediapipe ≥ 1.2
    ships only the Tasks API, whose models are separate files. Use Google's published ``holistic_landmarker.task``
    or one made by :func:`write_holistic_task` from the 0.10.21 wheel's models. Landmarks come out in the layout of
    :class:`MediaPipeHolistic` (the Tasks face mesh has 478 points; the first 468 are the legacy mesh).

    mediapipe 0.10.x is refused: its Python ``HolisticLandmarker`` aborts the whole process (a failed C++ check)
    on the first frame where the face is found but a hand is not.

    Args:
        model: path of the ``.task`` file.
        region_of_interest: as for :class:`MediaPipeHolistic`.
        min_detection_confidence, min_tracking_confidence: the pose and face detection / landmark thresholds
            (MediaPipe's defaults, 0.5).
    """

    FRAME_MS = 33  # timestamp step per frame, as the legacy solution API simulates it (its smoothing filters use it)

    def __init__(
        self,
        model: str | os.PathLike,
        region_of_interest: tuple[float, float, float, float] | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        self.model = str(model)
        if not Path(self.model).is_file():
            raise ValueError(f"{self.model}: no such HolisticLandmarker model file")
        self.region_of_interest = check_region(region_of_interest)
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._landmarker = None
        self._timestamp = 0
        self._check_version()  # refuse now, not at the first frame of every clip

    def _check_version(self) -> None:
        import mediapipe as mp

        version = getattr(mp, "__version__", "0")
        if _version_tuple(version) < (1, 2):
            raise ValueError(
                f"{self.model}: the MediaPipe Tasks HolisticLandmarker needs mediapipe >= 1.2 (installed: {version}, "
                "whose Python HolisticLandmarker aborts the process when a hand is not found); with this mediapipe "
                "use the bundled models (MediaPipeHolistic, the default)"
            )

    def _create(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        self._check_version()
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.HolisticLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=self.model),
            running_mode=vision.RunningMode.VIDEO,
            min_pose_detection_confidence=self.min_detection_confidence,
            min_face_detection_confidence=self.min_detection_confidence,
            min_pose_presence_confidence=self.min_tracking_confidence,
            min_face_presence_confidence=self.min_tracking_confidence,
            min_hand_landmarks_confidence=self.min_tracking_confidence,
        )
        try:
            landmarker = vision.HolisticLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{self.model}: not a usable HolisticLandmarker model ({reason})") from None
        return landmarker

    def start_clip(self, path: str, width: int, height: int) -> None:
        # Video mode needs increasing timestamps and keeps tracking state: a fresh landmarker per clip.
        self.close()
        self._landmarker = self._create()
        self._timestamp = 0

    def __call__(self, image: np.ndarray, frame_index: int) -> FrameLandmarks:
        import mediapipe as mp

        if self._landmarker is None:
            self._landmarker = self._create()
        height, width = image.shape[:2]
        x0 = y0 = 0
        if self.region_of_interest is not None:
            x0, y0, x1, y1 = region_pixels(self.region_of_interest, width, height)
            image = image[y0:y1, x0:x1]
        h, w = image.shape[:2]
        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        result = self._landmarker.detect_for_video(frame, self._timestamp)
        self._timestamp += self.FRAME_MS

        def pixels(points, with_visibility: bool = False) -> np.ndarray | None:
            if not points:
                return None
            rows = [(p.x * w + x0, p.y * h + y0, p.visibility or 0.0) if with_visibility else (p.x * w + x0, p.y * h + y0)
                    for p in points]
            return np.asarray(rows, dtype=np.float32)

        face = pixels(result.face_landmarks)
        return FrameLandmarks(
            pose=pixels(result.pose_landmarks, True),
            face=None if face is None else face[:468],
            left_hand=pixels(result.left_hand_landmarks),
            right_hand=pixels(result.right_hand_landmarks),
        )

    def finish_clip(self) -> None:
        """Close the clip's landmarker (the parser calls this after a clip's last frame): mediapipe 1.2's landmarker
        cannot be closed once the interpreter is shutting down, and complains at exit when it is still open."""
        self.close()

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __getstate__(self) -> dict:
        # A landmarker cannot cross processes: each worker creates its own at its first clip.
        return {**self.__dict__, "_landmarker": None, "_timestamp": 0}


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
        from .posefile import PoseFileLandmarks

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
