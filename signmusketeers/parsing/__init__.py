"""Frame parsing (paper §3.1): video → face / left-hand / right-hand crops, the 14-d pose vector and the
provenance of every box.

>>> from signmusketeers.parsing import FrameParser
>>> clip = FrameParser(crop_size=224).parse_video("clip.mp4")  # doctest: +SKIP
"""

from signmusketeers.lazy import lazy_exports

_LAZY = {
    "BoxTracker": "signmusketeers.parsing.boxes",
    "LANDMARKS": "signmusketeers.parsing.boxes",
    "POSE_FALLBACK": "signmusketeers.parsing.boxes",
    "PREVIOUS": "signmusketeers.parsing.boxes",
    "PROVENANCE_NAMES": "signmusketeers.parsing.boxes",
    "SHIFTED": "signmusketeers.parsing.boxes",
    "crop_box": "signmusketeers.parsing.boxes",
    "ClipLandmarks": "signmusketeers.parsing.landmarks",
    "FrameLandmarks": "signmusketeers.parsing.landmarks",
    "LandmarkSource": "signmusketeers.parsing.landmarks",
    "PrecomputedLandmarks": "signmusketeers.parsing.landmarks",
    "MediaPipeHolistic": "signmusketeers.parsing.mediapipe_holistic",
    "MediaPipeTasksHolistic": "signmusketeers.parsing.mediapipe_tasks",
    "write_holistic_task": "signmusketeers.parsing.mediapipe_tasks",
    "FrameParser": "signmusketeers.parsing.parser",
    "ParseError": "signmusketeers.parsing.parser",
    "ParsedClip": "signmusketeers.parsing.parser",
    "ParsedFrame": "signmusketeers.parsing.parser",
    "normalise_pose": "signmusketeers.parsing.pose",
    "PoseFileError": "signmusketeers.parsing.posefile",
    "PoseFileLandmarks": "signmusketeers.parsing.posefile",
    "read_pose_file": "signmusketeers.parsing.posefile",
    "write_pose_file": "signmusketeers.parsing.posefile",
    "VideoError": "signmusketeers.parsing.video",
    "read_frames": "signmusketeers.parsing.video",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
