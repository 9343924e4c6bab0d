"""Per-iteration schedules of DINOv2 (``dinov2/utils/utils.py: CosineScheduler``, ``train/train.py``).

All schedules are indexed by the optimiser step and laid out in pseudo-epochs of ``epoch_length`` iterations
(DINOv2's OFFICIAL_EPOCH_LENGTH), independent of the dataset's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class CosineSchedule:
    """``freeze_iters`` zeros, a linear warm-up from ``start_warmup_value`` to ``base_value`` over
    ``warmup_iters`` (endpoint included, as ``np.linspace``), then a half cosine from ``base_value`` to
    ``final_value`` over the remaining iterations; ``final_value`` from ``total_iters`` on.
    """

    def __init__(
        self,
        base_value: float,
        final_value: float,
        total_iters: int,
        warmup_iters: int = 0,
        start_warmup_value: float = 0.0,
        freeze_iters: int = 0,
    ) -> None:
        if warmup_iters + freeze_iters > total_iters:
            raise ValueError(f"warm-up ({warmup_iters}) + freeze ({freeze_iters}) exceed {total_iters} iterations")
        self.final_value = final_value
        self.total_iters = total_iters
        iters = np.arange(total_iters - warmup_iters - freeze_iters)
        cosine = final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iters / max(len(iters), 1)))
        self.values = np.concatenate(
            (np.zeros(freeze_iters), np.linspace(start_warmup_value, base_value, warmup_iters), cosine)
        )

    def __getitem__(self, iteration: int) -> float:
        if iteration >= self.total_iters:
            return float(self.final_value)
        return float(self.values[iteration])


@dataclass
class DinoV2Schedules:
    """The five schedules of a DINOv2 run, built from Table 7's values by :func:`build_schedules`."""

    lr: CosineSchedule
    last_layer_lr: CosineSchedule
    weight_decay: CosineSchedule
    momentum: CosineSchedule
    teacher_temp: CosineSchedule


def scaled_lr(base_lr: float, global_batch_size: int) -> float:
    """DINOv2's ``sqrt_wrt_1024`` rule: ``base_lr * sqrt(global batch / 1024)``."""
    return base_lr * math.sqrt(global_batch_size / 1024.0)


def build_schedules(
    *,
    lr: float,
    min_lr: float,
    epochs: int,
    epoch_length: int,
    warmup_epochs: int,
    freeze_last_layer_epochs: int,
    weight_decay: float,
    weight_decay_end: float,
    momentum_teacher: float,
    final_momentum_teacher: float,
    teacher_temp: float,
    warmup_teacher_temp: float,
    warmup_teacher_temp_epochs: int,
) -> DinoV2Schedules:
    """As ``dinov2/train/train.py: build_schedulers``; ``lr`` is already scaled by :func:`scaled_lr`."""
    total = epochs * epoch_length
    lr_kwargs = dict(base_value=lr, final_value=min_lr, total_iters=total, warmup_iters=warmup_epochs * epoch_length)
    last_layer_lr = CosineSchedule(**lr_kwargs)
    last_layer_lr.values[: freeze_last_layer_epochs * epoch_length] = 0.0
    temp_iters = warmup_teacher_temp_epochs * epoch_length
    return DinoV2Schedules(
        lr=CosineSchedule(**lr_kwargs),
        last_layer_lr=last_layer_lr,
        weight_decay=CosineSchedule(weight_decay, weight_decay_end, total),
        momentum=CosineSchedule(momentum_teacher, final_momentum_teacher, total),
        teacher_temp=CosineSchedule(
            teacher_temp, teacher_temp, temp_iters, warmup_iters=temp_iters, start_warmup_value=warmup_teacher_temp
        ),
    )
