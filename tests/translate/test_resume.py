"""Resume: a translation fit killed mid-epoch and resumed from its last checkpoint against a straight run.

Tiny T5 (random init) with dropout on (T5 dropout 0.1, fusion dropout 0.1: each step's dropout is seeded by the
step), 8 training clips in batches of 2, i.e. 4 steps an epoch; 7 steps, killed before step 3, so the resumed run
finishes epoch 1 mid-way and runs into epoch 2. Per step the clips, the learning rate and the loss must match, and
so must the final weights and the optimiser's step count.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from signmusketeers.translate import ClipFeatureDataModule, TranslationModule
from tests.pretrain.killing import KillAt, Killed
from tests.translate.conftest import TINY_T5

STEPS, KILLED_AT, BATCH = 7, 3, 2


class RecordClips(Callback):
    """Appends ``{"step", "clips"}`` per training batch to a JSON-lines file (the data order)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": trainer.global_step, "clips": list(batch["clip_id"])}) + "\n")


def _fit(shards: dict, root: Path, name: str, callbacks=(), ckpt_path=None) -> Path:
    seed_everything(0)
    model = TranslationModule(
        t5={**TINY_T5, "dropout_rate": 0.1}, tokenizer="byt5", fusion_dropout=0.1, warmup_steps=2, feature_dim=384
    )
    data = ClipFeatureDataModule(train=str(shards["train"]), batch_size=BATCH, num_workers=0, seed=3)
    logger = CSVLogger(root, name=name, version=0 if ckpt_path is None else 1)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=STEPS,
        log_every_n_steps=1,
        logger=logger,
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root / name,
        gradient_clip_val=1.0,
        callbacks=[
            ModelCheckpoint(root / name / "checkpoints", every_n_train_steps=1, save_last=True),
            LearningRateMonitor(logging_interval="step"),
            RecordClips(root / f"{name}.jsonl"),
            *callbacks,
        ],
    )
    trainer.fit(model, data, ckpt_path=ckpt_path)
    return Path(logger.log_dir) / "metrics.csv"


def _per_step(path: Path) -> dict[int, dict[str, float]]:
    steps: dict[int, dict[str, float]] = {}
    with open(path) as handle:
        for row in csv.DictReader(handle):
            values = {k: float(v) for k, v in row.items() if k in ("train/loss", "lr-AdamW/pg1") and v != ""}
            steps.setdefault(int(row["step"]), {}).update(values)
    return steps


def _clips(path: Path) -> dict[int, list[str]]:
    return {row["step"]: row["clips"] for row in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def straight_and_resumed(feature_shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("translate_resume")
    straight = _per_step(_fit(feature_shards, root, "straight"))
    with pytest.raises(Killed):
        _fit(feature_shards, root, "killed", callbacks=[KillAt(KILLED_AT)])
    last = root / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == KILLED_AT
    resumed = _per_step(_fit(feature_shards, root, "killed", ckpt_path=str(last)))
    first = _per_step(root / "killed" / "version_0" / "metrics.csv")
    joined = {**{s: v for s, v in first.items() if s < KILLED_AT}, **resumed}
    return straight, joined, root


def test_resumed_translation_run_sees_the_same_clips_in_the_same_order(straight_and_resumed) -> None:
    _, _, root = straight_and_resumed
    straight, killed = _clips(root / "straight.jsonl"), _clips(root / "killed.jsonl")
    assert sorted(straight) == sorted(killed) == list(range(STEPS))
    assert killed == straight
    epoch_1 = [clip for step in range(4) for clip in straight[step]]
    assert len(set(epoch_1)) == 8  # one epoch reads every clip once, then step 4 starts epoch 2


def test_resumed_translation_run_logs_the_same_lr_and_losses(straight_and_resumed) -> None:
    straight, joined, _ = straight_and_resumed
    assert all({"train/loss", "lr-AdamW/pg1"} <= set(joined[s]) for s in straight), joined
    assert straight[1]["lr-AdamW/pg1"] > 0 and straight[2]["lr-AdamW/pg1"] > straight[STEPS - 1]["lr-AdamW/pg1"]
    assert sorted(joined) == sorted(straight) == list(range(STEPS))
    for step, values in straight.items():
        for key, value in values.items():
            assert joined[step][key] == pytest.approx(value, rel=1e-6, abs=1e-7), (step, key)


def test_resumed_translation_run_ends_with_the_same_weights(straight_and_resumed) -> None:
    _, _, root = straight_and_resumed
    ends = [torch.load(root / name / "checkpoints" / "last.ckpt", weights_only=True) for name in ("straight", "killed")]
    assert ends[0]["global_step"] == ends[1]["global_step"] == STEPS
    for key, value in ends[0]["state_dict"].items():
        assert torch.allclose(ends[1]["state_dict"][key], value, rtol=1e-5, atol=1e-7), key
