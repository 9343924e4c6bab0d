"""signmusketeers: sign-language translation from parsed face, hand and pose streams (SignMusketeers).

The public names are imported on first use (:mod:`signmusketeers.lazy`), so that ``import signmusketeers`` and
the console script's ``--help`` stay fast; each lives in the package of its pipeline stage:

* ``signmusketeers.parsing``   — FrameParser, ParsedClip (video → crops + pose)
* ``signmusketeers.data``      — shard folders, manifests, tables, the corpus job ``parse_corpus``
* ``signmusketeers.pretrain``  — DinoV2PretrainModule, CropShardDataModule and the DINOv2 losses
* ``signmusketeers.translate`` — TranslationModule, ClipFeatureDataModule, ``extract_features``
* ``signmusketeers.synthsign`` — SynthSign, the embedded synthetic signing dataset
* ``signmusketeers.formats``   — every on-disk format (records and encoder files)
"""

from signmusketeers.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "FrameParser": "signmusketeers.parsing.parser",
    "ParsedClip": "signmusketeers.parsing.parser",
    "CropShardDataModule": "signmusketeers.pretrain.datamodule",
    "DinoV2PretrainModule": "signmusketeers.pretrain.module",
    "ClipFeatureDataModule": "signmusketeers.translate.datamodule",
    "TranslationModule": "signmusketeers.translate.module",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = [*sorted(_LAZY), "__version__"]
