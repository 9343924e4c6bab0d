"""Frame parsing (paper §3.1): video → face / left-hand / right-hand crops, the 14-d pose vector and the
provenance of every box.

>>> from signmusketeers.parsing import FrameParser
>>> clip = FrameParser(crop_size=224).parse_video("clip.mp4")  # doctest: +SKIP
"""

from signmusketeers.parsing.boxes import LANDMARKS, POSE_FALLBACK, PREVIOUS, PROVENANCE_NAMES, SHIFTED, BoxTracker
from signmusketeers.parsing.boxes import crop_box
from signmusketeers.parsing.landmarks import ClipLandmarks, FrameLandmarks, LandmarkSource, PrecomputedLandmarks
from signmusketeers.parsing.mediapipe_holistic import MediaPipeHolistic
from signmusketeers.parsing.mediapipe_tasks import MediaPipeTasksHolistic, write_holistic_task
from signmusketeers.parsing.parser import FrameParser, ParsedClip, ParsedFrame, ParseError
from signmusketeers.parsing.pose import normalise_pose
from signmusketeers.parsing.posefile import PoseFileError, PoseFileLandmarks, read_pose_file, write_pose_file
from signmusketeers.parsing.video import VideoError, read_frames

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
