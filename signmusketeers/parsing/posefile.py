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

from signmusketeers.errors import InputError
from signmusketeers.parsing.landmarks import ClipLandmarks, FrameLandmarks

# (component, our part, points we use) in video_to_pose's order; the world landmarks come last.
COMPONENTS = (
    ("POSE_LANDMARKS", "pose", 33),
    ("FACE_LANDMARKS", "face", 468),
    ("LEFT_HAND_LANDMARKS", "left_hand", 21),
    ("RIGHT_HAND_LANDMARKS", "right_hand", 21),
)
WORLD = "POSE_WORLD_LANDMARKS"
# video_to_pose's Holistic header (component names, points, limbs, colours) as a frameless .pose, so that writing
# needs neither MediaPipe nor its legacy `solutions` API, which pose-format's own holistic module imports. Made by
# `write_header_asset()`; tests/parsing/test_posefile.py checks it is byte for byte what pose-format builds.
HEADER_ASSET = Path(__file__).resolve().parent / "assets" / "holistic_header.pose"
FRAME_TOLERANCE = 2  # frames: a container's duration and its decoded frame count may differ by a frame or two
WINDOW = 1024  # frames of a .pose read at once by a landmark source (about 9 MB of Holistic landmarks)


class PoseFileError(InputError):
    """A ``.pose`` file that cannot be used; the message is one line: ``path: reason``."""


def _read_pose(path: str, header_only: bool = False, start_frame: int | None = None, end_frame: int | None = None):
    """``(Pose, {"width", "height", "fps", "frames"})``; ``header_only`` reads no landmark values (pose-format's
    ``EmptyPoseBody``), ``start_frame``/``end_frame`` only those frames (pose-format seeks past the others)."""
    try:
        from pose_format import Pose
        from pose_format.numpy import NumPyPoseBody
        from pose_format.pose_body import EmptyPoseBody

        if os.path.getsize(path) == 0:
            raise PoseFileError(f"{path}: empty file")
        with open(path, "rb") as handle:
            if header_only:
                pose = Pose.read(handle, pose_body=EmptyPoseBody)
            elif start_frame is not None:
                pose = Pose.read(handle, pose_body=NumPyPoseBody, start_frame=start_frame, end_frame=end_frame)
            else:
                pose = Pose.read(handle.read())
    except PoseFileError:
        raise
    except FileNotFoundError:
        raise PoseFileError(f"{path}: no such .pose file") from None
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file fails anywhere inside the reader
        reason = (str(error).strip().splitlines() or [""])[0]
        raise PoseFileError(f"{path}: not a readable .pose file ({type(error).__name__}: {reason})") from None
    info = {
        "width": int(pose.header.dimensions.width),
        "height": int(pose.header.dimensions.height),
        "fps": float(pose.body.fps),
        "frames": int(pose.body.data.shape[0]),
    }
    return pose, info


def read_pose_file(path: str | os.PathLike) -> tuple[ClipLandmarks, dict]:
    """Read a MediaPipe Holistic ``.pose`` file: ``(landmarks, {"width", "height", "fps", "frames"})``."""
    pose, info = _read_pose(str(path))
    return pose_to_landmarks(pose, str(path)), info


def _layout(pose, path: str) -> tuple[np.ndarray, np.ndarray, dict[str, int], int | None]:
    """Person 0's ``data (T, points, D)`` and ``confidence (T, points)`` of a Holistic ``Pose``, with where each of
    our parts starts in the points (and the world landmarks, if the file has them); refuses other layouts."""
    offsets, start = {}, 0
    for component in pose.header.components:
        offsets[component.name] = (start, list(component.points))
        start += len(component.points)
    data = pose.body.data
    data = np.asarray(data.data if isinstance(data, np.ma.MaskedArray) else data, dtype=np.float32)
    confidence = np.asarray(pose.body.confidence, dtype=np.float32)
    if data.ndim != 4 or data.shape[2] != start or data.shape[3] < 2:
        raise PoseFileError(f"{path}: body of shape {data.shape} does not match its header ({start} points)")
    if data.shape[1] < 1:
        raise PoseFileError(f"{path}: holds no person")
    firsts = {}
    for name, part, count in COMPONENTS:
        if name not in offsets:
            found = ", ".join(offsets) or "none"
            raise PoseFileError(f"{path}: not a MediaPipe Holistic .pose (no {name}; components: {found})")
        first, names = offsets[name]
        if len(names) < count or (part == "face" and names[:count] != [str(i) for i in range(count)]):
            raise PoseFileError(f"{path}: {name} has {len(names)} points, expected the full {count}-point layout")
        firsts[part] = first
    world = offsets[WORLD][0] if WORLD in offsets and len(offsets[WORLD][1]) == 33 and data.shape[-1] > 2 else None
    return data[:, 0], confidence[:, 0], firsts, world  # Holistic tracks one person


def _parts(data: np.ndarray, confidence: np.ndarray, firsts: dict[str, int]):
    """Our parts (pixels, NaN where absent), presence and z from ``data (T, points, D)``, ``confidence (T, points)``."""
    frames = len(data)
    arrays, present, depth = {}, {}, {}
    for _, part, count in COMPONENTS:
        first = firsts[part]
        values, conf = data[:, first : first + count], confidence[:, first : first + count]
        known = conf > 0
        present[part] = known.any(axis=1)
        z = values[..., 2].copy() if values.shape[-1] > 2 else np.zeros((frames, count), np.float32)
        if part == "pose":  # x, y, visibility; a landmark with visibility 0 still has its position
            points = np.empty((frames, count, 3), np.float32)
            points[..., :2] = values[..., :2]
            points[..., 2] = conf
            points[~present[part]] = np.nan
            z[~present[part]] = np.nan
        else:  # a found part's points all have confidence 1; a point without one has no position
            points = values[..., :2].copy()
            points[~known] = np.nan
            z[~known] = np.nan
        arrays[part], depth[part] = points, z
    return arrays, present, depth


def pose_to_landmarks(pose, path: str = "<pose>") -> ClipLandmarks:
    """Our landmarks (pixels, NaN where absent, ``present`` masks, ``depth``) from a ``pose_format.Pose``."""
    data, confidence, firsts, world_first = _layout(pose, path)
    arrays, present, depth = _parts(data, confidence, firsts)
    world = None
    if world_first is not None:
        # back to MediaPipe's metres: video_to_pose scales world x/y by the frame size like image points
        scale = np.array([pose.header.dimensions.width or 1, pose.header.dimensions.height or 1, 1], np.float32)
        world = np.empty((len(data), 33, 4), np.float32)
        world[..., :3] = data[:, world_first : world_first + 33, :3] / scale
        world[..., 3] = confidence[:, world_first : world_first + 33]
    return ClipLandmarks(**arrays, present=present, depth=depth, pose_world=world)


def landmarks_to_pose(landmarks: ClipLandmarks, width: int, height: int, fps: float):
    """A ``pose_format.Pose`` in ``video_to_pose``'s Holistic layout from our landmarks (see the module notes)."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions

    frames = len(landmarks.pose)
    header = PoseHeader(
        version=0.2,
        dimensions=PoseHeaderDimensions(width=int(width), height=int(height), depth=0),
        components=_holistic_components(),
    )
    data = np.zeros((frames, 1, header.total_points(), 3), np.float32)
    confidence = np.zeros((frames, 1, header.total_points()), np.float32)
    start = 0
    for _, part, count in COMPONENTS:
        block, block_conf = data[:, 0, start : start + count], confidence[:, 0, start : start + count]
        values = np.asarray(getattr(landmarks, part), dtype=np.float32)
        # a point is written where its part was found and it has a position; everything else stays 0, confidence 0
        known = np.isfinite(values[..., 0])
        known &= np.isfinite(values[..., 1])
        known &= np.asarray(landmarks.present[part], dtype=bool)[:, None]
        unknown = ~known
        block[..., :2] = values[..., :2]
        z = landmarks.depth.get(part) if landmarks.depth else None
        if z is not None:
            block[..., 2] = z
            np.copyto(block[..., 2], 0.0, where=np.isnan(block[..., 2]))  # an unknown z is written as 0
        block_conf[...] = values[..., 2] if part == "pose" else 1.0
        if part == "pose":
            np.copyto(block_conf, 0.0, where=np.isnan(block_conf))
        np.copyto(block, 0.0, where=unknown[..., None])
        np.copyto(block_conf, 0.0, where=unknown)
        start += count
    if landmarks.pose_world is not None:
        world = np.asarray(landmarks.pose_world, dtype=np.float32)
        known = np.isfinite(world).all(axis=-1)
        block = data[:, 0, start : start + 33]
        # video_to_pose stores world landmarks (metres) scaled like image points: x × width, y × height
        block[...] = world[..., :3] * np.array([width, height, 1.0], np.float32)
        confidence[:, 0, start : start + 33] = world[..., 3]
        block[~known] = 0.0
        confidence[:, 0, start : start + 33][~known] = 0.0
    return Pose(header, NumPyPoseBody(fps=float(fps), data=data, confidence=confidence))


_COMPONENTS_CACHE: list = []


def _holistic_components() -> list:
    if not _COMPONENTS_CACHE:
        from pose_format import Pose

        _COMPONENTS_CACHE.extend(Pose.read(HEADER_ASSET.read_bytes()).header.components)
    return _COMPONENTS_CACHE


def write_header_asset(path: str | os.PathLike = HEADER_ASSET) -> Path:
    """Write pose-format's Holistic header (``holistic_components("XYZC")``, needs ``mediapipe<0.10.30``) as a
    frameless ``.pose``: the header :func:`write_pose_file` uses."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.holistic import holistic_components

    header = PoseHeader(
        version=0.2,
        dimensions=PoseHeaderDimensions(width=0, height=0, depth=0),
        components=holistic_components("XYZC", 0),
    )
    points = header.total_points()
    body = NumPyPoseBody(
        fps=0.0, data=np.zeros((0, 1, points, 3), np.float32), confidence=np.zeros((0, 1, points), np.float32)
    )
    with open(path, "wb") as handle:
        Pose(header, body).write(handle)
    return Path(path)


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
        # Only the header now (and the layout checked); frames are read in windows as the parse asks for them, so a
        # segment of a long video reads its own frames, not the whole video's file.
        header, self.info = _read_pose(self.path, header_only=True)
        _, _, self._firsts, self._world = _layout(header, self.path)
        self._scale = np.array([self.info["width"] or 1, self.info["height"] or 1, 1], np.float32)
        self.frames = self.info["frames"]
        self._window = (0, 0)
        self._data = self._confidence = None

    def _read_window(self, frame_index: int) -> None:
        end = min(frame_index + WINDOW, self.frames)
        pose, _ = _read_pose(self.path, start_frame=frame_index, end_frame=end)
        self._data, self._confidence, _, _ = _layout(pose, self.path)
        self._window = (frame_index, end)

    def start_clip(self, path: str, width: int, height: int) -> None:
        info = self.info
        if (info["width"], info["height"]) != (width, height):
            raise PoseFileError(
                f"{self.path}: made for a {info['width']}x{info['height']} video, {path} is {width}x{height}"
            )
        fps, frames = _video_frames(path)
        if fps and abs(info["fps"] - fps) > 0.01 * fps:
            raise PoseFileError(
                f"{self.path}: {info['fps']:g} frames/s, {path} has {fps:g} (a .pose must hold every "
                "frame of its video)"
            )
        if frames and abs(self.frames - frames) > FRAME_TOLERANCE:
            raise PoseFileError(
                f"{self.path}: holds {self.frames} frames, {path} has {frames:.0f} (a .pose must hold "
                "every frame of its video)"
            )

    def __call__(self, image: np.ndarray, frame_index: int) -> FrameLandmarks:
        if frame_index >= self.frames:
            raise PoseFileError(f"{self.path}: holds {self.frames} frames, the video has more")
        if not self._window[0] <= frame_index < self._window[1]:
            self._read_window(frame_index)
        at = frame_index - self._window[0]
        values, confidence = self._data[at], self._confidence[at]
        # One frame of _parts' mapping (the same rules), without its whole-clip array work: the parse asks per frame.
        parts: dict[str, np.ndarray | None] = {}
        depth: dict[str, np.ndarray] = {}
        for _, part, count in COMPONENTS:
            first = self._firsts[part]
            conf = confidence[first : first + count]
            known = conf > 0
            if not known.any():
                parts[part] = None
                continue
            points = values[first : first + count]
            z = points[:, 2].copy() if points.shape[-1] > 2 else np.zeros(count, np.float32)
            if part == "pose":
                xy = np.empty((count, 3), np.float32)
                xy[:, :2] = points[:, :2]
                xy[:, 2] = conf
            else:
                xy = points[:, :2].copy()
                if not known.all():
                    xy[~known] = np.nan
                    z[~known] = np.nan
            parts[part], depth[part] = xy, z
        world = None
        if self._world is not None and (confidence[self._world : self._world + 33] > 0).any():
            world = np.empty((33, 4), np.float32)
            world[:, :3] = values[self._world : self._world + 33, :3] / self._scale
            world[:, 3] = confidence[self._world : self._world + 33]
        return FrameLandmarks(**parts, depth=depth or None, pose_world=world)
