"""DINOv2 continued pre-training of a face or hand encoder (SignMusketeers §3.2, Table 7; Oquab et al. 2023).

One training step, as DINOv2's ``SSLMetaArch.forward_backward``:

1. The teacher (EMA of the student, never masked, no gradients) encodes the two global crops; its CLS tokens and
   the patch tokens at the student's masked positions go through the heads and are centred by Sinkhorn-Knopp
   into targets. The two crops' CLS targets are swapped, so student crop A learns from teacher crop B.
2. The student encodes the global crops with block masks and the local crops unmasked.
3. Loss = DINO (local crops × both teacher crops, plus global crops × the other teacher crop, divided by the
   number of such terms) + 0.1 · KoLeo on each global crop's CLS tokens + iBOT on the masked patches.

Learning rate, weight decay, teacher momentum and temperature follow per-iteration schedules
(:mod:`.schedules`); parameter groups carry the layer-wise decay (:mod:`.param_groups`).

Exact resume: a step's randomness (iBOT masks, drop path) comes from a generator seeded with (the run seed, the
step, the batch index, the rank; :class:`signmusketeers.seeding.StepSeeds`, the run seed saved in checkpoints), and
each crop's augmentation from (data seed, epoch, crop index)
(:class:`signmusketeers.pretrain.datamodule.SeededCropDataset`). A run killed mid-epoch and resumed from its last
checkpoint therefore computes the same losses and teacher as a straight run, per rank under DDP and with loader
workers (the same ranks, workers and batch size as before: they set the order).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn

from signmusketeers.constants import DEFAULT_MODEL, DEFAULT_MODEL_KWARGS
from signmusketeers.pretrain.backbone import DinoV2Backbone, create_vit, load_pretrained
from signmusketeers.pretrain.heads import DINOHead
from signmusketeers.pretrain.losses import DINOLoss, KoLeoLoss, iBOTPatchLoss
from signmusketeers.pretrain.masking import BlockMaskGenerator, sample_masks
from signmusketeers.pretrain.param_groups import dinov2_param_groups
from signmusketeers.pretrain.schedules import DinoV2Schedules, build_schedules, scaled_lr
from signmusketeers.pretrain.teacher import ema_update
from signmusketeers.seeding import StepSeeds, seeded_torch


class DinoV2PretrainModule(LightningModule):
    """Student/teacher DINOv2 training of a timm ViT; defaults are SignMusketeers Table 7.

    Batches are ``{"global_crops": (2, B, 3, G, G), "local_crops": (n_local, B, 3, L, L)}`` float tensors (see
    :class:`signmusketeers.pretrain.CropShardDataModule`). ``pretrained`` is a torch.hub DINOv2 name
    (``dinov2_vits14_reg``: the official checkpoint the paper starts from, every tensor including the iBOT mask
    token; :func:`~signmusketeers.pretrain.backbone.load_pretrained`), a timm name with tag
    (``vit_small_patch14_reg4_dinov2.lvd142m``: timm's conversion, without the mask token) or a local weights file;
    ``None`` starts from random weights of the same architecture. The heads are always random.
    ``model_kwargs`` override the timm architecture (tests and demos use tiny ViTs this way). ``compile_losses``
    fuses the Sinkhorn-Knopp targets and the cross-entropies over the prototypes with ``torch.compile`` (for GPUs,
    where those passes over ``(N, 65536)`` float32 matrices are a fifth of a step; the first steps compile).

    ``head_warmup_steps`` (beyond the paper; 0 in its configs) trains only the freshly initialised heads for the
    first N optimiser steps: the student backbone (with its mask token) gets no gradient and no update, so random
    heads cannot pull a pretrained backbone apart before they fit it (the k-NN collapse users of continued DINOv2
    training report); the teacher still follows the student by EMA (its heads move, its backbone stays as it was).
    The step is otherwise unchanged (same forward, masks, schedules): the gradients reach the backbone and are
    dropped before the optimiser step, as DINOv2 drops the prototypes' gradients in its first epoch, so AdamW's
    moments of the backbone start at its first real step, and a run resumed inside the warm-up stays exact.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        model_kwargs: dict[str, Any] | None = None,
        pretrained: str | None = None,
        drop_path_rate: float = 0.4,
        interpolate_offset: float = 0.1,
        n_prototypes: int = 65536,
        head_layers: int = 3,
        head_hidden_dim: int = 2048,
        head_bottleneck_dim: int = 256,
        separate_ibot_head: bool = False,
        dino_loss_weight: float = 1.0,
        ibot_loss_weight: float = 1.0,
        koleo_loss_weight: float = 0.1,
        koleo_eps: float = 1e-4,
        student_temp: float = 0.1,
        centering: str = "sinkhorn_knopp",
        mask_sample_probability: float = 0.5,
        mask_ratio_min_max: tuple[float, float] = (0.1, 0.5),
        teacher_temp: float = 0.07,
        warmup_teacher_temp: float = 0.04,
        warmup_teacher_temp_epochs: int = 30,
        momentum_teacher: float = 0.994,
        final_momentum_teacher: float = 1.0,
        base_lr: float = 2e-4,
        min_lr: float = 1e-6,
        warmup_epochs: int = 10,
        epochs: int = 100,
        official_epoch_length: int = 100,
        weight_decay: float = 0.04,
        weight_decay_end: float = 0.2,
        layer_decay: float = 0.9,
        patch_embed_lr_mult: float = 0.2,
        betas: tuple[float, float] = (0.9, 0.999),
        clip_grad: float = 3.0,
        freeze_last_layer_epochs: int = 1,
        compile_losses: bool = False,
        head_warmup_steps: int = 0,
    ) -> None:
        super().__init__()
        if head_warmup_steps < 0:
            raise ValueError(f"head_warmup_steps must be 0 or more, got {head_warmup_steps}")
        self.save_hyperparameters()
        self.model_kwargs = {**DEFAULT_MODEL_KWARGS, **(model_kwargs or {})}
        self.student = self._build(drop_path_rate, interpolate_offset)
        self.teacher = self._build(0.0, interpolate_offset)  # DINOv2 builds the teacher without drop path
        if pretrained:
            load_pretrained(self.student["backbone"], pretrained, self.model_kwargs)
        self.teacher.load_state_dict(self.student.state_dict())
        self.teacher.requires_grad_(False)

        self.dino_loss = DINOLoss(n_prototypes, student_temp, centering, fused=compile_losses)
        self.ibot_loss = iBOTPatchLoss(n_prototypes, student_temp, centering, fused=compile_losses)
        self.koleo_loss = KoLeoLoss(koleo_eps)
        self.step_seeds = StepSeeds()  # the run seed is set in on_train_start, or from the checkpoint
        self.mask_rng = random.Random()  # reseeded every step (step_randomness)
        self.schedules: DinoV2Schedules | None = None
        self._iteration = 0

    def _build(self, drop_path_rate: float, interpolate_offset: float) -> nn.ModuleDict:
        hp = self.hparams
        vit = create_vit(hp.model_name, drop_path_rate=drop_path_rate, **self.model_kwargs)
        modules = {"backbone": DinoV2Backbone(vit, interpolate_offset)}
        head = dict(
            n_prototypes=hp.n_prototypes,
            n_layers=hp.head_layers,
            hidden_dim=hp.head_hidden_dim,
            bottleneck_dim=hp.head_bottleneck_dim,
        )
        modules["dino_head"] = DINOHead(vit.embed_dim, **head)
        if hp.separate_ibot_head:
            modules["ibot_head"] = DINOHead(vit.embed_dim, **head)
        return nn.ModuleDict(modules)

    @staticmethod
    def _ibot_head(model: nn.ModuleDict) -> nn.Module:
        return model["ibot_head"] if "ibot_head" in model else model["dino_head"]

    def train(self, mode: bool = True) -> DinoV2PretrainModule:
        super().train(mode)
        self.teacher.eval()  # the teacher has no drop path and no dropout either way; eval states it
        return self

    # ------------------------------------------------------------------------------------------ one step

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        with self.step_randomness(batch_idx):
            return self._training_step(batch)

    def _training_step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        global_crops, local_crops = batch["global_crops"], batch["local_crops"]
        n_global, n_local = global_crops.shape[0], local_crops.shape[0]
        global_crops = global_crops.flatten(0, 1)  # (n_global·B, 3, G, G), crop-major
        masks = self.sample_masks(global_crops).to(global_crops.device)  # (n_global·B, N)
        teacher_temp = self.schedules.teacher_temp[self._iteration] if self.schedules else self.hparams.teacher_temp

        dino_targets, ibot_targets = self.teacher_targets(global_crops, masks, teacher_temp, n_global)

        student_global = self.student["backbone"](global_crops, masks=masks)
        student_local = self.student["backbone"](local_crops.flatten(0, 1))
        global_logits = self.student["dino_head"](student_global["cls"])
        local_logits = self.student["dino_head"](student_local["cls"])
        masked_logits = self._ibot_head(self.student)(student_global["patch"].flatten(0, 1)[masks.flatten()])

        # Official weighting: every (student crop, teacher crop) pair of different crops is one loss term.
        n_terms = n_global * (n_global - 1) + max(n_global * n_local, 1)
        dino_local = self.dino_loss(local_logits.chunk(n_local), dino_targets.chunk(n_global)) / n_terms
        dino_global = self.dino_loss([global_logits], [dino_targets]) * n_global / n_terms
        koleo = sum(self.koleo_loss(cls) for cls in student_global["cls"].chunk(n_global))
        # DINOv2 scales the iBOT loss by 2 ("global crops processed together") and by 1 / n_global: net 1.
        ibot = self.ibot_loss(masked_logits, ibot_targets, masks)
        hp = self.hparams
        loss = (
            hp.dino_loss_weight * (dino_local + dino_global) + hp.koleo_loss_weight * koleo + hp.ibot_loss_weight * ibot
        )

        self.log_dict(
            {
                "train/dino_local": dino_local,
                "train/dino_global": dino_global,
                "train/koleo": koleo,
                "train/ibot": ibot,
                "train/teacher_temp": teacher_temp,
                "train/masked_patches": float(masks.sum()),
            },
            batch_size=masks.shape[0] // n_global,
        )
        self.log("train/loss", loss, prog_bar=True, batch_size=masks.shape[0] // n_global)
        return loss

    @torch.no_grad()
    def teacher_targets(
        self, global_crops: torch.Tensor, masks: torch.Tensor, temperature: float, n_global: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher CLS targets ``(n_global·B, K)`` (crop order swapped) and masked-patch targets ``(M, K)``."""
        out = self.teacher["backbone"](global_crops)
        cls = torch.cat(out["cls"].chunk(n_global)[::-1])  # crop A's student output meets crop B's target
        dino_logits = self.teacher["dino_head"](cls)
        ibot_logits = self._ibot_head(self.teacher)(out["patch"].flatten(0, 1)[masks.flatten()])
        return (
            self.dino_loss.teacher_targets(dino_logits, temperature),
            self.ibot_loss.teacher_targets(ibot_logits, temperature),
        )

    def sample_masks(self, global_crops: torch.Tensor) -> torch.Tensor:
        patch = self.student["backbone"].patch_size
        grid = (global_crops.shape[-2] // patch, global_crops.shape[-1] // patch)
        return sample_masks(
            global_crops.shape[0],
            BlockMaskGenerator(grid),
            tuple(self.hparams.mask_ratio_min_max),
            self.hparams.mask_sample_probability,
            self.mask_rng,
        )

    # ------------------------------------------------------------------------------------------ schedules

    def on_train_start(self) -> None:
        self.step_seeds.on_train_start(self)

    @contextlib.contextmanager
    def step_randomness(self, batch_idx: int) -> Iterator[None]:
        """Seed this step's iBOT masks and torch's generators (drop path) from (run seed, step, batch, rank),
        leaving the process's global generators as they were afterwards."""
        seed = self.step_seeds.for_step(self, batch_idx)
        self.mask_rng.seed(seed)
        with seeded_torch(seed, self.device):
            yield

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.step_seeds.save(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.step_seeds.load(checkpoint)

    def on_train_batch_start(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if self.schedules is None:
            global_batch = batch["global_crops"].shape[1] * self.trainer.world_size
            self.schedules = self.build_schedules(global_batch)
        self._iteration = self.global_step
        self.apply_optimizer_schedules(self.trainer.optimizers[0], self._iteration)

    def build_schedules(self, global_batch_size: int) -> DinoV2Schedules:
        hp = self.hparams
        lr = scaled_lr(hp.base_lr, global_batch_size)
        if self._trainer is not None:
            self.log("train/peak_lr", lr)
        return build_schedules(
            lr=lr,
            min_lr=hp.min_lr,
            epochs=hp.epochs,
            epoch_length=hp.official_epoch_length,
            warmup_epochs=hp.warmup_epochs,
            freeze_last_layer_epochs=hp.freeze_last_layer_epochs,
            weight_decay=hp.weight_decay,
            weight_decay_end=hp.weight_decay_end,
            momentum_teacher=hp.momentum_teacher,
            final_momentum_teacher=hp.final_momentum_teacher,
            teacher_temp=hp.teacher_temp,
            warmup_teacher_temp=hp.warmup_teacher_temp,
            warmup_teacher_temp_epochs=hp.warmup_teacher_temp_epochs,
        )

    def apply_optimizer_schedules(self, optimizer: torch.optim.Optimizer, iteration: int) -> None:
        """Set every group's lr and weight decay for ``iteration`` (DINOv2's ``apply_optim_scheduler``)."""
        lr, last_layer_lr = self.schedules.lr[iteration], self.schedules.last_layer_lr[iteration]
        weight_decay = self.schedules.weight_decay[iteration]
        for group in optimizer.param_groups:
            group["lr"] = (last_layer_lr if group["is_last_layer"] else lr) * group["lr_multiplier"]
            group["weight_decay"] = weight_decay * group["wd_multiplier"]
        if self._trainer is not None:
            self.log_dict({"train/lr": lr, "train/weight_decay": weight_decay})

    def backbone_frozen(self, step: int | None = None) -> bool:
        """Whether optimiser step ``step`` (default: the current one) is in the head warm-up."""
        return (self.global_step if step is None else step) < self.hparams.head_warmup_steps

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Runs after backward (and the DDP gradient all-reduce) and before clipping and the step: dropping the
        # gradients here keeps DDP's reducer unchanged (every parameter still takes part in every backward), and
        # AdamW skips parameters without a gradient: no update, no weight decay, no moments.
        if self.backbone_frozen():
            for parameter in self.student["backbone"].parameters():
                parameter.grad = None

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        # The teacher follows every optimiser step at once (not in on_train_batch_end, which Lightning runs after
        # the callbacks' hook: a checkpoint written there would hold the teacher one update behind the student).
        super().optimizer_step(*args, **kwargs)
        momentum = self.schedules.momentum[self._iteration]
        self.update_teacher(momentum)
        self.log("train/momentum", momentum)

    def update_teacher(self, momentum: float) -> None:
        ema_update(self.teacher, self.student, momentum)

    # ------------------------------------------------------------------------------------------ optimiser

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        groups = dinov2_param_groups(dict(self.student.items()), hp.layer_decay, hp.patch_embed_lr_mult)
        for group in groups:
            group["lr"], group["weight_decay"] = 0.0, 0.0  # set from the schedules before every step
        return torch.optim.AdamW(groups, lr=0.0, betas=tuple(self.hparams.betas))

    def configure_gradient_clipping(
        self, optimizer: torch.optim.Optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ) -> None:
        """DINOv2 clips each student module (backbone, heads) to norm ``clip_grad`` on its own; under FSDP the
        gradients are sharded, so the whole model is clipped through Lightning instead."""
        if not self.hparams.clip_grad:
            return
        from lightning.pytorch.strategies import FSDPStrategy

        if self._trainer is not None and isinstance(self.trainer.strategy, FSDPStrategy):
            self.clip_gradients(optimizer, self.hparams.clip_grad, "norm")
            return
        for module in self.student.values():
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.hparams.clip_grad)
