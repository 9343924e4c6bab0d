"""Crop shards → multi-crop batches for DINOv2 pre-training.

A crop shard folder (written by ``signmusketeers parse --crops-out``; ``../DESIGN.md`` §3) holds one record per
crop: ``image`` (JPEG bytes as a uint8 array), ``part`` ("face" | "hand"), ``side`` ("face" | "left" | "right"),
``clip_id`` and ``frame``. :class:`CropShardDataModule` streams it with LitData and turns each crop into DINOv2's
2 global + n local augmented views (:class:`signmusketeers.pretrain.augment.MultiCropAugmentation`).

Each crop's views are drawn from a generator seeded with (``seed``, epoch, the crop's global index in the folder)
(:class:`SeededCropDataset`), so they do not depend on which rank, loader worker or prefetch position augments it:
a run killed mid-epoch and resumed from its last checkpoint sees exactly the views of a straight run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from litdata import StreamingDataset
from litdata.streaming.sampler import ChunkedIndex

from ..seeding import derive_seed

PARTS = ("face", "hand")


class CropRecordTransform:
    """A crop record → its multi-crop views (a corrupt JPEG is reported with its folder, clip and frame); with
    ``part``, records of the other part give ``None`` (not decoded)."""

    def __init__(self, folder: str, augmentation: Any, part: str | None = None) -> None:
        self.folder, self.augmentation, self.part = folder, augmentation, part

    def __call__(self, record: dict[str, Any], seed: int | None = None) -> dict[str, Any] | None:
        from PIL import Image

        from .shards import decode_jpeg

        if self.part is not None and record["part"] != self.part:
            return None
        try:
            image = Image.fromarray(decode_jpeg(record["image"]))
        except ValueError as error:
            raise ValueError(f"{self.folder}: crop {record['clip_id']}/{record['frame']}: {error}") from None
        return self.augmentation(image, seed)


class SeededCropDataset(StreamingDataset):
    """A LitData ``StreamingDataset`` of crop records whose ``record_transform(record, seed)`` gets a seed made of
    (``base_seed``, the epoch, the record's global index) (:func:`signmusketeers.seeding.derive_seed`).

    LitData restores the epoch and position from a loader checkpoint and every rank reads other indices, so the
    seeds differ across crops, epochs and ranks and are the same in a straight and a resumed run.
    """

    def __init__(self, folder: str, record_transform: CropRecordTransform, base_seed: int, **kwargs: Any) -> None:
        super().__init__(folder, seed=base_seed, **kwargs)
        self.record_transform, self.base_seed = record_transform, base_seed
        self.views = True  # False: raw records (skipping to a resumed position without decoding)

    def __getitem__(self, index: Any) -> Any:
        record = super().__getitem__(index)
        if self.views and isinstance(index, (int, ChunkedIndex)):
            global_index = index.index if isinstance(index, ChunkedIndex) else index
            return self.record_transform(record, derive_seed(self.base_seed, self.current_epoch, global_index))
        return record  # slices, keys, skipped records: raw


class EndlessPartStream(torch.utils.data.IterableDataset):
    """The records of one ``part`` from a mixed crop folder, epoch after epoch, without end.

    Filtering leaves each rank a slightly different number of crops per pass, which would end the ranks' epochs at
    different steps and hang DDP; an endless stream (DINOv2's infinite sampler) has no epoch end, and the run's
    length is the trainer's ``max_steps``. Each pass reshuffles (LitData's ``set_epoch``).

    Resume: with ``batches_done`` set (by :class:`CropShardDataModule` from the restored step), each reader first
    skips the crops of its batches among the first ``batches_done`` (a DataLoader takes batches from its W workers
    in turn, so worker w made batches w, w + W, ...). Skipped records are read but not decoded or augmented.
    """

    def __init__(self, dataset: SeededCropDataset, batch_size: int = 1) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        self.batches_done = 0

    def _crops_to_skip(self) -> int:
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return len(range(worker, self.batches_done, workers)) * self.batch_size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        transform = self.dataset.record_transform
        skip = self._crops_to_skip()
        self.dataset.views = skip == 0
        for epoch in itertools.count(1):
            self.dataset.set_epoch(epoch)
            found = False
            for item in self.dataset:  # views (None for crops of the other part), or raw records while skipping
                if skip:
                    if item["part"] == transform.part:
                        found, skip = True, skip - 1
                        self.dataset.views = skip == 0
                elif item is not None:
                    found = True
                    yield item
            if not found:
                raise ValueError(f"{transform.folder}: no {transform.part} crops in this reader's share of the folder")


class CropShardDataModule(LightningDataModule):
    """Streams a crop shard folder as ``{"global_crops": (2, B, 3, G, G), "local_crops": (n_local, B, 3, L, L)}``.

    Training only (self-supervised: no validation split). ``part=None`` takes every record: a LitData
    ``StreamingDataLoader`` with ``drop_last=True`` gives every DDP rank the same number of full batches and resumes
    mid-epoch from a checkpoint. Under DDP with N ranks × W workers no crop is read twice in an epoch; the remainder
    that does not fill a batch on every rank (fewer than N × ``batch_size`` crops) is left out of that epoch, a
    different set each epoch when shuffling (``tests/data/test_exactly_once.py``). ``part="face"`` or ``"hand"``
    picks that part out of a mixed folder (what ``signmusketeers parse --crops-out`` writes) as an endless stream
    (:class:`EndlessPartStream`), so set the trainer's ``max_steps``; a resumed run skips the crops of the steps
    done (reading, not decoding them). ``seed`` seeds the shuffling
    and every crop's augmentation (with the epoch and the crop's index). Crop sizes and scales default to Table 7.
    """

    def __init__(
        self,
        train_dir: str,
        part: str | None = None,
        batch_size: int = 128,
        num_workers: int = 8,
        global_crops_size: int = 224,
        local_crops_size: int = 98,
        n_local_crops: int = 8,
        global_crops_scale: tuple[float, float] = (0.5, 1.0),
        local_crops_scale: tuple[float, float] = (0.25, 0.5),
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if part is not None and part not in PARTS:
            raise ValueError(f"part must be one of {PARTS} or None, got {part!r}")
        self.save_hyperparameters()
        self.train_dir = str(Path(train_dir).expanduser())
        self.batch_size = batch_size
        self.dataset = None

    def setup(self, stage: str | None = None) -> None:
        from ..pretrain.augment import MultiCropAugmentation
        from .shards import check_dataset_folder

        hp = self.hparams
        transform = CropRecordTransform(self.train_dir, MultiCropAugmentation(
            hp.global_crops_size, hp.local_crops_size, hp.n_local_crops,
            tuple(hp.global_crops_scale), tuple(hp.local_crops_scale),
        ), hp.part)
        check_dataset_folder(self.train_dir, "crops")
        streaming = SeededCropDataset(str(Path(self.train_dir).resolve()), transform, hp.seed, shuffle=hp.shuffle,
                                      drop_last=True)
        if len(streaming) < hp.batch_size:
            raise ValueError(f"{self.train_dir}: {len(streaming)} crops, fewer than one batch of {hp.batch_size}")
        self.dataset = EndlessPartStream(streaming, hp.batch_size) if hp.part else streaming

    def train_dataloader(self):
        from litdata import StreamingDataLoader

        from ..pretrain.augment import collate_multicrop

        kwargs = dict(batch_size=self.batch_size, num_workers=self.hparams.num_workers, collate_fn=collate_multicrop,
                      drop_last=True, persistent_workers=self.hparams.num_workers > 0)
        if isinstance(self.dataset, EndlessPartStream):
            # A resumed fit has restored its step before it asks for the loader: continue the stream from there.
            trainer = self.trainer
            self.dataset.batches_done = trainer.global_step * trainer.accumulate_grad_batches if trainer else 0
            return torch.utils.data.DataLoader(self.dataset, **kwargs)
        return StreamingDataLoader(self.dataset, **kwargs)
