"""MediaPipe Tasks ``HolisticLandmarker`` from a ``.task`` model file (mediapipe >= 1.2, Python 3.9-3.14, numpy 2),
and :func:`write_holistic_task`, which assembles such a file from the models of the mediapipe 0.10.21 wheel."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from signmusketeers.parsing.landmarks import FrameLandmarks, check_region, region_pixels
from signmusketeers.parsing.native_logs import hold_native_logs, release_native_logs

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
        verbose: let MediaPipe's and TF-Lite's own log lines through to stderr (by default they are dropped while a
            landmarker is open; :mod:`signmusketeers.parsing.native_logs`).
    """

    FRAME_MS = 33  # timestamp step per frame, as the legacy solution API simulates it (its smoothing filters use it)

    def __init__(
        self,
        model: str | os.PathLike,
        region_of_interest: tuple[float, float, float, float] | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        verbose: bool = False,
    ) -> None:
        self.model = str(model)
        if not Path(self.model).is_file():
            raise ValueError(f"{self.model}: no such HolisticLandmarker model file")
        self.region_of_interest = check_region(region_of_interest)
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.verbose = verbose
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
        if not self.verbose:
            hold_native_logs()  # until close(), as for MediaPipeHolistic
        try:
            landmarker = vision.HolisticLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as error:
            if not self.verbose:
                release_native_logs()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{self.model}: not a usable HolisticLandmarker model ({reason})") from None
        except BaseException:
            if not self.verbose:
                release_native_logs()
            raise
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
            rows = [
                (p.x * w + x0, p.y * h + y0, p.visibility or 0.0) if with_visibility else (p.x * w + x0, p.y * h + y0)
                for p in points
            ]
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
            landmarker, self._landmarker = self._landmarker, None
            try:
                landmarker.close()
            finally:
                if not self.verbose:
                    release_native_logs()

    def __getstate__(self) -> dict:
        # A landmarker cannot cross processes: each worker creates its own at its first clip.
        return {**self.__dict__, "_landmarker": None, "_timestamp": 0}
