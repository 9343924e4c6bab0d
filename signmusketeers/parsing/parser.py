"""FrameParser: video → face / left-hand / right-hand crops + the 14-d pose vector, per frame (paper §3.1)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .boxes import BOX_SCALE, BoxTracker, crop_box
from .landmarks import ClipLandmarks, FrameLandmarks, LandmarkSource, MediaPipeHolistic
from .landmarks import check_region, open_landmark_file, region_pixels
from .pose import PoseTracker
from .privacy import face_regions, mask_face_crop
from .video import VideoError, prefetch, probe_video, read_frames
from signmusketeers.errors import InputError


class ParseError(InputError):
    """An input that cannot be parsed; the message is one line: ``path: reason``."""


@contextmanager
def _errors_named(path: str) -> Iterator[None]:
    """Decoding and landmark-file errors inside become one-line :class:`ParseError`\ s naming ``path``."""
    try:
        yield
    except VideoError as error:
        raise ParseError(str(error)) from None
    except ParseError:
        raise
    except ValueError as error:
        message = str(error)
        raise ParseError(message if message.startswith(path) else f"{path}: {message}") from None


@dataclass
class ParsedClip:
    """One parsed clip. ``T`` = kept frames, ``S`` = crop size; parts in the order face, left, right.

    Attributes:
        crops: ``uint8 (T, 3, S, S, 3)`` RGB crops.
        boxes: ``float32 (T, 3, 4)`` ``x0, y0, x1, y1`` in frame pixels (NaN where a part never had a box).
        provenance: ``uint8 (T, 3)``: 0 landmarks, 1 pose fallback, 2 previous box, 3 shifted into frame.
        pose: ``float32 (T, 14)`` normalised pose (−1 before the first pose).
        frame_index: ``int64 (T,)`` decoded index of each kept frame; ``timestamps`` ``float64 (T,)`` seconds.
        fps: the stream's average frame rate; size: ``(H, W)`` of the frame; clip_id: the clip's name.
        found: ``bool (T, 3)``: the part's own landmarks were found in that frame (a box shifted into the frame
            may come from landmarks or from the pose fallback; this tells which).
        landmarks: the per-frame landmarks in pixels (kept unless the parser was told not to).
        face_regions: ``int16 (T, 92, 2)`` the eye and mouth points that placed the face-privacy mask, in face-crop
            pixels (:func:`~signmusketeers.parsing.privacy.face_regions`); only when the parser masks faces.
    """

    crops: np.ndarray
    boxes: np.ndarray
    provenance: np.ndarray
    pose: np.ndarray
    frame_index: np.ndarray
    timestamps: np.ndarray
    fps: float
    size: tuple[int, int]
    clip_id: str
    found: np.ndarray | None = None
    landmarks: ClipLandmarks | None = None
    face_regions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame_index)


DEFAULT_MAX_PENDING = 64  # frames :meth:`FrameParser.iter_frames` holds at most while waiting for a first box


@dataclass
class ParsedFrame:
    """One kept frame of :meth:`FrameParser.iter_frames`: the per-frame slices of a :class:`ParsedClip`.

    Attributes:
        crops: ``uint8 (3, S, S, 3)`` face, left, right; boxes: ``float32 (3, 4)``; provenance: ``uint8 (3,)``;
        pose: ``float32 (14,)``; index: decoded frame index; time: seconds; found: whether the face, left and right
        hand landmarks were found; pose_found: whether the pose landmarks were; shape: ``(H, W, 3)`` of the frame;
        landmarks: the frame's landmarks (empty unless the parser keeps them); face_regions: ``int16 (92, 2)`` eye
        and mouth points of the face-privacy mask in face-crop pixels (only when the parser masks faces).
    """

    crops: np.ndarray
    boxes: np.ndarray
    provenance: np.ndarray
    pose: np.ndarray
    index: int
    time: float
    found: tuple[bool, bool, bool]
    pose_found: bool
    shape: tuple[int, ...]
    landmarks: FrameLandmarks
    face_regions: np.ndarray | None = None


class FrameParser:
    """Parse videos into per-frame crops and pose (paper §3.1, rules in :mod:`signmusketeers.parsing.boxes`).

    Args:
        crop_size: side of the square crops (paper: 224).
        stride: keep every ``stride``-th decoded frame (1 = every frame; clip shards use 2 as in the paper).
        box_scale: side of a landmark box relative to the landmarks' extent (paper: 1.2).
        landmark_source: where landmarks come from; default MediaPipe Holistic (model_complexity=1, video mode),
            built lazily so the parser can be sent to worker processes.
        region_of_interest: ``(x0, y0, x1, y1)`` fractions of the frame holding the signer: MediaPipe only sees it
            and boxes stay in it (for videos with more than one person).
        face_privacy: grey out all but the eyes and mouth of face crops, then blur (paper §3.2; off by default
            here, on by default in ``signmusketeers parse``).
        min_frames: clips with fewer kept frames are refused (a single image is not a signing clip).
        keep_landmarks: keep the stacked landmarks in :attr:`ParsedClip.landmarks`.

    Example::

        clip = FrameParser(crop_size=224).parse_video("clip.mp4")
        clip.crops.shape  # (T, 3, 224, 224, 3)
    """

    def __init__(
        self,
        crop_size: int = 224,
        stride: int = 1,
        box_scale: float = BOX_SCALE,
        landmark_source: LandmarkSource | None = None,
        region_of_interest: tuple[float, float, float, float] | None = None,
        face_privacy: bool = False,
        min_frames: int = 2,
        keep_landmarks: bool = True,
    ) -> None:
        if crop_size < 8:
            raise ValueError(f"crop_size must be at least 8 pixels, got {crop_size}")
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        self.crop_size = crop_size
        self.stride = stride
        self.box_scale = box_scale
        self.region_of_interest = check_region(region_of_interest)
        self.landmark_source = landmark_source or MediaPipeHolistic(region_of_interest=self.region_of_interest)
        self.face_privacy = face_privacy
        self.min_frames = min_frames
        self.keep_landmarks = keep_landmarks

    def parse_video(
        self,
        path: str | os.PathLike,
        *,
        clip_id: str | None = None,
        landmarks: str | os.PathLike | LandmarkSource | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
    ) -> ParsedClip:
        """Parse the video at ``path`` (frames in ``[start, end)`` seconds when given).

        ``path`` may also be a folder of numbered frames (PNG/JPEG) played at ``fps`` frames per second.
        ``landmarks``: a landmark file (a ``.pose`` of the whole video, or SynthSign's ``.npz``) or source for this
        clip, instead of the parser's own source. Raises :class:`ParseError` (``path: reason``) for input it cannot
        parse.
        """
        path = str(path)
        clip_id = clip_id or Path(path).stem
        with _errors_named(path):
            info = probe_video(path, fps=fps)
            return self._parse(path, clip_id, info, self._source(landmarks), start, end)

    def iter_frames(
        self,
        path: str | os.PathLike,
        *,
        landmarks: str | os.PathLike | LandmarkSource | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
        max_pending: int | None = DEFAULT_MAX_PENDING,
    ) -> Iterator[ParsedFrame]:
        """Parse ``path`` frame by frame, holding only a few frames at a time (bounded memory for any length).

        Frames come in order with the same crops, boxes, provenance and pose as :meth:`parse_video` gives, except
        that a frame before a part's first box waits for that box (it is filled with it, as in ``parse_video``) for
        at most ``max_pending`` frames (``None``: no limit); past that it goes out with that part's box NaN and its
        crop black. Raises :class:`ParseError` (``path: reason``) for input it cannot parse, including a video in
        which no person is ever found. ``fps``: the frame rate of a folder of frames.
        """
        path = str(path)
        with _errors_named(path):
            info = probe_video(path, fps=fps)
            person = False
            for frame in self._stream(path, info, self._source(landmarks), start, end, max_pending):
                person = person or bool(np.isfinite(frame.boxes[0]).all())
                yield frame
            if not person:
                raise ParseError(f"{path}: no person found in any of its frames")

    def stream_video(
        self,
        path: str | os.PathLike,
        *,
        landmarks: str | os.PathLike | LandmarkSource | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
    ) -> Iterator[ParsedFrame]:
        """The frames :meth:`parse_video` would stack, one at a time, with its checks and error messages.

        Unlike :meth:`iter_frames`, a frame before a part's first box waits for it however long that takes
        (``max_pending=None``), so every frame equals its slice of :meth:`parse_video`'s clip; only such waiting
        frames keep their decoded image. After the last frame it raises :meth:`parse_video`'s :class:`ParseError`
        for a clip it would refuse (too few frames, a segment past the video's end, no person found): consumers
        that keep what they need per frame (``signmusketeers parse``) then hold no clip of raw crops.
        """
        path = str(path)
        with _errors_named(path):
            info = probe_video(path, fps=fps)
            count, person = 0, False
            for frame in self._stream(path, info, self._source(landmarks), start, end, max_pending=None):
                count += 1
                person = person or bool(np.isfinite(frame.boxes[0]).any())
                yield frame
            self._check_clip(path, info, start, count, person)

    def _check_clip(self, path: str, info, start: float | None, count: int, person: bool) -> None:
        """:meth:`parse_video`'s refusals: fewer than ``min_frames`` kept frames, or no person in any of them."""
        if count < self.min_frames:
            if start is not None and info.duration and start >= info.duration:
                raise ParseError(f"{path}: the segment starts at {start:.3f} s, after the video's end "
                                 f"({info.duration:.3f} s)")
            raise ParseError(
                f"{path}: {count} frame{'s' if count != 1 else ''} decoded; a clip needs at least {self.min_frames}"
            )
        if not person:
            raise ParseError(f"{path}: no person found in any of its {count} frames")

    def _source(self, landmarks: str | os.PathLike | LandmarkSource | None) -> LandmarkSource:
        """The clip's landmark file or source, else the parser's own."""
        if isinstance(landmarks, (str, os.PathLike)):
            return open_landmark_file(landmarks)
        return landmarks or self.landmark_source

    def _parse(self, path, clip_id, info, source: LandmarkSource, start, end) -> ParsedClip:
        size = self.crop_size
        frames = list(self._stream(path, info, source, start, end, max_pending=None))
        boxes = np.stack([frame.boxes for frame in frames]).astype(np.float32) if frames else np.zeros((0, 3, 4))
        self._check_clip(path, info, start, len(frames), bool(np.isfinite(boxes[:, 0]).any()))
        shape = frames[0].shape
        return ParsedClip(
            crops=np.stack([frame.crops for frame in frames]).reshape(len(frames), 3, size, size, 3),
            boxes=boxes,
            provenance=np.stack([frame.provenance for frame in frames]).astype(np.uint8),
            pose=np.stack([frame.pose for frame in frames]).astype(np.float32),
            frame_index=np.asarray([frame.index for frame in frames], dtype=np.int64),
            timestamps=np.asarray([frame.time for frame in frames], dtype=np.float64),
            fps=float(info.fps),
            size=(int(shape[0]), int(shape[1])),
            clip_id=clip_id,
            found=np.asarray([frame.found for frame in frames], dtype=bool),
            landmarks=ClipLandmarks.stack([frame.landmarks for frame in frames]) if self.keep_landmarks else None,
            face_regions=np.stack([frame.face_regions for frame in frames]) if self.face_privacy else None,
        )

    def _stream(self, path, info, source: LandmarkSource, start, end, max_pending: int | None) -> Iterator[ParsedFrame]:
        try:
            yield from self._frames(path, info, source, start, end, max_pending)
        finally:
            finish = getattr(source, "finish_clip", None)  # optional: a source that frees per-clip resources
            if finish is not None:
                finish()

    def _frames(self, path, info, source: LandmarkSource, start, end, max_pending: int | None) -> Iterator[ParsedFrame]:
        """Decode → landmarks → boxes → crops, one frame at a time; frames wait (in order) only for backfilling."""
        source.start_clip(path, info.width, info.height)
        bounds = (0, 0, info.width, info.height)
        if self.region_of_interest is not None:
            bounds = region_pixels(self.region_of_interest, info.width, info.height)
        boxes_state, pose_state = BoxTracker(bounds, self.box_scale), PoseTracker()
        pending: deque[ParsedFrame] = deque()  # parsed, not yet given out: the oldest waits for a part's first box
        waiting: dict[int, np.ndarray] = {}  # images of pending frames with a part that has had no box yet, by id
        shape = None
        frames = read_frames(path, start=start, end=end, stride=self.stride, fps=info.fps)
        for frame in prefetch(frames):
            if shape is None:
                shape = frame.image.shape
            elif frame.image.shape != shape:
                raise ParseError(f"{path}: frame size changes from {shape[1]}x{shape[0]} mid-stream")
            found = source(frame.image, frame.index)
            frame_boxes, frame_provenance = boxes_state.update(found)
            regions = face_regions(found.face, frame_boxes[0], self.crop_size) if self.face_privacy else None
            parsed = ParsedFrame(
                crops=self._crops(frame.image, frame_boxes, regions),
                boxes=frame_boxes,
                provenance=frame_provenance,
                pose=pose_state.update(found.pose),
                index=frame.index,
                time=frame.time,
                found=(found.face is not None, found.left_hand is not None, found.right_hand is not None),
                pose_found=found.pose is not None,
                shape=shape,
                landmarks=found if self.keep_landmarks else FrameLandmarks(),
                face_regions=regions,
            )
            pending.append(parsed)
            if not np.isfinite(frame_boxes).all():
                waiting[id(parsed)] = frame.image
            if waiting:
                self._backfill(waiting, pending, frame_boxes)
            while pending and (id(pending[0]) not in waiting or (max_pending is not None and len(pending) > max_pending)):
                waiting.pop(id(pending[0]), None)
                yield pending.popleft()
        while pending:
            yield pending.popleft()

    def _crops(self, image: np.ndarray, boxes: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
        crops = np.stack([crop_box(image, box, self.crop_size) for box in boxes])
        if self.face_privacy:
            crops[0] = mask_face_crop(crops[0], regions)
        return crops

    def _backfill(self, waiting: dict[int, np.ndarray], pending: deque[ParsedFrame], latest: np.ndarray) -> None:
        """Frames before a part's first box take that first box (provenance: previous box)."""
        for frame in pending:
            image = waiting.get(id(frame))
            if image is None:
                continue
            missing = ~np.isfinite(frame.boxes).all(axis=1)
            for part in np.flatnonzero(missing & np.isfinite(latest).all(axis=1)):
                frame.boxes[part] = latest[part]
                frame.crops[part] = crop_box(image, latest[part], self.crop_size)
                if part == 0 and self.face_privacy:  # a frame with no face of its own: greyed out entirely
                    frame.crops[part] = mask_face_crop(frame.crops[part], None)
            if np.isfinite(frame.boxes).all():
                del waiting[id(frame)]

    def close(self) -> None:
        close = getattr(self.landmark_source, "close", None)
        if close is not None:
            close()
