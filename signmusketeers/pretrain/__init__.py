"""signmusketeers.pretrain: DINOv2 continued pre-training of the face and hand encoders (paper §3.2, Table 7).

Each piece is importable alone: :mod:`.losses` (``sinkhorn_knopp``, ``DINOLoss``, ``iBOTPatchLoss``,
``KoLeoLoss``), :mod:`.heads`, :mod:`.masking`, :mod:`.augment`, :mod:`.schedules`, :mod:`.param_groups`,
:mod:`.backbone`, :mod:`.teacher`, :mod:`.probe` and :mod:`.export`; :mod:`.datamodule` feeds the training
(:class:`CropShardDataModule`).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CropShardDataModule": "signmusketeers.pretrain.datamodule",
    "DinoV2PretrainModule": "signmusketeers.pretrain.module",
    "KNNProbe": "signmusketeers.pretrain.probe",
    "export_encoder": "signmusketeers.pretrain.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'signmusketeers.pretrain' has no attribute {name!r}")


__all__ = sorted(_LAZY)
