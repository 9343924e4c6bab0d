"""Two-process CPU DDP fit of a tiny DinoV2PretrainModule (run by test_distributed.py; Lightning relaunches it).

usage: python tests/pretrain/ddp_fit.py CROPS OUT [HEAD_WARMUP_STEPS] — writes OUT/rank{r}.pt with both ranks'
teacher and student (and the student before the first step).
"""

import sys
from pathlib import Path

import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from signmusketeers.pretrain import CropShardDataModule, DinoV2PretrainModule


class SaveWeightsPerRank(Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = {k: v.clone() for k, v in pl_module.student.state_dict().items()}

    def on_train_end(self, trainer, pl_module) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "teacher": pl_module.teacher.state_dict(),
                "student": pl_module.student.state_dict(),
                "start": self.start,
                "steps": trainer.global_step,
            },
            self.out / f"rank{trainer.global_rank}.pt",
        )


if __name__ == "__main__":
    crops, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    seed_everything(0)
    module = DinoV2PretrainModule(
        model_kwargs=dict(img_size=56, embed_dim=32, depth=2, num_heads=2),
        n_prototypes=128,
        head_hidden_dim=64,
        head_bottleneck_dim=32,
        epochs=2,
        official_epoch_length=2,
        warmup_epochs=1,
        warmup_teacher_temp_epochs=1,
        head_warmup_steps=int(sys.argv[3]) if len(sys.argv) > 3 else 0,
    )
    data = CropShardDataModule(
        crops, part="face", batch_size=4, num_workers=0, global_crops_size=56, local_crops_size=28, n_local_crops=2
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[SaveWeightsPerRank(out)],
    )
    trainer.fit(module, data)
