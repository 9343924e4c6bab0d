"""signmusketeers: sign-language translation from parsed face, hand and pose streams (SignMusketeers).

The public names are imported lazily so that ``import signmusketeers`` (and the CLI's ``--help``) stays fast;
each lives in the subpackage of its pipeline stage:

* ``signmusketeers.parsing``   — FrameParser, ParsedClip (video → crops + pose)
* ``signmusketeers.pretrain``  — DinoV2PretrainModule and the DINOv2 losses
* ``signmusketeers.translate`` — TranslationModule
* ``signmusketeers.data``      — CropShardDataModule, ClipFeatureDataModule, SynthSign
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "FrameParser": "signmusketeers.parsing",
    "ParsedClip": "signmusketeers.parsing",
    "DinoV2PretrainModule": "signmusketeers.pretrain",
    "TranslationModule": "signmusketeers.translate",
    "CropShardDataModule": "signmusketeers.data",
    "ClipFeatureDataModule": "signmusketeers.data",
}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'signmusketeers' has no attribute {name!r}")


__all__ = sorted(_PUBLIC) + ["__version__"]
