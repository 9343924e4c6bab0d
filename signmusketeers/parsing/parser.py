"""FrameParser: video → face / left-hand / right-hand crops + the 14-d pose vector, per frame (paper §3.1)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .boxes import BOX_SCALE, BoxTracker, crop_box
from .landmarks import ClipLandmarks, FrameLandmarks, LandmarkSource, MediaPipeHolistic
from .landmarks import check_region, open_landmark_file, region_pixels
from .pose import PoseTracker
from .privacy import face_regions, mask_face_crop
from .video import VideoError, prefetch, probe_video, read_frames


class ParseError(ValueError):
    """An input that cannot be parsed; the message is one line: ``path: reason``."""


@dataclass
class ParsedClip:
    """One parsed clip (DESIGN §3). ``T`` = kept frames, ``S`` = crop size; parts in the order face, left, right.

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
        try:
            info = probe_video(path, fps=fps)
            source = open_landmark_file(landmarks) if isinstance(landmarks, (str, os.PathLike)) else landmarks
            return self._parse(path, clip_id, info, source or self.landmark_source, start, end)
        except VideoError as error:
            raise ParseError(str(error)) from None
        except ParseError:
            raise
        except ValueError as error:
            message = str(error)
            raise ParseError(message if message.startswith(path) else f"{path}: {message}") from None

    def _parse(self, path, clip_id, info, source: LandmarkSource, start, end) -> ParsedClip:
        size = self.crop_size
        source.start_clip(path, info.width, info.height)
        bounds = (0, 0, info.width, info.height)
        if self.region_of_interest is not None:
            bounds = region_pixels(self.region_of_interest, info.width, info.height)
        boxes_state, pose_state = BoxTracker(bounds, self.box_scale), PoseTracker()
        crops, boxes, provenance, poses, indices, times, frame_landmarks, found_parts = [], [], [], [], [], [], [], []
        regions = []  # eye and mouth points per frame, when faces are masked
        waiting: dict[int, np.ndarray] = {}  # frames with a part that has had no box yet, by position
        shape = None
        frames = read_frames(path, start=start, end=end, stride=self.stride, fps=info.fps)
        for frame in prefetch(frames):
            if shape is None:
                shape = frame.image.shape
            elif frame.image.shape != shape:
                raise ParseError(f"{path}: frame size changes from {shape[1]}x{shape[0]} mid-stream")
            found = source(frame.image, frame.index)
            frame_boxes, frame_provenance = boxes_state.update(found)
            regions.append(face_regions(found.face, frame_boxes[0], size) if self.face_privacy else None)
            crops.append(self._crops(frame.image, frame_boxes, regions[-1]))
            if not np.isfinite(frame_boxes).all():
                waiting[len(crops) - 1] = frame.image
            boxes.append(frame_boxes)
            provenance.append(frame_provenance)
            found_parts.append((found.face is not None, found.left_hand is not None, found.right_hand is not None))
            poses.append(pose_state.update(found.pose))
            indices.append(frame.index)
            times.append(frame.time)
            frame_landmarks.append(found if self.keep_landmarks else FrameLandmarks())
            if waiting:
                self._backfill(waiting, crops, boxes, provenance)
        if len(indices) < self.min_frames:
            if start is not None and info.duration and start >= info.duration:
                raise ParseError(f"{path}: the segment starts at {start:.3f} s, after the video's end "
                                 f"({info.duration:.3f} s)")
            raise ParseError(
                f"{path}: {len(indices)} frame{'s' if len(indices) != 1 else ''} decoded; a clip needs at least "
                f"{self.min_frames}"
            )
        boxes = np.stack(boxes).astype(np.float32)
        if not np.isfinite(boxes[:, 0]).any():
            raise ParseError(f"{path}: no person found in any of its {len(indices)} frames")
        return ParsedClip(
            crops=np.stack(crops).reshape(len(indices), 3, size, size, 3),
            boxes=boxes,
            provenance=np.stack(provenance).astype(np.uint8),
            pose=np.stack(poses).astype(np.float32),
            frame_index=np.asarray(indices, dtype=np.int64),
            timestamps=np.asarray(times, dtype=np.float64),
            fps=float(info.fps),
            size=(int(shape[0]), int(shape[1])),
            clip_id=clip_id,
            found=np.asarray(found_parts, dtype=bool),
            landmarks=ClipLandmarks.stack(frame_landmarks) if self.keep_landmarks else None,
            face_regions=np.stack(regions) if self.face_privacy else None,
        )

    def _crops(self, image: np.ndarray, boxes: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
        crops = np.stack([crop_box(image, box, self.crop_size) for box in boxes])
        if self.face_privacy:
            crops[0] = mask_face_crop(crops[0], regions)
        return crops

    def _backfill(self, waiting: dict[int, np.ndarray], crops, boxes, provenance) -> None:
        """Frames before a part's first box take that first box (provenance: previous box)."""
        latest = boxes[-1]
        for position in list(waiting):
            missing = ~np.isfinite(boxes[position]).all(axis=1)
            for part in np.flatnonzero(missing & np.isfinite(latest).all(axis=1)):
                boxes[position][part] = latest[part]
                crops[position][part] = crop_box(waiting[position], latest[part], self.crop_size)
                if part == 0 and self.face_privacy:  # a frame with no face of its own: greyed out entirely
                    crops[position][part] = mask_face_crop(crops[position][part], None)
            if np.isfinite(boxes[position]).all():
                del waiting[position]

    def close(self) -> None:
        close = getattr(self.landmark_source, "close", None)
        if close is not None:
            close()
