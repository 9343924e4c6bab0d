"""Export the teacher backbone of a pre-training checkpoint as an encoder (the contract the translation stage reads).

``ENCODER.safetensors`` holds the teacher's timm ``VisionTransformer`` state dict (timm key names, no heads, no
mask token) and ``ENCODER.json`` beside it records how to rebuild it: ``timm.create_model(model_name,
**model_kwargs)``, the input size and normalisation, and what made it. The crop feature is
``forward_features(x)[:, 0]``, the CLS token after the final norm.

:func:`export_dinov2` writes the same two files from original DINOv2 weights (a timm name with its pretrained tag,
or a local weights file in timm or official DINOv2 key layout), for Table 2's "crop + original DINOv2" and
"+ global frame" rows: encoders that were never trained on signers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signmusketeers.constants import DEFAULT_MODEL, DEFAULT_MODEL_KWARGS
from signmusketeers.errors import InputError
from signmusketeers.formats.encoder_file import EncoderSpec, file_sha256, write_encoder_file

TEACHER_PREFIX = "teacher.backbone.vit."


class ExportError(InputError):
    """A checkpoint or weights file that cannot be exported; the message names the file and the reason."""

    exit_code = 1  # the command ran and its input failed, as for a clip that fails to parse


def export_encoder(checkpoint: str | Path, out: str | Path) -> Path:
    """Write ``out`` (safetensors) and ``out`` with suffix ``.json`` from a DinoV2PretrainModule checkpoint."""
    import torch

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
    model_kwargs = {**DEFAULT_MODEL_KWARGS, **(hparams.get("model_kwargs") or {})}
    made_by = {
        "command": "signmusketeers export",
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "global_step": int(state.get("global_step", -1)),
        "pretrained": hparams.get("pretrained"),
    }
    return _write_encoder(weights, hparams.get("model_name", DEFAULT_MODEL), model_kwargs, out, made_by)


def _write_encoder(
    weights: dict[str, Any], model_name: str, model_kwargs: dict[str, Any], out: Path, made_by: dict[str, Any]
) -> Path:
    """Write the encoder file (``out`` safetensors + JSON beside it); ``made_by`` gains the weights' checksum."""
    spec = EncoderSpec(
        model_name=model_name,
        model_kwargs=model_kwargs,
        embed_dim=int(weights["cls_token"].shape[-1]),
        img_size=int(model_kwargs["img_size"]),
        made_by=made_by,
    )
    return write_encoder_file(out, weights, spec, record_sha256=True)


def export_dinov2(
    pretrained: str, out: str | Path, model_name: str = DEFAULT_MODEL, model_kwargs: dict[str, Any] | None = None
) -> Path:
    """Write an encoder export of original DINOv2 weights, untouched by continued pre-training.

    ``pretrained`` is a timm name with its pretrained tag (``vit_small_patch14_reg4_dinov2.lvd142m``, the public
    ``dinov2_vits14_reg`` weights; timm downloads them) or a local weights file in timm or official DINOv2 key
    layout, loaded exactly as ``DinoV2PretrainModule(pretrained=...)`` loads its initial weights
    (:func:`~signmusketeers.pretrain.backbone.load_pretrained`), so this export equals the teacher of a
    pre-training run before its first step. ``model_kwargs`` override Table 7's ViT-S/14-reg4 at 224 px.
    """
    from signmusketeers.pretrain.backbone import DinoV2Backbone, create_vit, load_pretrained

    out = Path(out)
    if out.suffix != ".safetensors":
        raise ExportError(f"{out}: the encoder file must end in .safetensors")
    model_kwargs = {**DEFAULT_MODEL_KWARGS, **(model_kwargs or {})}
    try:
        backbone = DinoV2Backbone(create_vit(model_name, **model_kwargs))
        load_pretrained(backbone, pretrained, model_kwargs)
    except Exception as error:  # noqa: BLE001 - unknown names, missing or unreadable files, no network, mismatched
        # weights: one line each, naming what was asked for
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ExportError(reason if reason.startswith(str(pretrained)) else f"{pretrained}: {reason}") from None
    weights = {key: tensor.detach().contiguous() for key, tensor in backbone.vit.state_dict().items()}
    made_by = {"command": "signmusketeers export --from-dinov2", "pretrained": str(pretrained)}
    if Path(pretrained).is_file():
        made_by["pretrained_sha256"] = file_sha256(pretrained)
    return _write_encoder(weights, model_name, model_kwargs, out, made_by)
