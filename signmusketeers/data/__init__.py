"""Data: shard folders (writing, reading, the crop folders' part index) and manifests.

The DataModules live in the stages that train with them: :class:`signmusketeers.pretrain.CropShardDataModule` and
:class:`signmusketeers.translate.ClipFeatureDataModule`.
"""

from signmusketeers.lazy import lazy_exports

# Kept for users: `from signmusketeers.data import CropShardDataModule, ClipFeatureDataModule` goes on working, though
# the two live in their stages (the one place where data names a later layer; imported only when asked for).
_LAZY = {
    "CropShardDataModule": "signmusketeers.pretrain.datamodule",
    "ClipFeatureDataModule": "signmusketeers.translate.datamodule",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
