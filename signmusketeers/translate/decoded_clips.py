"""The decoding side of :func:`~signmusketeers.translate.extract.extract_features`: :class:`DecodedClips`, the clip
records of a clip shard folder with their crops decoded (in loader worker processes), and :func:`batches_of_clips`,
which groups the decoded clips into encoder batches.

Full clip records hold the crops as JPEGs; boxes-only records (``parse --clip-records boxes``) are cut again from
their source video with the parser's boxes and crop function, masked again as ``parse`` masked them, and with
``--global-encoder`` also give their whole frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from signmusketeers.data.shards import open_dataset
from signmusketeers.formats.records import unpack_clip_crops
from signmusketeers.parsing.recrop import SourceVideoError, record_crops


class DecodedClips(Dataset):
    """Clip records ``indices`` of a clip shard folder, with their crops decoded to ``uint8 (T, 3, S, S, 3)``.

    Full clip records hold the crops as JPEGs; boxes-only records (``parse --clip-records boxes``) are cropped
    again from their source video, with the parser's own decoding and crop function
    (:func:`~signmusketeers.parsing.recrop.record_crops`). A source video that is missing or is not the parsed one
    fails that clip with one line naming the file.

    Clips whose id is in ``skip`` are returned without decoding (``{"clip_id", "skip": True}``). A record that
    cannot be decoded comes back as ``{"clip_id", "error"}`` so the writer can log it and go on; one that cannot
    even be read (a damaged chunk file) comes back with ``"record N"`` (its index) as its ``clip_id``.

    ``whole_frame_size`` > 0 also returns ``"whole"``: ``uint8 (T, W, W, 3)`` whole frames of boxes-only records,
    decoded in the same pass as their crops (full records hold no whole frames: that clip fails).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        indices: Sequence[int],
        skip: set[str],
        whole_frame_size: int = 0,
        face_privacy: bool | None = None,
    ) -> None:
        self.folder, self.indices, self.skip = str(folder), indices, skip
        self.whole_frame_size = whole_frame_size
        self.face_privacy = face_privacy
        self._dataset = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        if self._dataset is None:  # opened per worker process
            self._dataset = open_dataset(self.folder, kind="clips")
        index = self.indices[position]
        try:
            record = self._dataset[index]
        except Exception as error:  # noqa: BLE001 - a damaged chunk fails in LitData's reader with many types
            # Its clip id is unreadable too: the record's position names it (skipped as such on a rerun).
            key = f"record {index}"
            if key in self.skip:
                return {"clip_id": key, "skip": True}
            reason = (str(error).splitlines() or [type(error).__name__])[0].split(". ")[0]  # LitData's run on
            return {"clip_id": key, "what": key, "error": f"unreadable ({reason})"}
        clip_id = str(record["clip_id"])
        if clip_id in self.skip:
            return {"clip_id": clip_id, "skip": True}
        try:
            pose = np.asarray(record["pose"], dtype=np.float32)
            whole = None
            if self.whole_frame_size:
                if "video" not in record:
                    raise ValueError(NO_WHOLE_FRAMES)
                size = self.whole_frame_size
                whole = np.zeros((len(np.asarray(record["frames"])), size, size, 3), dtype=np.uint8)
            if "crops" in record:  # a full clip record: the crops as JPEGs
                crops = unpack_clip_crops(record)
            elif "video" in record:  # a boxes-only clip record: cut the same crops from the source video again
                if self.face_privacy and "face_regions" not in record:
                    raise ValueError("the folder has masked faces but this boxes-only record has no face regions")
                crops = record_crops(record, whole=whole)  # masked again with the record's face regions if any
            else:
                raise ValueError("neither JPEG crops nor a source video in the clip record")
            if len(crops) != len(pose):
                raise ValueError(f"crops of {len(crops)} frames for {len(pose)} frames of pose")
        except SourceVideoError as error:
            return {"clip_id": clip_id, "error": f"source video {error}"}
        except (ValueError, IndexError, KeyError) as error:
            return {"clip_id": clip_id, "error": str(error)}
        split = str(record.get("split", "") or "unsplit")
        item = {"clip_id": clip_id, "text": str(record.get("text", "")), "split": split, "pose": pose, "crops": crops}
        if whole is not None:
            item["whole"] = whole
        return item


NO_WHOLE_FRAMES = (
    "full clip records hold only the crops, not the whole frames the global stream needs: parse with "
    "--clip-records boxes (extract then decodes the source videos)"
)


def batches_of_clips(loader: DataLoader, frames_per_batch: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """Group decoded clips into encoder batches of about ``frames_per_batch`` frames; yields (clips, others) where
    others are skipped or failed items passed through."""
    pending, others, frames = [], [], 0
    for item in loader:
        if "crops" not in item:
            others.append(item)
            continue
        pending.append(item)
        frames += len(item["pose"])
        if frames >= frames_per_batch:
            yield pending, others
            pending, others, frames = [], [], 0
    if pending or others:
        yield pending, others
