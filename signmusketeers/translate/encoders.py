"""Frozen crop encoders for the translation stage (DINOv2-F for faces, DINOv2-H for hands; paper §3.2-3.3).

Pre-training exports each encoder as two files with the same stem (the encoder export contract):

* ``ENCODER.safetensors`` — the teacher backbone's state dict with timm ``VisionTransformer`` key names;
* ``ENCODER.json`` — ``{"model_name", "model_kwargs", "embed_dim", "img_size", "mean", "std", "made_by"}``, enough
  to rebuild the network with ``timm.create_model(model_name, pretrained=False, **model_kwargs)``.

A crop's feature is the CLS token after the final norm, ``forward_features(x)[:, 0]`` (``embed_dim`` = 384 for
ViT-S/14). :func:`load_encoder` reads an export; :func:`build_encoder` makes a randomly initialised encoder of any
shape (tests and the demo use small ones; say so where they do); :func:`save_encoder` writes the export format.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from signmusketeers.constants import IMAGENET_MEAN, IMAGENET_STD
from signmusketeers.errors import InputError

DEFAULT_MODEL_NAME = "vit_small_patch14_reg4_dinov2"


class EncoderError(InputError):
    """An encoder export that cannot be loaded; the message names the file and the problem."""


@dataclass
class EncoderSpec:
    """What ``ENCODER.json`` holds: enough to rebuild the network and to prepare its input crops."""

    model_name: str = DEFAULT_MODEL_NAME
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    embed_dim: int = 384
    img_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    made_by: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["mean"], payload["std"] = list(self.mean), list(self.std)
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any], source: str = "encoder json") -> EncoderSpec:
        missing = [key for key in ("model_name", "embed_dim", "img_size") if key not in payload]
        if missing:
            raise EncoderError(f"{source}: missing {', '.join(missing)}")
        return cls(
            model_name=str(payload["model_name"]),
            model_kwargs=dict(payload.get("model_kwargs", {})),
            embed_dim=int(payload["embed_dim"]),
            img_size=int(payload["img_size"]),
            mean=tuple(float(v) for v in payload.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in payload.get("std", IMAGENET_STD)),
            made_by=dict(payload.get("made_by", {})),
        )


class CropEncoder(nn.Module):
    """A frozen ViT that maps RGB ``uint8`` crops ``(N, H, W, 3)`` to CLS features ``(N, embed_dim)`` float32.

    Crops are resized (bilinear, antialiased) to ``spec.img_size`` when they differ, scaled to [0, 1] and
    normalised with ``spec.mean``/``spec.std``. The network stays in eval mode with no gradients: extraction and
    inference never train it (paper §3.3, features are cached).
    """

    def __init__(self, backbone: nn.Module, spec: EncoderSpec) -> None:
        super().__init__()
        self.backbone = backbone
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> CropEncoder:  # noqa: ARG002 - frozen: always eval
        return super().train(False)

    @property
    def embed_dim(self) -> int:
        return self.spec.embed_dim

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """``uint8 (N, H, W, 3)`` → normalised float ``(N, 3, img_size, img_size)`` on the encoder's device."""
        if crops.ndim != 4 or crops.shape[-1] != 3:
            raise ValueError(f"crops must be (N, H, W, 3) uint8, got {tuple(crops.shape)}")
        images = crops.to(self.mean.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        size = self.spec.img_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (images - self.mean) / self.std

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
    except Exception as error:  # timm raises RuntimeError/TypeError for unknown names and kwargs
        raise EncoderError(f"cannot build {spec.model_name} with {spec.model_kwargs}: {error}") from None


def build_encoder(
    model_name: str = DEFAULT_MODEL_NAME,
    img_size: int = 224,
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


def export_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``ENCODER`` (with or without ``.safetensors``/``.json``) → (weights path, json path)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_encoder(encoder: CropEncoder, path: str | os.PathLike, made_by: dict[str, Any] | None = None) -> Path:
    """Write ``encoder`` in the export format (``.safetensors`` + ``.json``); returns the weights path."""
    from safetensors.torch import save_file

    weights, meta = export_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in encoder.backbone.state_dict().items()}
    save_file(state, str(weights))
    spec = EncoderSpec(**{**asdict(encoder.spec), "made_by": made_by or encoder.spec.made_by})
    meta.write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    return weights


def load_encoder(path: str | os.PathLike, device: str | torch.device = "cpu") -> CropEncoder:
    """Load an exported encoder (``ENCODER.safetensors`` + ``ENCODER.json``) as a frozen :class:`CropEncoder`.

    ``path`` may name either file or their common stem. Raises :class:`EncoderError` naming the file when a file
    is missing, unreadable, or its weights do not fit the network the JSON describes.
    """
    from safetensors.torch import load_file

    weights, meta = export_paths(path)
    for required in (meta, weights):
        if not required.exists():
            raise EncoderError(f"{required}: no such file (an encoder export is a .safetensors with a .json beside it)")
    try:
        spec = EncoderSpec.from_json(json.loads(meta.read_text()), str(meta))
    except json.JSONDecodeError as error:
        raise EncoderError(f"{meta}: not valid JSON ({error.msg})") from None
    try:
        state = load_file(str(weights))
    except Exception as error:  # safetensors raises its own error type for truncated files
        raise EncoderError(f"{weights}: not a readable safetensors file ({error})") from None
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


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``python -m signmusketeers.translate.encoders OUT``: write a randomly initialised encoder export.

    For demos and tests that run extraction without pre-trained encoders (the features are then random
    projections of the crops, not DINOv2 features; say so wherever results are reported).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m signmusketeers.translate.encoders", description=main.__doc__)
    parser.add_argument("out", type=Path, help="ENCODER path (.safetensors and .json are written)")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--embed-dim", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--num-heads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init-values", type=float, default=1.0,
        help="LayerScale initial value. DINOv2 trains from 1e-5, but a random network initialised so barely lets "
        "the image through (the CLS feature is ~1e-3 of unit scale and nearly constant); 1.0 keeps image content",
    )
    args = parser.parse_args(argv)
    kwargs = {k: v for k, v in (("embed_dim", args.embed_dim), ("depth", args.depth), ("num_heads", args.num_heads),
                                ("init_values", args.init_values)) if v is not None}
    encoder = build_encoder(args.model_name, args.img_size, seed=args.seed, **kwargs)
    path = save_encoder(encoder, args.out, made_by={"command": "random initialisation", "seed": args.seed})
    print(f"wrote {path} (random {args.model_name}, embed {encoder.embed_dim}, {args.img_size} px)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
