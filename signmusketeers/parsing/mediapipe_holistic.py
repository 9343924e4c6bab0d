"""MediaPipe Holistic through the legacy solution API (``mp.solutions.holistic``), with the models bundled in the
mediapipe 0.10.21 wheel (Python <= 3.12): the parser's offline default landmark source."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signmusketeers.parsing.landmarks import PARTS, POINTS, FrameLandmarks, check_region, region_pixels
from signmusketeers.parsing.native_logs import hold_native_logs, release_native_logs

# The legacy Holistic graph's pose landmark model per complexity; only "full" (1) ships in the mediapipe wheel.
_POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


def _to_pixels(landmark_list, width: int, height: int, x0: float, y0: float, with_visibility: bool) -> np.ndarray:
    values = [
        (point.x * width + x0, point.y * height + y0, point.visibility)
        if with_visibility
        else (point.x * width + x0, point.y * height + y0)
        for point in landmark_list.landmark
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
        verbose: let MediaPipe's and TF-Lite's own log lines through to stderr; by default they are dropped while
            the graph is open (:mod:`signmusketeers.parsing.native_logs`), every other line still shows.
    """

    def __init__(
        self,
        model_complexity: int = 1,
        region_of_interest: tuple[float, float, float, float] | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        verbose: bool = False,
    ) -> None:
        if model_complexity not in _POSE_MODELS:
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        self.model_complexity = model_complexity
        self.region_of_interest = check_region(region_of_interest)
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.verbose = verbose
        self._graph = None
        self._fresh = True

    def _holistic(self):
        if self._graph is None:
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
            if not self.verbose:
                hold_native_logs()  # until close(): the graph's threads log while models load, after this returns
            try:
                self._graph = mp.solutions.holistic.Holistic(
                    static_image_mode=False,
                    model_complexity=self.model_complexity,
                    smooth_landmarks=True,
                    min_detection_confidence=self.min_detection_confidence,
                    min_tracking_confidence=self.min_tracking_confidence,
                )
            except BaseException:
                if not self.verbose:
                    release_native_logs()
                raise
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
        found = {
            "pose": result.pose_landmarks,
            "face": result.face_landmarks,
            "left_hand": result.left_hand_landmarks,
            "right_hand": result.right_hand_landmarks,
        }
        world = result.pose_world_landmarks
        return FrameLandmarks(
            pose=_to_pixels(result.pose_landmarks, w, h, x0, y0, True) if result.pose_landmarks else None,
            face=_to_pixels(result.face_landmarks, w, h, x0, y0, False)[:468] if result.face_landmarks else None,
            left_hand=_to_pixels(result.left_hand_landmarks, w, h, x0, y0, False)
            if result.left_hand_landmarks
            else None,
            right_hand=(
                _to_pixels(result.right_hand_landmarks, w, h, x0, y0, False) if result.right_hand_landmarks else None
            ),
            depth={
                part: np.asarray([point.z for point in found[part].landmark][: POINTS[part]], dtype=np.float32)
                for part in PARTS
                if found[part]
            }
            or None,
            pose_world=(
                np.asarray([(p.x, p.y, p.z, p.visibility) for p in world.landmark], dtype=np.float32) if world else None
            ),
        )

    def close(self) -> None:
        """Close the graph (a later frame opens a new one) and give stderr back to MediaPipe's log lines."""
        if self._graph is not None:
            graph, self._graph = self._graph, None
            try:
                graph.close()
            finally:
                if not self.verbose:
                    release_native_logs()

    def __getstate__(self) -> dict:
        # A MediaPipe graph cannot cross processes: each worker builds its own on first use.
        return {**self.__dict__, "_graph": None, "_fresh": True}
