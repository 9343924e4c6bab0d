"""Two-process CPU DDP pre-training, straight and killed-and-resumed (run by test_distributed.py; Lightning relaunches
this script for rank 1, and both processes run the three fits in turn in one process group).

usage: python tests/pretrain/ddp_resume.py CROPS LABELS OUT — writes OUT/{straight,resumed}-rank{r}.pt with that
rank's per-step losses, final teacher and student, and (straight run) the k-NN probe's history.

The data module reads every record (part=None), so the LitData loader's mid-epoch state is in the checkpoint; 96
crops over 2 ranks × batch 8 are 6 steps an epoch; 7 steps, killed before step 3, so the resumed run crosses an
epoch boundary.
"""

import sys
from pathlib import Path

import torch
from killing import KillAt, Killed  # beside this script, which runs as one
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from signmusketeers.pretrain import CropShardDataModule, DinoV2PretrainModule
from signmusketeers.pretrain.probe import KNNProbe

STEPS, KILLED_AT = 7, 3
MODEL = dict(
    model_kwargs=dict(img_size=56, embed_dim=32, depth=2, num_heads=2),
    n_prototypes=128,
    head_hidden_dim=64,
    head_bottleneck_dim=32,
    epochs=4,
    official_epoch_length=2,
    warmup_epochs=1,
    warmup_teacher_temp_epochs=1,
)


class RecordRank(Callback):
    """This rank's loss per step, and at the end its weights (and the probe's history) in ``path``."""

    def __init__(self, path: Path, probe: KNNProbe | None = None) -> None:
        self.path, self.probe, self.losses = path, probe, {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses[trainer.global_step - 1] = float(outputs["loss"])

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save(
            {
                "losses": self.losses,
                "teacher": pl_module.teacher.state_dict(),
                "student": pl_module.student.state_dict(),
                "steps": trainer.global_step,
                "probe": self.probe.history if self.probe else None,
            },
            self.path,
        )


def fit(crops: str, out: Path, name: str, callbacks: list, ckpt_path: str | None = None) -> None:
    seed_everything(0)
    data = CropShardDataModule(
        crops, part=None, batch_size=8, num_workers=0, global_crops_size=56, local_crops_size=28, n_local_crops=2
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=STEPS,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out / name,
        callbacks=[ModelCheckpoint(out / name, every_n_train_steps=1, save_last=True), *callbacks],
    )
    trainer.fit(DinoV2PretrainModule(**MODEL), data, ckpt_path=ckpt_path)


if __name__ == "__main__":
    crops, labels, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    torch.set_num_threads(1)
    rank = int(__import__("os").environ.get("LOCAL_RANK", 0))
    probe = KNNProbe(crops, labels, k=5)
    fit(crops, out, "straight", [probe, RecordRank(out / f"straight-rank{rank}.pt", probe)])
    try:
        fit(crops, out, "killed", [KillAt(KILLED_AT)])
    except Killed:
        pass
    fit(crops, out, "killed", [RecordRank(out / f"resumed-rank{rank}.pt")], ckpt_path=str(out / "killed/last.ckpt"))
