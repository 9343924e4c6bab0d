"""FrameParser: video → face / left-hand / right-hand crops + the 14-d pose vector, per frame (paper §3.1)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signmusketeers.constants import BOX_SCALE, CROP_SIZE
from signmusketeers.errors import InputError
from signmusketeers.parsing.boxes import BoxTracker, crop_box
from signmusketeers.parsing.landmarks import (
    ClipLandmarks,
    FrameLandmarks,
    LandmarkSource,
    check_region,
    open_landmark_file,
    region_pixels,
)
from signmusketeers.parsing.mediapipe_holistic import MediaPipeHolistic
from signmusketeers.parsing.pose import PoseTracker
from signmusketeers.parsing.privacy import face_regions, mask_face_crop
from signmusketeers.parsing.video import VideoError, VideoFrame, VideoInfo, prefetch, probe_video, read_frames


class ParseError(InputError):
    """An input that cannot be parsed; the message is one line: ``path: reason``."""


@contextmanager
def _errors_named(path: str) -> Iterator[None]:
    r"""Decoding and landmark-file errors inside become one-line :class:`ParseError`\ s naming ``path``."""
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
    """One kept frame of :meth:`FrameParser.stream_video`: the per-frame slices of a :class:`ParsedClip`.

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
        verbose: let the default MediaPipe source's own log lines through to stderr (hidden by default; a
            ``landmark_source`` given here has its own ``verbose``).

    Example::

        clip = FrameParser(crop_size=224).parse_video("clip.mp4")
        clip.crops.shape  # (T, 3, 224, 224, 3)
    """

    def __init__(
        self,
        crop_size: int = CROP_SIZE,
        stride: int = 1,
        box_scale: float = BOX_SCALE,
        landmark_source: LandmarkSource | None = None,
        region_of_interest: tuple[float, float, float, float] | None = None,
        face_privacy: bool = False,
        min_frames: int = 2,
        keep_landmarks: bool = True,
        verbose: bool = False,
    ) -> None:
        if crop_size < 8:
            raise ValueError(f"crop_size must be at least 8 pixels, got {crop_size}")
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        self.crop_size = crop_size
        self.stride = stride
        self.box_scale = box_scale
        self.region_of_interest = check_region(region_of_interest)
        self.landmark_source = landmark_source or MediaPipeHolistic(
            region_of_interest=self.region_of_interest, verbose=verbose
        )
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
        """Parse the video at ``path`` (frames in ``[start, end)`` seconds when given) into one stacked clip.

        ``path`` may also be a folder of numbered frames (PNG/JPEG) played at ``fps`` frames per second.
        ``landmarks``: a landmark file (a ``.pose`` of the whole video, or SynthSign's ``.npz``) or source for this
        clip, instead of the parser's own source. Raises :class:`ParseError` (``path: reason``) for input it cannot
        parse: too few frames, a segment past the video's end, no person in any frame.
        """
        path = str(path)
        with _errors_named(path):
            info = probe_video(path, fps=fps)
            frames = list(self._stream(path, info, landmarks, start, end, max_pending=None))
            return self._stack(frames, info, clip_id or Path(path).stem)

    def stream_video(
        self,
        path: str | os.PathLike,
        *,
        landmarks: str | os.PathLike | LandmarkSource | None = None,
        start: float | None = None,
        end: float | None = None,
        fps: float | None = None,
        max_pending: int | None = None,
    ) -> Iterator[ParsedFrame]:
        """Parse ``path`` frame by frame: the frames :meth:`parse_video` would stack, one at a time, in order.

        A frame before a part's first box waits for that box (it is filled with it) for at most ``max_pending``
        frames. ``None`` (the default): however long that takes, so every frame equals its slice of
        :meth:`parse_video`'s clip (only such waiting frames keep their decoded image). A number bounds memory for
        any video: past it a waiting frame goes out with that part's box NaN and its crop black. After the last
        frame it raises :meth:`parse_video`'s :class:`ParseError` for a clip it would refuse (too few frames, a
        segment past the video's end, no person found), so consumers that keep only what they need per frame
        (``signmusketeers parse``) never hold a clip of raw crops. Options as for :meth:`parse_video`.
        """
        path = str(path)
        with _errors_named(path):
            info = probe_video(path, fps=fps)
            yield from self._stream(path, info, landmarks, start, end, max_pending)

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
        """:meth:`stream_video` holding at most ``max_pending`` (64) frames: bounded memory for any video length,
        for consumers that encode frames as they come (``signmusketeers translate``)."""
        return self.stream_video(path, landmarks=landmarks, start=start, end=end, fps=fps, max_pending=max_pending)

    def _stream(self, path: str, info: VideoInfo, landmarks, start, end, max_pending: int | None):
        """The one streaming generator behind :meth:`parse_video`, :meth:`stream_video` and :meth:`iter_frames`:
        frames as they are ready, then the clip's refusals."""
        source = self._source(landmarks)
        try:
            count, person = yield from self._frames(path, info, source, start, end, max_pending)
        finally:
            finish = getattr(source, "finish_clip", None)  # optional: a source that frees per-clip resources
            if finish is not None:
                finish()
        self._check_clip(path, info, start, count, person)

    def _check_clip(self, path: str, info: VideoInfo, start: float | None, count: int, person: bool) -> None:
        """The refusals of a whole clip: fewer than ``min_frames`` kept frames, or no person in any of them."""
        if count < self.min_frames:
            if start is not None and info.duration and start >= info.duration:
                raise ParseError(
                    f"{path}: the segment starts at {start:.3f} s, after the video's end ({info.duration:.3f} s)"
                )
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

    def _stack(self, frames: list[ParsedFrame], info: VideoInfo, clip_id: str) -> ParsedClip:
        size = self.crop_size
        shape = frames[0].shape
        return ParsedClip(
            crops=np.stack([frame.crops for frame in frames]).reshape(len(frames), 3, size, size, 3),
            boxes=np.stack([frame.boxes for frame in frames]).astype(np.float32),
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

    def _frames(self, path: str, info: VideoInfo, source: LandmarkSource, start, end, max_pending: int | None):
        """Decode → landmarks → boxes → crops, one frame at a time; frames wait (in order) only for backfilling.
        Returns ``(frames given out, whether any had a face box)``."""
        source.start_clip(path, info.width, info.height)
        bounds = (0, 0, info.width, info.height)
        if self.region_of_interest is not None:
            bounds = region_pixels(self.region_of_interest, info.width, info.height)
        trackers = (BoxTracker(bounds, self.box_scale), PoseTracker())
        pending: deque[ParsedFrame] = deque()  # parsed, not yet given out: the oldest waits for a part's first box
        waiting: dict[int, np.ndarray] = {}  # images of pending frames with a part that has had no box yet, by id
        shape, count, person = None, 0, False
        for frame in prefetch(read_frames(path, start=start, end=end, stride=self.stride, fps=info.fps)):
            if shape is None:
                shape = frame.image.shape
            elif frame.image.shape != shape:
                raise ParseError(f"{path}: frame size changes from {shape[1]}x{shape[0]} mid-stream")
            parsed = self._parse_frame(frame, source, trackers)
            pending.append(parsed)
            if not np.isfinite(parsed.boxes).all():
                waiting[id(parsed)] = frame.image
            if waiting:
                self._backfill(waiting, pending, parsed.boxes)
            while pending and (
                id(pending[0]) not in waiting or (max_pending is not None and len(pending) > max_pending)
            ):
                waiting.pop(id(pending[0]), None)
                count, person = count + 1, person or bool(np.isfinite(pending[0].boxes[0]).any())
                yield pending.popleft()
        while pending:
            count, person = count + 1, person or bool(np.isfinite(pending[0].boxes[0]).any())
            yield pending.popleft()
        return count, person

    def _parse_frame(self, frame: VideoFrame, source: LandmarkSource, trackers: tuple[BoxTracker, PoseTracker]):
        """One decoded frame → its :class:`ParsedFrame` (boxes, crops, pose as far as the frames so far tell)."""
        boxes_state, pose_state = trackers
        found = source(frame.image, frame.index)
        frame_boxes, frame_provenance = boxes_state.update(found)
        regions = face_regions(found.face, frame_boxes[0], self.crop_size) if self.face_privacy else None
        return ParsedFrame(
            crops=self._crops(frame.image, frame_boxes, regions),
            boxes=frame_boxes,
            provenance=frame_provenance,
            pose=pose_state.update(found.pose),
            index=frame.index,
            time=frame.time,
            found=(found.face is not None, found.left_hand is not None, found.right_hand is not None),
            pose_found=found.pose is not None,
            shape=frame.image.shape,
            landmarks=found if self.keep_landmarks else FrameLandmarks(),
            face_regions=regions,
        )

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
