"""signmusketeers.translate: frozen crop encoders, stream fusion, the T5 translator, BLEU and feature extraction."""

from signmusketeers.translate.datamodule import ClipFeatureDataModule
from signmusketeers.pretrain.encoder import CropEncoder, build_encoder, load_encoder, save_encoder
from signmusketeers.translate.fusion import StreamFusion
from signmusketeers.translate.metrics import corpus_scores
from signmusketeers.translate.module import TranslationModule

__all__ = ["ClipFeatureDataModule", "CropEncoder", "StreamFusion", "TranslationModule", "build_encoder", "corpus_scores",
           "load_encoder", "save_encoder"]
