"""The EMA teacher of DINO/DINOv2: ``teacher ← m · teacher + (1 − m) · student`` after every optimiser step."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """Move every teacher parameter towards its student namesake (momentum 1 keeps the teacher, 0 copies)."""
    teacher_params = dict(teacher.named_parameters())
    student_params = dict(student.named_parameters())
    if teacher_params.keys() != student_params.keys():
        raise ValueError("teacher and student have different parameters; they must share one architecture")
    names = list(teacher_params)
    targets = [teacher_params[n] for n in names]
    torch._foreach_mul_(targets, momentum)
    torch._foreach_add_(targets, [student_params[n].detach() for n in names], alpha=1.0 - momentum)
