"""Export the teacher backbone of a pre-training checkpoint as an encoder (the contract the translation stage reads).

``ENCODER.safetensors`` holds the teacher's timm ``VisionTransformer`` state dict (timm key names, no heads, no
mask token) and ``ENCODER.json`` beside it records how to rebuild it: ``timm.create_model(model_name,
**model_kwargs)``, the input size and normalisation, and what made it. The crop feature is
``forward_features(x)[:, 0]``, the CLS token after the final norm.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from .augment import IMAGENET_MEAN, IMAGENET_STD
from .backbone import DEFAULT_MODEL_KWARGS

TEACHER_PREFIX = "teacher.backbone.vit."


class ExportError(ValueError):
    """A checkpoint that cannot be exported; the message names the file and the reason."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_encoder(checkpoint: str | Path, out: str | Path) -> Path:
    """Write ``out`` (safetensors) and ``out`` with suffix ``.json`` from a DinoV2PretrainModule checkpoint."""
    import torch
    from safetensors.torch import save_file

    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_file():
        raise ExportError(f"{checkpoint}: no such checkpoint")
    if out.suffix != ".safetensors":
        raise ExportError(f"{out}: the encoder file must end in .safetensors")
    try:
        # Lightning checkpoints hold only tensors and plain containers: the safe loader reads them.
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one-line reason
        raise ExportError(f"{checkpoint}: not a readable torch checkpoint ({type(error).__name__})") from None
    weights = {
        key[len(TEACHER_PREFIX) :]: tensor.contiguous()
        for key, tensor in state.get("state_dict", {}).items()
        if key.startswith(TEACHER_PREFIX)
    }
    if not weights:
        raise ExportError(f"{checkpoint}: no teacher backbone weights (not a DinoV2PretrainModule checkpoint)")
    hparams: dict[str, Any] = state.get("hyper_parameters", {})
    model_kwargs = {**DEFAULT_MODEL_KWARGS, **(hparams.get("model_kwargs") or {}), "num_classes": 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out))
    config = {
        "model_name": hparams.get("model_name", "vit_small_patch14_reg4_dinov2"),
        "model_kwargs": model_kwargs,
        "embed_dim": int(weights["cls_token"].shape[-1]),
        "img_size": int(model_kwargs["img_size"]),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "made_by": {
            "command": "signmusketeers export",
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": _sha256(checkpoint),
            "global_step": int(state.get("global_step", -1)),
            "pretrained": hparams.get("pretrained"),
            "encoder_sha256": _sha256(out),
        },
    }
    out.with_suffix(".json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def register(parser: argparse.ArgumentParser):
    """``signmusketeers export CKPT --out ENCODER.safetensors``."""
    parser.add_argument("checkpoint", help="a DinoV2PretrainModule checkpoint (.ckpt) written by `signmusketeers fit`")
    parser.add_argument("--out", required=True, help="ENCODER.safetensors to write (ENCODER.json goes beside it)")

    def run(args: argparse.Namespace) -> int:
        try:
            path = export_encoder(args.checkpoint, args.out)
        except ExportError as error:
            print(f"signmusketeers export: {error}", file=sys.stderr)
            return 1
        print(f"wrote {path} and {path.with_suffix('.json')}")
        return 0

    return run
