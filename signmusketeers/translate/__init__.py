"""signmusketeers.translate: frozen crop encoders, stream fusion, the T5 translator, BLEU and feature extraction."""

from signmusketeers.lazy import lazy_exports

_LAZY = {
    "CropEncoder": "signmusketeers.pretrain.encoder",
    "build_encoder": "signmusketeers.pretrain.encoder",
    "load_encoder": "signmusketeers.pretrain.encoder",
    "save_encoder": "signmusketeers.pretrain.encoder",
    "ClipFeatureDataModule": "signmusketeers.translate.datamodule",
    "StreamFusion": "signmusketeers.translate.fusion",
    "corpus_scores": "signmusketeers.translate.metrics",
    "TranslationModule": "signmusketeers.translate.module",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
