"""A parsed clip kept as ``signmusketeers parse`` needs it: the crops as JPEG bytes, encoded as each frame arrives
(:class:`EncodedClip`, :func:`encode_clip`). :func:`~signmusketeers.formats.records.clip_record` and the crop
records make the same bytes from it as from a :class:`~signmusketeers.parsing.ParsedClip`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from signmusketeers.constants import JPEG_QUALITY
from signmusketeers.formats.records import decode_jpeg, encode_jpeg
from signmusketeers.parsing.boxes import LANDMARKS, PART_NAMES, SHIFTED
from signmusketeers.parsing.landmarks import ClipLandmarks, FrameLandmarks
from signmusketeers.parsing.parser import FrameParser, ParsedFrame
from signmusketeers.parsing.video import probe_video


class EncodedClip:
    """A parsed clip kept as ``signmusketeers parse`` needs it: the crops as JPEG bytes, encoded as each frame of
    :meth:`~signmusketeers.parsing.FrameParser.stream_video` arrives, instead of raw ``uint8`` crops.

    Everything else is :class:`~signmusketeers.parsing.ParsedClip`'s (boxes, provenance, pose, ``frame_index``,
    ``timestamps``, ``found``, ``face_regions``, ``landmarks``), and the record builders
    (:func:`~signmusketeers.formats.records.clip_record`, :func:`~signmusketeers.data.crop_sample.crop_records`)
    make byte-identical records from either. A 224-px frame's three crops take ~35 KB as JPEGs (quality 95, as in
    the shards) against ~450 KB raw, so memory still grows with the clip's length, ~13× slower.

    Args:
        clip_id: the clip's name; fps: the stream's frame rate (``probe_video``); crop_size: side of the crops.
        jpegs: which crops to encode: ``"all"`` (full clip records), ``"usable"`` (only those crop records may take:
            the part's own landmarks, possibly shifted into the frame) or ``"none"`` (boxes-only records alone).
        keep_landmarks: keep each frame's landmarks (``--poses-out``).
    """

    def __init__(
        self, clip_id: str, fps: float, crop_size: int, *, jpegs: str = "all", keep_landmarks: bool = False
    ) -> None:
        if jpegs not in ("all", "usable", "none"):
            raise ValueError(f"jpegs is one of 'all', 'usable', 'none', got {jpegs!r}")
        self.clip_id, self.fps, self.crop_size = clip_id, float(fps), crop_size
        self.jpeg_mode, self.keep_landmarks = jpegs, keep_landmarks
        self.size: tuple[int, int] = (0, 0)
        # All JPEGs in one growing buffer (a list of small arrays fragments the heap, and packing them for the clip
        # record would copy them all once more); per crop its (start, end) in it, or None where not encoded.
        self._data = bytearray()
        self._jpegs: list[list[tuple[int, int] | None]] = []
        self._rows: dict[str, list] = {
            name: [] for name in ("boxes", "provenance", "pose", "frames", "times", "found", "regions")
        }
        self._landmarks: list[FrameLandmarks] = []

    def add(self, frame: ParsedFrame) -> None:
        """Keep what the records need of one frame; its raw crops are dropped once encoded."""
        if not self._jpegs:
            self.size = (int(frame.shape[0]), int(frame.shape[1]))
        usable = np.asarray(frame.found, dtype=bool) & np.isin(frame.provenance, (LANDMARKS, SHIFTED))
        wanted = {"all": [True] * 3, "usable": list(usable), "none": [False] * 3}[self.jpeg_mode]
        spans: list[tuple[int, int] | None] = []
        for part in range(len(PART_NAMES)):
            if wanted[part]:
                start = len(self._data)
                self._data += encode_jpeg(frame.crops[part], JPEG_QUALITY).tobytes()
                spans.append((start, len(self._data)))
            else:
                spans.append(None)
        self._jpegs.append(spans)
        rows = self._rows
        rows["boxes"].append(frame.boxes)
        rows["provenance"].append(frame.provenance)
        rows["pose"].append(frame.pose)
        rows["frames"].append(frame.index)
        rows["times"].append(frame.time)
        rows["found"].append(frame.found)
        rows["regions"].append(frame.face_regions)
        if self.keep_landmarks:
            self._landmarks.append(frame.landmarks)

    def __len__(self) -> int:
        return len(self._jpegs)

    # the arrays of ParsedClip, stacked on demand (a few bytes per frame)
    @property
    def boxes(self) -> np.ndarray:
        return np.stack(self._rows["boxes"]).astype(np.float32)

    @property
    def provenance(self) -> np.ndarray:
        return np.stack(self._rows["provenance"]).astype(np.uint8)

    @property
    def pose(self) -> np.ndarray:
        return np.stack(self._rows["pose"]).astype(np.float32)

    @property
    def frame_index(self) -> np.ndarray:
        return np.asarray(self._rows["frames"], dtype=np.int64)

    @property
    def timestamps(self) -> np.ndarray:
        return np.asarray(self._rows["times"], dtype=np.float64)

    @property
    def found(self) -> np.ndarray:
        return np.asarray(self._rows["found"], dtype=bool)

    @property
    def face_regions(self) -> np.ndarray | None:
        regions = self._rows["regions"]
        return np.stack(regions) if regions and regions[0] is not None else None

    @property
    def landmarks(self) -> ClipLandmarks | None:
        return ClipLandmarks.stack(self._landmarks) if self.keep_landmarks else None

    def jpeg(self, position: int, part: int) -> np.ndarray:
        """The JPEG of one crop (``uint8 (N,)``), as :func:`~signmusketeers.formats.records.encode_jpeg` made it."""
        span = self._jpegs[position][part]
        if span is None:
            raise ValueError(f"clip {self.clip_id!r}: the crop of part {part} in frame {position} was not kept")
        return np.frombuffer(self._data, dtype=np.uint8, count=span[1] - span[0], offset=span[0])

    def packed_crops(self) -> tuple[np.ndarray, np.ndarray]:
        """All crops as :func:`~signmusketeers.formats.records.pack_jpegs` packs them (frame by frame: face, left,
        right)."""
        if self.jpeg_mode != "all":
            raise ValueError(f"clip {self.clip_id!r}: not every crop was encoded (jpegs={self.jpeg_mode!r})")
        # every crop was appended in record order: the buffer is the packed array (shared, not copied), and its
        # spans give the offsets
        offsets = np.array([0] + [span[1] for row in self._jpegs for span in row], dtype=np.int64)
        return np.frombuffer(self._data, dtype=np.uint8), offsets

    def frame_crops(self, position: int) -> np.ndarray:
        """``uint8 (3, S, S, 3)``: one frame's crops decoded from their JPEGs (black where not kept)."""
        crops = np.zeros((len(PART_NAMES), self.crop_size, self.crop_size, 3), dtype=np.uint8)
        for part, span in enumerate(self._jpegs[position]):
            if span is not None:
                crops[part] = decode_jpeg(self.jpeg(position, part))
        return crops


def encode_clip(
    parser: FrameParser,
    video: str,
    *,
    clip_id: str | None = None,
    jpegs: str = "all",
    keep_landmarks: bool = False,
    **where: Any,
) -> EncodedClip:
    """Parse ``video`` frame by frame into an :class:`EncodedClip` (``where``: ``landmarks``, ``start``, ``end``,
    ``fps`` of :meth:`~signmusketeers.parsing.FrameParser.stream_video`). Raises what ``parse_video`` raises."""
    clip = EncodedClip(clip_id or Path(video).stem, 0.0, parser.crop_size, jpegs=jpegs, keep_landmarks=keep_landmarks)
    # stream_video lets frames before a part's first box wait for it without limit, as parse_video does, so the
    # records stay byte-identical to the whole-clip path's; a waiting frame holds its decoded image until then
    # (a bounded wait would give those frames black crops and NaN boxes instead, and lose their crop records).
    for frame in parser.stream_video(video, **where):
        clip.add(frame)
    clip.fps = float(probe_video(video, fps=where.get("fps")).fps)  # the stream probed it already: it opens
    return clip
