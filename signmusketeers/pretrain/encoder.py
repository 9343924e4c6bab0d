"""The frozen crop encoder (DINOv2-F for faces, DINOv2-H for hands; paper §3.2-3.3) and its one crop preprocessing.

A crop's feature is the CLS token after the final norm, ``forward_features(x)[:, 0]`` (``embed_dim`` = 384 for
ViT-S/14). The probe, extraction and inference all prepare crops with :func:`preprocess_crops`: scaled to [0, 1],
resized with antialiased bicubic interpolation where the crop size differs from the encoder's input size (as
``parse`` resizes crops and as DINOv2's own evaluation transforms do), normalised with the encoder's mean and std.

:func:`load_encoder` reads an encoder file (:mod:`signmusketeers.formats.encoder_file`); :func:`build_encoder` makes
a randomly initialised encoder of any shape (tests and the demo use small ones; say so where they do);
:func:`save_encoder` writes one.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from signmusketeers.constants import CROP_SIZE, DEFAULT_MODEL
from signmusketeers.formats.encoder_file import EncoderError, EncoderSpec, read_encoder_file, write_encoder_file


def preprocess_crops(crops: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``uint8 (N, H, W, 3)`` crops → normalised float ``(N, 3, size, size)`` on ``mean``'s device.

    Crops of another size are resized with antialiased bicubic interpolation, clamped to [0, 1] (bicubic overshoots
    at edges); ``mean``/``std`` are ``(1, 3, 1, 1)`` tensors."""
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise ValueError(f"crops must be (N, H, W, 3) uint8, got {tuple(crops.shape)}")
    images = crops.to(mean.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
        images = images.clamp_(0.0, 1.0)
    return (images - mean) / std


class CropEncoder(nn.Module):
    """A frozen ViT that maps RGB ``uint8`` crops ``(N, H, W, 3)`` to CLS features ``(N, embed_dim)`` float32.

    Crops are prepared by :func:`preprocess_crops` with ``spec.img_size``, ``spec.mean`` and ``spec.std``. The
    network stays in eval mode with no gradients: extraction and inference never train it (paper §3.3, features
    are cached).
    """

    def __init__(self, backbone: nn.Module, spec: EncoderSpec) -> None:
        super().__init__()
        self.backbone = backbone
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> CropEncoder:
        return super().train(False)

    @property
    def embed_dim(self) -> int:
        return self.spec.embed_dim

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """``uint8 (N, H, W, 3)`` → normalised float ``(N, 3, img_size, img_size)`` on the encoder's device."""
        return preprocess_crops(crops, self.spec.img_size, self.mean, self.std)

    @torch.no_grad()
    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        if crops.shape[0] == 0:
            return torch.zeros(0, self.embed_dim, device=self.mean.device)
        return self.backbone.forward_features(self.preprocess(crops))[:, 0].float()


def build_backbone(spec: EncoderSpec) -> nn.Module:
    """The timm ViT of ``spec``, randomly initialised (no download)."""
    import timm

    try:
        return timm.create_model(spec.model_name, pretrained=False, **{"num_classes": 0, **spec.model_kwargs})
    except Exception as error:  # noqa: BLE001 - timm raises RuntimeError/TypeError for unknown names and kwargs
        raise EncoderError(f"cannot build {spec.model_name} with {spec.model_kwargs}: {error}") from None


def build_encoder(
    model_name: str = DEFAULT_MODEL,
    img_size: int = CROP_SIZE,
    seed: int | None = None,
    **model_kwargs: Any,
) -> CropEncoder:
    """A randomly initialised :class:`CropEncoder` (for tests and demos, or before pre-training).

    ``build_encoder()`` is ViT-S/14 with 4 registers at 224 px, the paper's shape (embed 384). Small variants for
    CPU tests: ``build_encoder(img_size=56, embed_dim=64, depth=2, num_heads=2)``.
    """
    model_kwargs = {"img_size": img_size, **model_kwargs}
    if seed is not None:
        torch.manual_seed(seed)
    spec = EncoderSpec(model_name=model_name, model_kwargs=model_kwargs, img_size=img_size, embed_dim=0)
    backbone = build_backbone(spec)
    spec.embed_dim = int(backbone.embed_dim)
    return CropEncoder(backbone, spec)


def save_encoder(encoder: CropEncoder, path: str | os.PathLike, made_by: dict[str, Any] | None = None) -> Path:
    """Write ``encoder`` as an encoder file (``.safetensors`` + ``.json``); returns the weights path."""
    spec = replace(encoder.spec, made_by=made_by or encoder.spec.made_by)
    return write_encoder_file(path, encoder.backbone.state_dict(), spec)


def load_encoder(path: str | os.PathLike, device: str | torch.device = "cpu") -> CropEncoder:
    """Load an encoder file (``ENCODER.safetensors`` + ``ENCODER.json``) as a frozen :class:`CropEncoder`.

    ``path`` may name either file or their common stem. Raises :class:`EncoderError` naming the file when a file
    is missing, unreadable, or its weights do not fit the network the JSON describes.
    """
    spec, state, weights = read_encoder_file(path)
    return encoder_from_state(spec, state, str(weights), device)


def encoder_from_state(
    spec: EncoderSpec, state: dict[str, torch.Tensor], source: str = "encoder", device: str | torch.device = "cpu"
) -> CropEncoder:
    """Rebuild a :class:`CropEncoder` from its spec and backbone state dict (strict: every key must match)."""
    # Built without initialising (meta device): the weights come from ``state``, and a random ViT-S init costs ~1 s.
    with torch.device("meta"):
        backbone = build_backbone(spec)
    try:
        backbone.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise EncoderError(f"{source}: weights do not match {spec.model_name} {spec.model_kwargs}: {first}") from None
    return CropEncoder(backbone, spec).to(device)
