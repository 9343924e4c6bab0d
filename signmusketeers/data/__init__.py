"""Data: shard folders (writing, reading, the crop folders' part index) and manifests.

The DataModules live in the stages that train with them: :class:`signmusketeers.pretrain.CropShardDataModule` and
:class:`signmusketeers.translate.ClipFeatureDataModule`.
"""

import importlib as _importlib

# Kept for users: `from signmusketeers.data import CropShardDataModule, ClipFeatureDataModule` goes on working, though
# the two live in their stages (the one place where data names a later layer; imported only when asked for).
_LAZY = {
    "CropShardDataModule": "signmusketeers.pretrain.datamodule",
    "ClipFeatureDataModule": "signmusketeers.translate.datamodule",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'signmusketeers.data' has no attribute {name!r}")


__all__ = sorted(_LAZY)
