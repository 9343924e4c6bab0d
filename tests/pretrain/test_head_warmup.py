"""Head warm-up: for the first N steps the student backbone gets no update (heads train, the teacher follows by
EMA); from step N on it trains; a run killed inside the warm-up and resumed ends as a straight run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from signmusketeers.pretrain import CropShardDataModule, DinoV2PretrainModule
from tests.pretrain.killing import KillAt, Killed

WARMUP, STEPS = 3, 5
TINY = dict(
    model_kwargs=dict(img_size=56, embed_dim=32, depth=2, num_heads=2, init_values=1.0),
    n_prototypes=128,
    head_hidden_dim=64,
    head_bottleneck_dim=32,
    epochs=4,
    official_epoch_length=2,
    warmup_epochs=0,
    freeze_last_layer_epochs=0,
    warmup_teacher_temp_epochs=1,
    base_lr=1e-2,
)


def _copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class Snapshots(Callback):
    """The student backbone, student head and teacher backbone after every step."""

    def __init__(self) -> None:
        self.after: list[dict[str, dict[str, torch.Tensor]]] = []

    def on_train_start(self, trainer, module) -> None:
        self.after.append(self._take(module))

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.after.append(self._take(module))

    @staticmethod
    def _take(module):
        return {
            "backbone": _copy(module.student["backbone"]),
            "head": _copy(module.student["dino_head"]),
            "teacher": _copy(module.teacher["backbone"]),
        }


def _fit(crops: Path, root: Path, callbacks=(), ckpt_path=None, warmup=WARMUP) -> DinoV2PretrainModule:
    seed_everything(0)
    module = DinoV2PretrainModule(**TINY, head_warmup_steps=warmup)
    data = CropShardDataModule(
        str(crops),
        part="face",
        batch_size=8,
        num_workers=0,
        global_crops_size=56,
        local_crops_size=28,
        n_local_crops=2,
        seed=1,
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=STEPS,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        callbacks=[ModelCheckpoint(root / "checkpoints", every_n_train_steps=1, save_last=True), *callbacks],
    )
    trainer.fit(module, data, ckpt_path=ckpt_path)
    return module


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.allclose(a[k], b[k], rtol=1e-6, atol=1e-7) for k in a)


def test_backbone_is_frozen_during_the_warmup_and_trains_after(crop_shards, tmp_path):
    snapshots = Snapshots()
    _fit(crop_shards[0], tmp_path / "run", callbacks=[snapshots])
    start, after = snapshots.after[0], snapshots.after[1:]
    assert len(after) == STEPS
    for step in range(WARMUP):
        assert _equal(after[step]["backbone"], start["backbone"]), f"student backbone moved at step {step}"
        # the EMA of an unchanged backbone is that backbone (up to rounding: m·t + (1 - m)·t)
        assert _close(after[step]["teacher"], start["teacher"]), f"teacher backbone moved at step {step}"
        assert not _equal(after[step]["head"], (after[step - 1] if step else start)["head"])  # the heads train
    for step in range(WARMUP, STEPS):
        previous = after[step - 1]
        assert not _equal(after[step]["backbone"], previous["backbone"]), f"student backbone frozen at step {step}"
        assert not _close(after[step]["teacher"], previous["teacher"])  # and the EMA teacher follows it


def test_warmup_steps_are_the_first_n_and_off_by_default():
    assert not DinoV2PretrainModule(**TINY).backbone_frozen(0)  # the paper's configs: no warm-up
    module = DinoV2PretrainModule(**TINY, head_warmup_steps=WARMUP)
    assert [module.backbone_frozen(step) for step in range(WARMUP + 1)] == [True] * WARMUP + [False]
    with pytest.raises(ValueError, match="head_warmup_steps"):
        DinoV2PretrainModule(**TINY, head_warmup_steps=-1)


@pytest.mark.slow
def test_resume_inside_the_warmup_ends_as_a_straight_run(crop_shards, tmp_path):
    straight = _fit(crop_shards[0], tmp_path / "straight")
    with pytest.raises(Killed):
        _fit(crop_shards[0], tmp_path / "killed", callbacks=[KillAt(WARMUP - 1)])
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == WARMUP - 1
    resumed = _fit(crop_shards[0], tmp_path / "killed", ckpt_path=str(last))
    for key, value in straight.state_dict().items():  # student and teacher, backbone and heads
        assert torch.allclose(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-7), key
