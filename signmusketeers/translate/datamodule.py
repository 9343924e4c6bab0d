"""ClipFeatureDataModule: batches of cached per-clip features for the translator (paper §3.3).

Feature shards (``signmusketeers extract``) hold one record per clip: ``face``, ``left``,
``right`` float16 ``(T, 384)``, ``pose`` float32 ``(T, 14)``, optionally ``global`` ``(T, D)``, ``text`` and
``clip_id``. A batch is a dict:

* ``face``/``left``/``right``/``pose``[/``global``]: float ``(B, T_max, D)``, zero-padded after each clip's end;
* ``attention_mask``: long ``(B, T_max)``, 1 on real frames;
* ``labels``: long ``(B, L)`` reference token ids, -100 on padding (ignored by the loss);
* ``lengths`` long ``(B,)``, ``text`` and ``clip_id`` (lists of str).

Clips longer than ``max_frames`` are cut to their first ``max_frames`` frames; the clips cut are counted per split,
each clip once however many epochs read it (``truncated_clips``, per rank), and reported as a warning at the
end of each stage.

The DataModule and the translator share what they must agree on in one place, :meth:`ClipFeatureDataModule.connect`
(called by :meth:`~ClipFeatureDataModule.setup` with the Trainer's model, or by hand without a Trainer): references
are tokenised with the model's tokenizer, and the model learns from the shards' manifests which encoders made the
features and whether faces were masked.

Texts may come from a separate manifest (``texts``), keyed by clip id, instead of the shards' own ``text``:

* How2Sign: its tab-separated sentence CSV (``SENTENCE_NAME`` → ``SENTENCE``; e.g. ``how2sign_realigned_test.csv``);
* YouTube-ASL-shaped or our own manifests: CSV/TSV with ``clip_id`` and ``text`` columns, or JSON lines with those
  keys (one caption per clip, as parsed clips are cut from caption timings).
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, IterableDataset

from signmusketeers.data.shard_manifest import ShardError, ShardManifest
from signmusketeers.data.shards import open_dataset
from signmusketeers.data.tables import read_fields, read_rows

FRAME_FIELDS = ("face", "left", "right", "pose", "global")


def read_text_manifest(path: str | os.PathLike) -> dict[str, str]:
    """``clip_id → text`` from a How2Sign CSV, a ``clip_id,text`` CSV/TSV, or JSON lines (see module doc)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such text manifest")
    first_line = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    if path.suffix not in (".jsonl", ".json") and "SENTENCE_NAME" in first_line:
        # How2Sign's sentences hold quote characters: its tab-separated file is read without CSV quoting.
        header, rows = read_fields(path, "\t" if "\t" in first_line else ",")
        if "SENTENCE" in header:
            name, sentence = header.index("SENTENCE_NAME"), header.index("SENTENCE")
            return {fields[name]: fields[sentence] for _, fields in rows}
    jsonl = path.suffix in (".jsonl", ".json")
    texts = {}
    for number, row in read_rows(path, jsonl=jsonl):
        if not isinstance(row, dict) or "clip_id" not in row or "text" not in row:
            if jsonl:
                raise ValueError(f"{path}:{number}: expected a JSON object with clip_id and text")
            raise ValueError(
                f"{path}: needs columns clip_id,text (or How2Sign's SENTENCE_NAME,SENTENCE); found {list(row)}"
            )
        texts[str(row["clip_id"])] = str(row["text"])
    return texts


class FeatureCollator:
    """Records → padded batch (module doc). Picklable, so it runs inside loader workers."""

    def __init__(
        self,
        tokenizer,
        max_frames: int | None = None,
        max_target_tokens: int = 128,
        texts: Mapping[str, str] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.max_frames = max_frames
        self.max_target_tokens = max_target_tokens
        self.texts = texts

    def __call__(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        fields = [f for f in FRAME_FIELDS if f in records[0]]
        full_lengths = [len(np.asarray(r[fields[0]])) for r in records]
        lengths = [min(n, self.max_frames) if self.max_frames else n for n in full_lengths]
        longest = max(lengths)
        batch: dict[str, Any] = {}
        for field in fields:
            first = np.asarray(records[0][field])
            dtype = torch.float16 if first.dtype == np.float16 else torch.float32
            padded = torch.zeros(len(records), longest, first.shape[-1], dtype=dtype)
            for row, (record, length) in enumerate(zip(records, lengths)):
                padded[row, :length] = torch.from_numpy(np.asarray(record[field])[:length].astype(first.dtype))
            batch[field] = padded
        lengths_tensor = torch.tensor(lengths, dtype=torch.long)
        batch["lengths"] = lengths_tensor
        batch["attention_mask"] = (torch.arange(longest)[None, :] < lengths_tensor[:, None]).long()
        batch["clip_id"] = [str(r["clip_id"]) for r in records]
        batch["text"] = [
            self.texts.get(c, str(r["text"])) if self.texts else str(r["text"])
            for c, r in zip(batch["clip_id"], records)
        ]
        tokens = self.tokenizer(
            batch["text"], padding=True, truncation=True, max_length=self.max_target_tokens, return_tensors="pt"
        )
        labels = tokens["input_ids"].masked_fill(tokens["attention_mask"] == 0, -100)
        batch["labels"] = labels
        cut = [c for c, f, n in zip(batch["clip_id"], full_lengths, lengths) if f > n]
        batch["truncated"] = torch.tensor(len(cut))
        batch["truncated_ids"] = cut
        return batch


class LengthBucketedBatches(IterableDataset):
    """Batches of similar-length clips: pools ``pool`` batches of records, sorts them by length, cuts batches and
    yields them in random order (less padding per batch). Full batches only, like ``drop_last=True``."""

    def __init__(self, dataset, collate: FeatureCollator, batch_size: int, pool: int = 50, seed: int = 0) -> None:
        self.dataset, self.collate, self.batch_size, self.pool, self.seed = dataset, collate, batch_size, pool, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset) // self.batch_size

    def _batches(self, records: list[Mapping[str, Any]], generator: random.Random) -> Iterator[dict[str, Any]]:
        records.sort(key=lambda r: len(r["pose"]))
        batches = [
            records[i : i + self.batch_size] for i in range(0, len(records) - self.batch_size + 1, self.batch_size)
        ]
        generator.shuffle(batches)
        for batch in batches:
            yield self.collate(batch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        generator = random.Random(self.seed + self.epoch)
        self.epoch += 1
        pool: list[Mapping[str, Any]] = []
        for record in self.dataset:
            pool.append(record)
            if len(pool) == self.batch_size * self.pool:
                yield from self._batches(pool, generator)
                pool = []
        yield from self._batches(pool, generator)


class ClipFeatureDataModule(LightningDataModule):
    """Train/val/test/predict loaders over feature shard folders (module doc for the batch layout).

    Args:
        train / val / test / predict: feature shard folders, or lists of them read as one (``predict`` defaults to
            ``test``).
        batch_size: clips per device per training step (Table 8: 16); ``eval_batch_size`` defaults to it.
        num_workers: loader processes per device.
        max_frames: cut longer clips to this many frames (counted and warned); ``None`` keeps all.
        max_target_tokens: reference token limit (128, the decoding limit).
        bucket_by_length: batch clips of similar length together (pools ``bucket_pool`` batches); without it the
            LitData loader's mid-epoch resume is available.
        fallback_tokenizer: used only until a model is connected (:meth:`connect`; the model's tokenizer is used
            then); see :mod:`signmusketeers.translate.tokenizer`.
        texts: optional text manifest replacing the shards' ``text`` by clip id (How2Sign CSV, etc.).

    Under DDP (N ranks × ``num_workers``; ``tests/data/test_exactly_once.py``): the train loader reads no clip twice
    per epoch and gives every rank the same number of full batches, leaving out the remainder that does not fill a
    batch on every rank (fewer than N × ``batch_size`` clips, N × ``num_workers`` × ``batch_size`` with
    ``bucket_by_length``; a different set each epoch). Validation, test and predict loaders read every clip exactly
    once (``drop_last=False``, no padded duplicates), so ranks may run different numbers of batches: evaluation
    steps must not hold per-step collectives (:class:`~signmusketeers.translate.TranslationModule` gathers its
    hypotheses once, at the epoch's end).
    """

    def __init__(
        self,
        train: str | list[str] | None = None,
        val: str | list[str] | None = None,
        test: str | list[str] | None = None,
        predict: str | list[str] | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        max_frames: int | None = None,
        max_target_tokens: int = 128,
        bucket_by_length: bool = False,
        bucket_pool: int = 50,
        fallback_tokenizer: str = "byt5",
        texts: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.folders = {"train": train, "val": val, "test": test, "predict": predict or test}
        self._cut_clips: dict[str, set[str]] = {}  # split → ids of the clips cut to max_frames
        self._fallback_tokenizer = None
        self._model = None  # the translator this DataModule feeds, once connected
        self._warned_truncation = False

    # ------------------------------------------------------------------------------------------ the model

    def connect(self, model: Any) -> ClipFeatureDataModule:
        """Share with ``model`` (a :class:`~signmusketeers.translate.TranslationModule`) what the two must agree on;
        returns this DataModule.

        * references are tokenised with ``model.tokenizer`` (read when a loader is built, so the tokenizer a
          checkpoint restores is the one used);
        * the model takes the encoder exports the features were made with and whether their faces were masked
          (``model.adopt_features``); features and a model of different face privacy raise
          :class:`~signmusketeers.parsing.privacy.FacePrivacyError` in one line.

        :meth:`setup` connects the Trainer's model, so ``trainer.fit(model, datamodule)`` and the ``fit``/``test``
        commands need no call; call it yourself to read batches without a Trainer.
        """
        self._model = model
        adopt = getattr(model, "adopt_features", None)
        if adopt is not None:
            adopt(self.encoder_paths, self.face_privacy)
        return self

    def setup(self, stage: str) -> None:
        """Connect the model the Trainer runs (:meth:`connect`), unless it is connected already."""
        model = self.trainer.lightning_module if self.trainer is not None else None
        if model is not None and model is not self._model:
            self.connect(model)

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def tokenizer(self) -> Any:
        """The connected model's tokenizer; before :meth:`connect`, one built from ``fallback_tokenizer``."""
        if getattr(self._model, "tokenizer", None) is not None:
            return self._model.tokenizer
        if self._fallback_tokenizer is None:
            from signmusketeers.translate.tokenizer import build_tokenizer

            self._fallback_tokenizer = build_tokenizer(self.hparams.fallback_tokenizer)
        return self._fallback_tokenizer

    @property
    def encoder_paths(self) -> dict[str, str]:
        """The encoder exports the features were extracted with (from the first shard folder's manifest)."""
        for entry in self.folders.values():
            folder = entry if isinstance(entry, str) or entry is None else entry[0]
            if folder and (Path(folder) / "manifest.json").exists():
                made_by = ShardManifest.read(folder).made_by
                return {
                    part: made_by[f"{part}_encoder"]["path"]
                    for part in ("face", "hand")
                    if isinstance(made_by.get(f"{part}_encoder"), dict) and "path" in made_by[f"{part}_encoder"]
                }
        return {}

    @property
    def face_privacy(self) -> bool | None:
        """Whether the configured feature folders hold features of masked faces (``made_by.face_privacy`` of their
        manifests; ``None`` when none records it). Folders that disagree raise
        :class:`~signmusketeers.parsing.privacy.FacePrivacyError` naming two of them."""
        from signmusketeers.parsing.privacy import FacePrivacyError, describe, folder_face_privacy

        seen: dict[bool | None, str] = {}
        for entry in self.folders.values():
            for folder in [entry] if isinstance(entry, str) else (entry or []):
                if (Path(folder) / "manifest.json").exists():
                    seen.setdefault(folder_face_privacy(folder), folder)
        if len(seen) > 1:
            (a, folder_a), (b, folder_b) = list(seen.items())[:2]
            raise FacePrivacyError(
                f"{folder_a} holds features of {describe(a)}, {folder_b} of {describe(b)}; "
                "train on features of one kind (extract them again from one kind of clip shards)"
            )
        return next(iter(seen), None)

    def collator(self) -> FeatureCollator:
        texts = read_text_manifest(self.hparams.texts) if self.hparams.texts else None
        return FeatureCollator(self.tokenizer, self.hparams.max_frames, self.hparams.max_target_tokens, texts)

    def _dataset(self, split: str, training: bool):
        folders = self.folders[split]
        if not folders:
            raise ShardError(f"ClipFeatureDataModule: no {split} feature folder configured (data.{split})")
        if isinstance(folders, str):
            return open_dataset(folders, kind="features", shuffle=training, drop_last=training, seed=self.hparams.seed)
        from litdata import CombinedStreamingDataset

        # Several folders (e.g. YouTube-ASL + How2Sign): every clip of each, once per epoch.
        parts = [
            open_dataset(f, kind="features", shuffle=training, drop_last=training, seed=self.hparams.seed)
            for f in folders
        ]
        return CombinedStreamingDataset(parts, seed=self.hparams.seed, iterate_over_all=True)

    def _loader(self, split: str, training: bool):
        from litdata import StreamingDataLoader

        dataset = self._dataset(split, training)
        batch_size = self.hparams.batch_size if training else (self.hparams.eval_batch_size or self.hparams.batch_size)
        if training and self.hparams.bucket_by_length:
            batches = LengthBucketedBatches(
                dataset, self.collator(), batch_size, self.hparams.bucket_pool, self.hparams.seed
            )
            # Persistent workers keep their copies of the datasets, whose epoch counters then advance and reshuffle
            # each epoch (fresh workers would start from epoch 1 again: the same order every epoch).
            return DataLoader(
                batches,
                batch_size=None,
                num_workers=self.hparams.num_workers,
                persistent_workers=self.hparams.num_workers > 0,
            )
        return StreamingDataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=self.hparams.num_workers,
            collate_fn=self.collator(),
            drop_last=training,
        )

    # ------------------------------------------------------------------------------------------ loaders

    def train_dataloader(self):
        return self._loader("train", training=True)

    def val_dataloader(self):
        return self._loader("val", training=False)

    def test_dataloader(self):
        return self._loader("test", training=False)

    def predict_dataloader(self):
        return self._loader("predict", training=False)

    @property
    def truncated_clips(self) -> dict[str, int]:
        """``{split: number of distinct clips cut to max_frames}`` since the last report (this rank's)."""
        return {split: len(ids) for split, ids in self._cut_clips.items() if ids}

    def _split_being_read(self) -> str:
        trainer = self.trainer
        if trainer is None:
            return "clips"
        if trainer.training:
            return "train"
        if trainer.sanity_checking or trainer.validating:
            return "val"
        return "test" if trainer.testing else "predict" if trainer.predicting else "clips"

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        batch.pop("truncated", None)
        cut = batch.pop("truncated_ids", [])
        if cut:
            self._cut_clips.setdefault(self._split_being_read(), set()).update(cut)
            if not self._warned_truncation:
                rank_zero_warn(
                    f"clips longer than max_frames={self.hparams.max_frames} are cut to their first "
                    f"{self.hparams.max_frames} frames; the count is reported at the end of each stage"
                )
                self._warned_truncation = True
        return batch

    def teardown(self, stage: str) -> None:
        counts = ", ".join(f"{n} {split}" for split, n in sorted(self.truncated_clips.items()))
        if counts:
            # Each rank reads its own clips; no collective here (teardown also runs after a failure).
            trainer = self.trainer
            rank = f"rank {trainer.global_rank}: " if trainer is not None and trainer.world_size > 1 else ""
            warnings.warn(
                f"{rank}{stage}: clips cut to max_frames={self.hparams.max_frames}: {counts} (distinct clips)",
                stacklevel=2,
            )
        self._cut_clips = {}
