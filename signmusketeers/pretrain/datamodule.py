"""Crop shards → multi-crop batches for DINOv2 pre-training.

A crop shard folder (written by ``signmusketeers parse --crops-out``) holds one record per
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from litdata import StreamingDataset
from litdata.streaming.sampler import ChunkedIndex

from signmusketeers.data.part_index import read_part_index
from signmusketeers.formats.records import PART_CODES
from signmusketeers.seeding import derive_seed

PARTS = ("face", "hand")


class CropRecordTransform:
    """A crop record → its multi-crop views (a corrupt JPEG is reported with its folder, clip and frame); with
    ``part``, records of the other part give ``None`` (not decoded)."""

    def __init__(self, folder: str, augmentation: Any, part: str | None = None) -> None:
        self.folder, self.augmentation, self.part = folder, augmentation, part

    def __call__(self, record: dict[str, Any], seed: int | None = None) -> dict[str, Any] | None:
        from PIL import Image

        from signmusketeers.formats.records import decode_jpeg

        if self.part is not None and record["part"] != self.part:
            return None
        try:
            image = Image.fromarray(decode_jpeg(record["image"]))
        except ValueError as error:
            raise ValueError(f"{self.folder}: crop {record['clip_id']}/{record['frame']}: {error}") from None
        return self.augmentation(image, seed)


class CropRecordForDevice:
    """A crop record → ``{"image": uint8 (3, H, W), "params": its views' random parameters}`` for the on-device
    augmentation (:class:`signmusketeers.pretrain.augment.DeviceMultiCrop`); with ``decode=False`` the JPEG bytes
    travel instead of the image (``"jpeg"``), to be decoded on the device. Same ``part`` filter as
    :class:`CropRecordTransform`."""

    def __init__(
        self,
        folder: str,
        part: str | None = None,
        n_local: int = 8,
        global_scale: tuple[float, float] = (0.5, 1.0),
        local_scale: tuple[float, float] = (0.25, 0.5),
        decode: bool = True,
    ) -> None:
        self.folder, self.part, self.decode = folder, part, decode
        self.n_local, self.global_scale, self.local_scale = n_local, tuple(global_scale), tuple(local_scale)

    def __call__(self, record: dict[str, Any], seed: int | None = None) -> dict[str, Any] | None:
        from signmusketeers.formats.records import decode_jpeg
        from signmusketeers.pretrain.augment import draw_view_params

        if self.part is not None and record["part"] != self.part:
            return None
        buffer = np.frombuffer(record["image"], dtype=np.uint8)
        try:
            if self.decode:
                image = torch.from_numpy(decode_jpeg(buffer)).permute(2, 0, 1).contiguous()
                height, width = image.shape[1:]
            else:
                import io

                from PIL import Image

                width, height = Image.open(io.BytesIO(buffer.tobytes())).size  # the header only
        except (ValueError, OSError) as error:
            raise ValueError(f"{self.folder}: crop {record['clip_id']}/{record['frame']}: {error}") from None
        seed = seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        params = draw_view_params(seed, height, width, self.n_local, self.global_scale, self.local_scale)
        return (
            {"image": image, "params": params}
            if self.decode
            else {"jpeg": torch.from_numpy(buffer.copy()), "params": params}
        )


class SeededCropDataset(StreamingDataset):
    """A LitData ``StreamingDataset`` of crop records whose ``record_transform(record, seed)`` gets a seed made of
    (``base_seed``, the epoch, the record's global index) (:func:`signmusketeers.seeding.derive_seed`).

    LitData restores the epoch and position from a loader checkpoint and every rank reads other indices, so the
    seeds differ across crops, epochs and ranks and are the same in a straight and a resumed run.
    """

    def __init__(self, folder: str, record_transform: CropRecordTransform, base_seed: int, **kwargs: Any) -> None:
        super().__init__(folder, seed=base_seed, **kwargs)
        self.record_transform, self.base_seed = record_transform, base_seed

    def __getitem__(self, index: Any) -> Any:
        record = super().__getitem__(index)
        if isinstance(index, (int, ChunkedIndex)):
            global_index = index.index if isinstance(index, ChunkedIndex) else index
            return self.record_transform(record, derive_seed(self.base_seed, self.current_epoch, global_index))
        return record  # slices, keys: raw


@dataclass(frozen=True)
class StreamPosition:
    """Where a reader of a part stream continues: pass ``epoch`` (1-based), its ``chunk``-th chunk (position in
    the reader's chunk list), after ``offset`` crops of the part in that chunk."""

    epoch: int
    chunk: int
    offset: int


class EndlessPartStream(torch.utils.data.IterableDataset):
    """The records of one ``part`` from a mixed crop folder, epoch after epoch, without end.

    Filtering leaves each rank a slightly different number of crops per pass, which would end the ranks' epochs at
    different steps and hang DDP; an endless stream (DINOv2's infinite sampler) has no epoch end, and the run's
    length is the trainer's ``max_steps``. Each pass reshuffles (LitData's ``set_epoch``).

    The order is LitData's: the chunks LitData assigns this reader (rank × loader worker) in a pass, each chunk's
    records in LitData's seeded permutation, keeping the records of ``part``. Which record has which part comes
    from the folder's part index (:func:`signmusketeers.data.part_index.read_part_index`), so records of the other part
    are never read.

    Resume: with ``batches_done`` set (by :class:`CropShardDataModule` from the restored step), each reader starts
    after the crops of its batches among the first ``batches_done`` (a DataLoader takes batches from its W workers
    in turn, so worker w made batches w, w + W, ...; see :meth:`_reader` for a restart after any step). That
    position is computed (:meth:`position`): whole passes and chunks are counted in the part index, and only the
    chunk it falls in is permuted; nothing is read.
    """

    def __init__(self, dataset: SeededCropDataset, batch_size: int = 1, part_index: np.ndarray | None = None) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        self.batches_done = 0
        self._part_index = part_index

    @property
    def part(self) -> str:
        return self.dataset.record_transform.part

    def _in_part(self) -> tuple[np.ndarray, np.ndarray]:
        if self._part_index is None:
            self._part_index = read_part_index(self.dataset.record_transform.folder)
        mask = self._part_index == PART_CODES[self.part]
        return mask, np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])

    def _reader(self) -> tuple[int, int]:
        """(loader workers, the worker whose share this one reads). A resumed DataLoader takes its first batch from
        worker 0, but the next batch of the straight run is worker ``batches_done % W``'s: worker w therefore reads
        the share (and continues the batches) of worker ``(w + batches_done) % W``."""
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return workers, (worker + self.batches_done) % workers

    def _crops_to_skip(self) -> int:
        workers, worker = self._reader()
        return len(range(worker, self.batches_done, workers)) * self.batch_size

    def _plan(self, epoch: int) -> list[tuple[int, int, int]]:
        """This reader's ``(chunk index, first, end)`` global-index ranges for pass ``epoch``, as LitData assigns
        them (``iter`` on a StreamingDataset plans the pass; it reads nothing)."""
        from litdata.utilities.env import _WorkerEnv

        dataset = self.dataset
        dataset._forced_worker_env = _WorkerEnv(*self._reader())  # LitData's hook for a reader's identity
        dataset.set_epoch(epoch)
        iter(dataset)
        return [
            (int(chunk), int(interval[1]), int(interval[2]))
            for chunk, interval in zip(dataset.worker_chunks, dataset.worker_intervals)
        ]

    def _order(self, epoch: int, chunk: int, first: int, end: int, mask: np.ndarray) -> np.ndarray:
        """The global indices of ``part`` in one chunk range, in LitData's seeded order for ``epoch``."""
        dataset = self.dataset
        order = np.asarray(
            dataset.shuffler(np.arange(first, end), len(dataset.cache.get_chunk_intervals()), epoch, chunk),
            dtype=np.int64,
        )
        return order[mask[order]]

    def position(self, skip: int) -> StreamPosition:
        """The position after this reader's first ``skip`` crops of the part, computed from the part index."""
        mask, cumulative = self._in_part()
        for epoch in itertools.count(1):
            plan = self._plan(epoch)
            counts = [int(cumulative[end] - cumulative[first]) for _, first, end in plan]
            if sum(counts) == 0:
                raise ValueError(
                    f"{self.dataset.record_transform.folder}: no {self.part} crops in this reader's share of the folder"
                )
            if skip >= sum(counts):
                skip -= sum(counts)
                continue
            for chunk, count in enumerate(counts):
                if skip < count:
                    return StreamPosition(epoch, chunk, skip)
                skip -= count
        raise AssertionError("unreachable")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        mask, _ = self._in_part()
        start = self.position(self._crops_to_skip())
        dataset = self.dataset
        for epoch in itertools.count(start.epoch):
            plan = self._plan(epoch)
            first_chunk = start.chunk if epoch == start.epoch else 0
            for position in range(first_chunk, len(plan)):
                chunk, first, end = plan[position]
                order = self._order(epoch, chunk, first, end, mask)
                if epoch == start.epoch and position == start.chunk:
                    order = order[start.offset :]
                for n, index in enumerate(order.tolist()):
                    yield dataset[
                        ChunkedIndex(
                            index=index,
                            chunk_index=chunk,
                            chunk_size=end - first,
                            # LitData prefetches a reader's remaining chunks from its first read of a pass
                            chunk_indexes=[c for c, _, _ in plan[position:]] if n == 0 else None,
                            is_last_index=position == len(plan) - 1 and n == len(order) - 1,
                        )
                    ]


class CropShardDataModule(LightningDataModule):
    """Streams a crop shard folder as ``{"global_crops": (2, B, 3, G, G), "local_crops": (n_local, B, 3, L, L)}``.

    Training only (self-supervised: no validation split). ``part=None`` takes every record: a LitData
    ``StreamingDataLoader`` with ``drop_last=True`` gives every DDP rank the same number of full batches and resumes
    mid-epoch from a checkpoint. Under DDP with N ranks × W workers no crop is read twice in an epoch; the remainder
    that does not fill a batch on every rank (fewer than N × ``batch_size`` crops) is left out of that epoch, a
    different set each epoch when shuffling (``tests/data/test_exactly_once.py``). ``part="face"`` or ``"hand"``
    picks that part out of a mixed folder (what ``signmusketeers parse --crops-out`` writes) as an endless stream
    (:class:`EndlessPartStream`), so set the trainer's ``max_steps``; a resumed run computes where each reader
    continues from the folder's part index (no record of the steps done is read again). ``seed`` seeds the shuffling
    and every crop's augmentation (with the epoch and the crop's index). Crop sizes and scales default to Table 7.

    ``augment_on="device"`` builds the views on the training device instead of in the loader workers: workers
    decode the JPEGs and draw each crop's random parameters from its seed, and the batch is augmented after the
    transfer (:meth:`on_after_batch_transfer`, :class:`signmusketeers.pretrain.augment.DeviceMultiCrop`), so a GPU
    needs a few CPU cores rather than dozens; with ``decode_on_device`` the JPEG bytes travel too and are decoded
    there (``torchvision.io.decode_jpeg``, batched nvJPEG on CUDA). The model sees the same batch layout either way;
    resume stays exact (parameters follow each crop's seed). The CPU path (default) is the one to use on CPUs.
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
        augment_on: str = "cpu",
        decode_on_device: bool = False,
    ) -> None:
        super().__init__()
        if part is not None and part not in PARTS:
            raise ValueError(f"part must be one of {PARTS} or None, got {part!r}")
        if augment_on not in ("cpu", "device"):
            raise ValueError(f"augment_on must be 'cpu' or 'device', got {augment_on!r}")
        if decode_on_device and augment_on != "device":
            raise ValueError("decode_on_device needs augment_on='device'")
        self.save_hyperparameters()
        self.train_dir = str(Path(train_dir).expanduser())
        self.batch_size = batch_size
        self.dataset = None
        self.device_augmentation = None

    def setup(self, stage: str | None = None) -> None:
        from signmusketeers.data.shards import check_dataset_folder
        from signmusketeers.pretrain.augment import DeviceMultiCrop, MultiCropAugmentation

        hp = self.hparams
        if hp.augment_on == "device":
            transform = CropRecordForDevice(
                self.train_dir,
                hp.part,
                hp.n_local_crops,
                hp.global_crops_scale,
                hp.local_crops_scale,
                decode=not hp.decode_on_device,
            )
            self.device_augmentation = DeviceMultiCrop(hp.global_crops_size, hp.local_crops_size, hp.n_local_crops)
        else:
            transform = CropRecordTransform(
                self.train_dir,
                MultiCropAugmentation(
                    hp.global_crops_size,
                    hp.local_crops_size,
                    hp.n_local_crops,
                    tuple(hp.global_crops_scale),
                    tuple(hp.local_crops_scale),
                ),
                hp.part,
            )
        check_dataset_folder(self.train_dir, "crops")
        streaming = SeededCropDataset(
            str(Path(self.train_dir).resolve()), transform, hp.seed, shuffle=hp.shuffle, drop_last=True
        )
        if len(streaming) < hp.batch_size:
            raise ValueError(f"{self.train_dir}: {len(streaming)} crops, fewer than one batch of {hp.batch_size}")
        self.dataset = (
            EndlessPartStream(streaming, hp.batch_size, read_part_index(self.train_dir)) if hp.part else streaming
        )

    def train_dataloader(self):
        from litdata import StreamingDataLoader

        from signmusketeers.pretrain.augment import collate_device_views, collate_multicrop

        collate = collate_device_views if self.hparams.augment_on == "device" else collate_multicrop
        kwargs = dict(
            batch_size=self.batch_size,
            num_workers=self.hparams.num_workers,
            collate_fn=collate,
            drop_last=True,
            persistent_workers=self.hparams.num_workers > 0,
            pin_memory=self.hparams.augment_on == "device" and torch.cuda.is_available(),
        )
        if isinstance(self.dataset, EndlessPartStream):
            # A resumed fit has restored its step before it asks for the loader: continue the stream from there.
            trainer = self.trainer
            self.dataset.batches_done = trainer.global_step * trainer.accumulate_grad_batches if trainer else 0
            return torch.utils.data.DataLoader(self.dataset, **kwargs)
        return StreamingDataLoader(self.dataset, **kwargs)

    # ----------------------------------------------------------------------------- augment_on="device"

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """The images go to the device; the views' parameters (and JPEG bytes) stay on the CPU, where
        :class:`DeviceMultiCrop` reads them without waiting on the device."""
        if isinstance(batch, dict) and "params" in batch:
            self._device = device
            moved = dict(batch)
            if "images" in batch:
                moved["images"] = batch["images"].to(device, non_blocking=True)
            return moved
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """``augment_on="device"``: decode (with ``decode_on_device``) and build the multi-crop views on the
        device; the module receives ``{"global_crops", "local_crops"}`` as from the CPU path."""
        if not (isinstance(batch, dict) and "params" in batch):
            return batch
        return self.augment_batch(batch, getattr(self, "_device", None))

    def augment_batch(self, batch: dict[str, Any], device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """A collated device batch (images or JPEG bytes + parameters) → its views, on ``device``."""
        if "images" in batch:
            images = batch["images"]
        else:
            from torchvision.io import ImageReadMode, decode_jpeg

            device = torch.device(device or "cpu")
            images = torch.stack(decode_jpeg(batch["jpegs"], mode=ImageReadMode.RGB, device=device))
        augmentation = self.device_augmentation.to(images.device)
        return augmentation(images, batch["params"])
