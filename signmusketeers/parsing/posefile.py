"""``.pose`` files (the ``pose-format`` package of the sign-language-processing ecosystem) in and out.

The layout is the one ``video_to_pose`` writes for MediaPipe Holistic (``pose_format.utils.holistic``): one person,
components ``POSE_LANDMARKS`` (33), ``FACE_LANDMARKS`` (468, or 478 with refined irises), ``LEFT_HAND_LANDMARKS``
(21), ``RIGHT_HAND_LANDMARKS`` (21) and ``POSE_WORLD_LANDMARKS`` (33), each point ``x, y, z`` with a confidence;
``x``/``y`` in pixels of the frame (MediaPipe's normalised values × width / height), ``z`` MediaPipe's raw relative
depth; the header holds the frame's width and height and the body the frame rate. A part that was not found in a
frame is all zeros with confidence 0; a found face or hand has confidence 1 on every point and the pose has each
landmark's visibility as its confidence. ``LEFT``/``RIGHT`` are the signer's own hands, as in our landmarks.

The mapping to our landmarks (:class:`~signmusketeers.parsing.landmarks.ClipLandmarks`, pixels, NaN where absent)
is exact both ways: a part is present in a frame when any of its points has a non-zero confidence; the pose's
``(x, y, visibility)`` are the file's ``x, y`` and confidence, the face's first 468 points (the irises are not part
of our face layout) and the hands' points are ``x, y``; every ``z`` is kept in ``ClipLandmarks.depth``.

Frames: a ``.pose`` read as a landmark source must hold **every** frame of the video at its frame rate (what
``video_to_pose`` writes); a decoded frame's index picks the ``.pose`` frame, so clips cut from a longer video
(How2Sign segments) and strided parsing read the right frames. A file whose size, frame rate or frame count
disagrees with the video is refused in one line. Files written by ``parse --poses-out`` hold the frames the parse
kept, at ``fps / stride``: with ``--stride 1`` on whole videos they are such full files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .landmarks import POINTS, ClipLandmarks, FrameLandmarks

# (component, our part, points we use) in video_to_pose's order; the world landmarks come last.
COMPONENTS = (
    ("POSE_LANDMARKS", "pose", 33),
    ("FACE_LANDMARKS", "face", 468),
    ("LEFT_HAND_LANDMARKS", "left_hand", 21),
    ("RIGHT_HAND_LANDMARKS", "right_hand", 21),
)
WORLD = "POSE_WORLD_LANDMARKS"
FRAME_TOLERANCE = 2  # frames: a container's duration and its decoded frame count may differ by a frame or two


class PoseFileError(ValueError):
    """A ``.pose`` file that cannot be used; the message is one line: ``path: reason``."""


def read_pose_file(path: str | os.PathLike) -> tuple[ClipLandmarks, dict]:
    """Read a MediaPipe Holistic ``.pose`` file: ``(landmarks, {"width", "height", "fps", "frames"})``."""
    path = str(path)
    try:
        from pose_format import Pose

        data = Path(path).read_bytes()
        if not data:
            raise PoseFileError(f"{path}: empty file")
        pose = Pose.read(data)
    except PoseFileError:
        raise
    except FileNotFoundError:
        raise PoseFileError(f"{path}: no such .pose file") from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file fails anywhere inside the reader
        raise PoseFileError(f"{path}: not a readable .pose file ({type(error).__name__}: {error})") from None
    return pose_to_landmarks(pose, path), {
        "width": int(pose.header.dimensions.width),
        "height": int(pose.header.dimensions.height),
        "fps": float(pose.body.fps),
        "frames": int(pose.body.data.shape[0]),
    }


def pose_to_landmarks(pose, path: str = "<pose>") -> ClipLandmarks:
    """Our landmarks (pixels, NaN where absent, ``present`` masks, ``depth``) from a ``pose_format.Pose``."""
    offsets, start = {}, 0
    for component in pose.header.components:
        offsets[component.name] = (start, list(component.points))
        start += len(component.points)
    data = np.asarray(pose.body.data.data if hasattr(pose.body.data, "data") else pose.body.data, dtype=np.float32)
    confidence = np.asarray(pose.body.confidence, dtype=np.float32)
    if data.ndim != 4 or data.shape[2] != start or data.shape[3] < 2:
        raise PoseFileError(f"{path}: body of shape {data.shape} does not match its header ({start} points)")
    if data.shape[1] < 1:
        raise PoseFileError(f"{path}: holds no person")
    data, confidence = data[:, 0], confidence[:, 0]  # Holistic tracks one person
    frames = len(data)
    arrays, present, depth = {}, {}, {}
    for name, part, count in COMPONENTS:
        if name not in offsets:
            found = ", ".join(offsets) or "none"
            raise PoseFileError(f"{path}: not a MediaPipe Holistic .pose (no {name}; components: {found})")
        first, names = offsets[name]
        if len(names) < count or (part == "face" and names[:count] != [str(i) for i in range(count)]):
            raise PoseFileError(f"{path}: {name} has {len(names)} points, expected the full {count}-point layout")
        values, conf = data[:, first : first + count], confidence[:, first : first + count]
        present[part] = (conf > 0).any(axis=1)
        z = values[..., 2] if values.shape[-1] > 2 else np.zeros(values.shape[:2], np.float32)
        if part == "pose":
            xy = np.concatenate([values[..., :2], conf[..., None]], axis=-1)
        else:  # a found part's points all have confidence 1; a point without one has no position
            xy = np.where((conf > 0)[..., None], values[..., :2], np.nan)
        arrays[part] = np.where(present[part][:, None, None], xy, np.nan).astype(np.float32)
        depth[part] = np.where(present[part][:, None], z, np.nan).astype(np.float32)
    world = None
    if WORLD in offsets and len(offsets[WORLD][1]) == 33 and data.shape[-1] > 2:
        first = offsets[WORLD][0]
        # back to MediaPipe's metres: video_to_pose scales world x/y by the frame size like image points
        scale = np.array([pose.header.dimensions.width or 1, pose.header.dimensions.height or 1, 1], np.float32)
        world = np.concatenate([data[:, first : first + 33, :3] / scale, confidence[:, first : first + 33, None]],
                               axis=-1)
    assert all(len(a) == frames for a in arrays.values())
    return ClipLandmarks(**arrays, present=present, depth=depth, pose_world=world)


def landmarks_to_pose(landmarks: ClipLandmarks, width: int, height: int, fps: float):
    """A ``pose_format.Pose`` in ``video_to_pose``'s Holistic layout from our landmarks (see the module notes)."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.holistic import holistic_components

    frames = len(landmarks.pose)
    header = PoseHeader(version=0.2, dimensions=PoseHeaderDimensions(width=int(width), height=int(height), depth=0),
                        components=holistic_components("XYZC", 0))
    blocks, confidences = [], []
    for _, part, count in COMPONENTS:
        values = np.asarray(getattr(landmarks, part), dtype=np.float32)
        mask = np.asarray(landmarks.present[part], dtype=bool)
        xy = values[..., :2]
        z = landmarks.depth.get(part) if landmarks.depth else None
        z = np.zeros((frames, count), np.float32) if z is None else np.asarray(z, np.float32)
        if part == "pose":
            conf = values[..., 2]
        else:
            conf = np.ones((frames, count), np.float32)
        finite = np.isfinite(xy).all(axis=-1) & mask[:, None]
        conf = np.where(finite, np.nan_to_num(conf), 0.0)
        point = np.concatenate([np.where(finite[..., None], xy, 0.0), np.where(finite, np.nan_to_num(z), 0.0)[..., None]],
                               axis=-1)
        blocks.append(point)
        confidences.append(conf)
    if landmarks.pose_world is not None:
        world = np.asarray(landmarks.pose_world, dtype=np.float32)
        known = np.isfinite(world).all(axis=-1)
        # video_to_pose stores world landmarks (metres) scaled like image points: x × width, y × height
        scaled = world[..., :3] * np.array([width, height, 1.0], np.float32)
        blocks.append(np.where(known[..., None], scaled, 0.0))
        confidences.append(np.where(known, world[..., 3], 0.0))
    else:
        blocks.append(np.zeros((frames, 33, 3), np.float32))
        confidences.append(np.zeros((frames, 33), np.float32))
    data = np.concatenate(blocks, axis=1)[:, None].astype(np.float32)
    confidence = np.concatenate(confidences, axis=1)[:, None].astype(np.float32)
    return Pose(header, NumPyPoseBody(fps=float(fps), data=data, confidence=confidence))


def write_pose_file(path: str | os.PathLike, landmarks: ClipLandmarks, width: int, height: int, fps: float) -> Path:
    """Write ``landmarks`` as a ``.pose`` file (atomically: a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pose = landmarks_to_pose(landmarks, width, height, fps)
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as handle:
        pose.write(handle)
    os.replace(partial, path)
    return path


def _video_frames(video: str) -> tuple[float, float]:
    """``(fps, frames)`` of a video's first stream as its header's duration gives them (frames 0 when unknown)."""
    import av

    with av.open(video) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1_000_000
        else:
            return fps, 0.0
        return fps, seconds * fps


class PoseFileLandmarks:
    """Landmarks read from a ``.pose`` file (pose-format, MediaPipe Holistic layout) instead of running MediaPipe.

    The file must describe the whole video (every frame, its frame rate and size, as ``video_to_pose`` writes it);
    ``start_clip`` refuses it in one line otherwise. Frames are picked by decoded frame index.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.landmarks, self.info = read_pose_file(self.path)
        self.frames = self.info["frames"]

    def start_clip(self, path: str, width: int, height: int) -> None:
        info = self.info
        if (info["width"], info["height"]) != (width, height):
            raise PoseFileError(f"{self.path}: made for a {info['width']}x{info['height']} video, {path} is "
                                f"{width}x{height}")
        fps, frames = _video_frames(path)
        if fps and abs(info["fps"] - fps) > 0.01 * fps:
            raise PoseFileError(f"{self.path}: {info['fps']:g} frames/s, {path} has {fps:g} (a .pose must hold every "
                                "frame of its video)")
        if frames and abs(self.frames - frames) > FRAME_TOLERANCE:
            raise PoseFileError(f"{self.path}: holds {self.frames} frames, {path} has {frames:.0f} (a .pose must hold "
                                "every frame of its video)")

    def __call__(self, image: np.ndarray, frame_index: int) -> FrameLandmarks:
        if frame_index >= self.frames:
            raise PoseFileError(f"{self.path}: holds {self.frames} frames, the video has more")
        clip = self.landmarks
        parts = {part: getattr(clip, part)[frame_index].copy() if clip.present[part][frame_index] else None
                 for part in POINTS}
        depth = {part: clip.depth[part][frame_index].copy() for part in POINTS if clip.present[part][frame_index]}
        world = clip.pose_world[frame_index].copy() if clip.pose_world is not None else None
        if world is not None and not (world[:, 3] > 0).any():
            world = None
        return FrameLandmarks(**parts, depth=depth or None, pose_world=world)
