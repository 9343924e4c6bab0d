"""Frame parsing (paper §3.1): video → face / left-hand / right-hand crops, the 14-d pose vector and the
provenance of every box.

>>> from signmusketeers.parsing import FrameParser
>>> clip = FrameParser(crop_size=224).parse_video("clip.mp4")  # doctest: +SKIP
"""

from .boxes import LANDMARKS, POSE_FALLBACK, PREVIOUS, PROVENANCE_NAMES, SHIFTED, BoxTracker, crop_box
from .landmarks import ClipLandmarks, FrameLandmarks, LandmarkSource, MediaPipeHolistic, PrecomputedLandmarks
from .landmarks import MediaPipeTasksHolistic, write_holistic_task
from .parser import FrameParser, ParsedClip, ParsedFrame, ParseError
from .pose import normalise_pose
from .posefile import PoseFileError, PoseFileLandmarks, read_pose_file, write_pose_file
from .video import VideoError, read_frames

__all__ = [
    "BoxTracker",
    "ClipLandmarks",
    "FrameLandmarks",
    "FrameParser",
    "LANDMARKS",
    "LandmarkSource",
    "MediaPipeHolistic",
    "MediaPipeTasksHolistic",
    "POSE_FALLBACK",
    "PREVIOUS",
    "PROVENANCE_NAMES",
    "ParseError",
    "ParsedClip",
    "PoseFileError",
    "PoseFileLandmarks",
    "ParsedFrame",
    "PrecomputedLandmarks",
    "SHIFTED",
    "VideoError",
    "crop_box",
    "normalise_pose",
    "read_frames",
    "read_pose_file",
    "write_pose_file",
    "write_holistic_task",
]
