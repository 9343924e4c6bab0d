"""signmusketeers.pretrain: DINOv2 continued pre-training of the face and hand encoders (paper §3.2, Table 7).

Each piece is importable alone: :mod:`.losses` (``sinkhorn_knopp``, ``DINOLoss``, ``iBOTPatchLoss``,
``KoLeoLoss``), :mod:`.heads`, :mod:`.masking`, :mod:`.augment`, :mod:`.schedules`, :mod:`.param_groups`,
:mod:`.backbone`, :mod:`.teacher`, :mod:`.probe` and :mod:`.export`; :mod:`.datamodule` feeds the training
(:class:`CropShardDataModule`).
"""

from signmusketeers.lazy import lazy_exports

_LAZY = {
    "CropShardDataModule": "signmusketeers.pretrain.datamodule",
    "export_encoder": "signmusketeers.pretrain.export",
    "DinoV2PretrainModule": "signmusketeers.pretrain.module",
    "KNNProbe": "signmusketeers.pretrain.probe",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
