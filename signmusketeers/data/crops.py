"""Crop shards → multi-crop batches for DINOv2 pre-training.

A crop shard folder (written by ``signmusketeers parse --crops-out``; ``../DESIGN.md`` §3) holds one record per
crop: ``image`` (JPEG bytes as a uint8 array), ``part`` ("face" | "hand"), ``side`` ("face" | "left" | "right"),
``clip_id`` and ``frame``. :class:`CropShardDataModule` streams it with LitData and turns each crop into DINOv2's
2 global + n local augmented views (:class:`signmusketeers.pretrain.augment.MultiCropAugmentation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule

PARTS = ("face", "hand")


class CropRecordTransform:
    """A crop record → its multi-crop views; refuses a record of another part than the encoder's."""

    def __init__(self, folder: str, part: str | None, augmentation: Any) -> None:
        self.folder, self.part, self.augmentation = folder, part, augmentation

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        from PIL import Image

        from .shards import decode_jpeg

        if self.part is not None and record["part"] != self.part:
            raise ValueError(
                f"{self.folder}: crop {record['clip_id']}/{record['frame']} is a {record['part']} crop; "
                f"this run pre-trains the {self.part} encoder (give it a folder of {self.part} crops)"
            )
        try:
            image = Image.fromarray(decode_jpeg(record["image"]))
        except ValueError as error:
            raise ValueError(f"{self.folder}: crop {record['clip_id']}/{record['frame']}: {error}") from None
        return self.augmentation(image)


class CropShardDataModule(LightningDataModule):
    """Streams a crop shard folder as ``{"global_crops": (2, B, 3, G, G), "local_crops": (n_local, B, 3, L, L)}``.

    Training only (self-supervised: no validation split); ``drop_last=True`` so every rank of a DDP run gets the
    same number of batches. Crop sizes and scales default to SignMusketeers Table 7. ``part`` ("face" | "hand")
    makes the reader refuse crops of the other part, naming the folder, instead of silently mixing them.
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
        from .shards import open_dataset

        hp = self.hparams
        augmentation = MultiCropAugmentation(
            hp.global_crops_size, hp.local_crops_size, hp.n_local_crops,
            tuple(hp.global_crops_scale), tuple(hp.local_crops_scale),
        )
        self.dataset = open_dataset(
            self.train_dir, kind="crops", shuffle=hp.shuffle, drop_last=True, seed=hp.seed,
            transform=CropRecordTransform(self.train_dir, hp.part, augmentation),
        )
        if len(self.dataset) < hp.batch_size:
            raise ValueError(f"{self.train_dir}: {len(self.dataset)} crops, fewer than one batch of {hp.batch_size}")

    def train_dataloader(self):
        from litdata import StreamingDataLoader

        from ..pretrain.augment import collate_multicrop

        return StreamingDataLoader(
            self.dataset, batch_size=self.batch_size, num_workers=self.hparams.num_workers,
            collate_fn=collate_multicrop, drop_last=True, persistent_workers=self.hparams.num_workers > 0,
        )
