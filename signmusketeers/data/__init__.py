"""Data: shard folders, SynthSign (the embedded synthetic dataset), manifests and the DataModules."""

import importlib as _importlib

_LAZY = {"CropShardDataModule": "signmusketeers.data.crops"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'signmusketeers.data' has no attribute {name!r}")
