"""Resume: a pre-training run killed mid-epoch and resumed from its last checkpoint against a straight run (demo
config pretrain_hand.yaml with tiny sizes: 9 steps of batch 16 over 96 crops, i.e. 6 steps an epoch, killed before
step 4 so the resumed run finishes epoch 1 and starts epoch 2), all with 2 loader workers. Twice: part=None (the
LitData loader's mid-epoch state is in the checkpoint) and part="face" (the endless part stream, which skips the
crops of the steps done). Per step the schedules (lr, weight decay, teacher momentum and temperature), the iBOT
mask counts and every loss must match, and so must the final teacher and student. A third run (slow) does the
part stream with the views built on the device (``augment_on="device"``; here the device is the CPU)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from signmusketeers.pretrain import CropShardDataModule, DinoV2PretrainModule
from tests.pretrain.killing import KillAt, Killed

REPO = Path(__file__).parents[2]
STEPS, KILLED_AT, BATCH = 9, 4, 16
LOGGED = (
    "train/loss",
    "train/dino_local",
    "train/dino_global",
    "train/koleo",
    "train/ibot",
    "train/masked_patches",
    "train/lr",
    "train/weight_decay",
    "train/momentum",
    "train/teacher_temp",
)


def _fit(
    crops: Path,
    root: Path,
    name: str,
    max_steps: int,
    callbacks=(),
    ckpt_path=None,
    workers=0,
    part=None,
    augment_on="cpu",
) -> Path:
    config = yaml.safe_load((REPO / "configs/demo/pretrain_hand.yaml").read_text())
    model_args = {
        **config["model"]["init_args"],
        "epochs": 4,
        "official_epoch_length": 2,
        "n_prototypes": 128,
        "head_hidden_dim": 64,
        "warmup_teacher_temp_epochs": 2,
    }
    data_args = {
        **config["data"]["init_args"],
        "train_dir": str(crops),
        "part": part,
        "batch_size": BATCH,
        "num_workers": workers,
        "augment_on": augment_on,
    }
    seed_everything(config["seed_everything"])
    logger = CSVLogger(root, name=name, version=0 if ckpt_path is None else 1)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        log_every_n_steps=1,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root / name,
        callbacks=[ModelCheckpoint(root / name / "checkpoints", every_n_train_steps=1, save_last=True), *callbacks],
    )
    trainer.fit(DinoV2PretrainModule(**model_args), CropShardDataModule(**data_args), ckpt_path=ckpt_path)
    return Path(logger.log_dir) / "metrics.csv"


def _per_step(path: Path) -> dict[int, dict[str, float]]:
    steps: dict[int, dict[str, float]] = {}
    with open(path) as handle:
        for row in csv.DictReader(handle):
            values = {k: float(v) for k, v in row.items() if k in LOGGED and v != ""}
            steps.setdefault(int(row["step"]), {}).update(values)
    return steps


SCHEDULED = ("train/lr", "train/weight_decay", "train/momentum", "train/teacher_temp", "train/masked_patches")


# part=None: LitData's loader state in the checkpoint; part="face": the endless part stream, which computes where
# each reader continues; augment_on="device": the views built after the batch transfer, from per-crop parameters.
@pytest.fixture(
    scope="module",
    params=[(None, "cpu"), ("face", "cpu"), pytest.param(("face", "device"), marks=pytest.mark.slow)],
    ids=["all-records", "part-stream", "part-stream-device-augmentation"],
)
def straight_and_resumed(request, crop_shards, tmp_path_factory):
    crops, root = crop_shards[0], tmp_path_factory.mktemp("resume")
    part, augment_on = request.param
    straight = _per_step(_fit(crops, root, "straight", STEPS, workers=2, part=part, augment_on=augment_on))
    with pytest.raises(Killed):
        _fit(crops, root, "killed", STEPS, callbacks=[KillAt(KILLED_AT)], workers=2, part=part, augment_on=augment_on)
    last = root / "killed" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == KILLED_AT
    if part is None:
        loader_state = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
        assert loader_state["num_samples_yielded"] == KILLED_AT * BATCH  # resumes at the next unread crop
    resumed = _per_step(
        _fit(crops, root, "killed", STEPS, ckpt_path=str(last), workers=2, part=part, augment_on=augment_on)
    )
    first = _per_step(root / "killed" / "version_0" / "metrics.csv")
    assert sorted(resumed) == [s for s in sorted(straight) if s >= KILLED_AT], (sorted(resumed), sorted(straight))
    return straight, {**{s: v for s, v in first.items() if s < KILLED_AT}, **resumed}, root


def _differences(straight: dict, joined: dict, keys: tuple[str, ...]) -> list:
    # Tight: the same views, masks and drop path give the same float32 arithmetic; 1e-6 leaves room for summation
    # order only.
    return [
        (step, key, joined[step].get(key), value)
        for step, values in straight.items()
        for key, value in values.items()
        if key in keys and joined[step].get(key) != pytest.approx(value, rel=1e-6, abs=1e-7)
    ]


def test_resumed_run_continues_the_schedules_and_masks_at_the_right_step(straight_and_resumed) -> None:
    straight, joined, _ = straight_and_resumed
    assert all(set(joined[s]) >= {"train/lr", "train/teacher_temp"} for s in straight)
    assert _differences(straight, joined, SCHEDULED) == []


def test_resumed_run_logs_the_same_losses(straight_and_resumed) -> None:
    straight, joined, _ = straight_and_resumed
    assert {"train/loss", "train/ibot", "train/koleo"} <= set(joined[STEPS - 1])
    assert _differences(straight, joined, LOGGED) == []


def test_resumed_run_ends_with_the_same_teacher_and_student(straight_and_resumed) -> None:
    _, _, root = straight_and_resumed
    ends = [torch.load(root / name / "checkpoints" / "last.ckpt", weights_only=True) for name in ("straight", "killed")]
    assert ends[0]["global_step"] == ends[1]["global_step"] == STEPS
    straight, resumed = ends[0]["state_dict"], ends[1]["state_dict"]
    assert any(key.startswith("teacher.") for key in straight)
    for key, value in straight.items():  # teacher (EMA) and student alike
        assert torch.allclose(resumed[key], value, rtol=1e-5, atol=1e-7), key
    qkv = "blocks.0.attn.qkv.weight"
    teacher_qkv = [v for k, v in straight.items() if k.startswith("teacher.") and k.endswith(qkv)][0]
    student_qkv = [v for k, v in straight.items() if k.startswith("student.") and k.endswith(qkv)][0]
    assert not torch.equal(teacher_qkv, student_qkv)  # the teacher is an EMA that lags, not a copy
