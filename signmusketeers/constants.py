"""Numbers and names several stages share, defined once (paper values cited where they come from the paper)."""

from __future__ import annotations

from typing import Any

PAPER_STRIDE = 2  # paper §4: the translator sees every second frame
CROP_SIZE = 224  # paper §3.1: face and hand crops are resized to 224 × 224
BOX_SCALE = 1.2  # paper §3.1: square boxes 1.2 × the landmarks' extent
JPEG_QUALITY = 95  # crops are stored as JPEG at this quality in clip and crop shards

# ImageNet statistics: DINOv2 (and so its continued pre-training here) normalises inputs with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The encoders: timm's ViT-S/14 with 4 registers (paper Table 7: LayerScale 1e-5), at 224 px.
DEFAULT_MODEL = "vit_small_patch14_reg4_dinov2"
DEFAULT_MODEL_KWARGS: dict[str, Any] = {"img_size": CROP_SIZE, "patch_size": 14, "reg_tokens": 4, "init_values": 1e-5}

DEFAULT_T5 = "google/t5-v1_1-base"  # paper §3.3: T5.1.1-Base
