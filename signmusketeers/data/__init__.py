"""Data: shard folders, SynthSign (the embedded synthetic dataset), manifests and the DataModules."""

import importlib as _importlib

# Lazy: the DataModules import Lightning, which the shard and SynthSign helpers do not need.
_LAZY = {
    "CropShardDataModule": "signmusketeers.data.crops",
    "ClipFeatureDataModule": "signmusketeers.data.features",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'signmusketeers.data' has no attribute {name!r}")


__all__ = sorted(_LAZY)
