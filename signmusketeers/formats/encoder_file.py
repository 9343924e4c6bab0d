"""The encoder file: a frozen crop encoder on disk, as ``export`` writes it and ``extract``/``translate`` read it.

An encoder is two files with the same stem:

* ``ENCODER.safetensors`` — the backbone's state dict with timm ``VisionTransformer`` key names (no heads, no mask
  token);
* ``ENCODER.json`` — :class:`EncoderSpec`: ``{"model_name", "model_kwargs", "embed_dim", "img_size", "mean", "std",
  "made_by"}``, enough to rebuild the network with ``timm.create_model(model_name, pretrained=False,
  **model_kwargs)`` and to prepare its input crops.

This module reads and writes the two files and checks the JSON; building the network from them is
:func:`signmusketeers.pretrain.encoder.load_encoder`'s work.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from signmusketeers.constants import CROP_SIZE, DEFAULT_MODEL, IMAGENET_MEAN, IMAGENET_STD
from signmusketeers.errors import InputError

REQUIRED = ("model_name", "embed_dim", "img_size")


class EncoderError(InputError):
    """An encoder file that cannot be read or loaded; the message names the file and the problem."""


@dataclass
class EncoderSpec:
    """What ``ENCODER.json`` holds: enough to rebuild the network and to prepare its input crops.

    ``made_by`` records what wrote the file (the command, its inputs and their SHA-256 checksums)."""

    model_name: str = DEFAULT_MODEL
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    embed_dim: int = 384
    img_size: int = CROP_SIZE
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    made_by: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``ENCODER.json`` (keys in the order above)."""
        payload = asdict(self)
        payload["mean"], payload["std"] = list(self.mean), list(self.std)
        return payload

    @classmethod
    def from_json(cls, payload: Any, source: str = "encoder json") -> EncoderSpec:
        """Check and read an ``ENCODER.json`` object; :class:`EncoderError` names ``source`` and the problem."""
        if not isinstance(payload, dict):
            raise EncoderError(f"{source}: expected a JSON object with {', '.join(REQUIRED)}")
        missing = [key for key in REQUIRED if key not in payload]
        if missing:
            raise EncoderError(f"{source}: missing {', '.join(missing)}")
        try:
            spec = cls(
                model_name=str(payload["model_name"]),
                model_kwargs=dict(payload.get("model_kwargs", {})),
                embed_dim=int(payload["embed_dim"]),
                img_size=int(payload["img_size"]),
                mean=tuple(float(v) for v in payload.get("mean", IMAGENET_MEAN)),
                std=tuple(float(v) for v in payload.get("std", IMAGENET_STD)),
                made_by=dict(payload.get("made_by", {})),
            )
        except (TypeError, ValueError) as error:
            raise EncoderError(f"{source}: malformed field ({error})") from None
        if len(spec.mean) != 3 or len(spec.std) != 3 or spec.img_size < 1:
            raise EncoderError(f"{source}: mean and std need 3 values and img_size must be positive")
        return spec


def encoder_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``ENCODER`` (with or without ``.safetensors``/``.json``) → (weights path, JSON path)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_encoder_file(
    path: str | os.PathLike, state: dict[str, torch.Tensor], spec: EncoderSpec, *, record_sha256: bool = False
) -> Path:
    """Write ``state`` (``ENCODER.safetensors``) and ``spec`` (``ENCODER.json``); returns the weights path.

    ``record_sha256`` adds the weights file's checksum to ``made_by`` as ``encoder_sha256`` (``export`` does)."""
    from safetensors.torch import save_file

    weights, meta = encoder_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.detach().cpu().contiguous() for key, value in state.items()}, str(weights))
    payload = spec.to_json()
    if record_sha256:
        payload["made_by"] = {**payload["made_by"], "encoder_sha256": file_sha256(weights)}
    meta.write_text(json.dumps(payload, indent=2) + "\n")
    return weights


def read_encoder_file(path: str | os.PathLike) -> tuple[EncoderSpec, dict[str, torch.Tensor], Path]:
    """``(spec, state dict, weights path)`` of an encoder file; ``path`` may name either file or their stem.

    Raises :class:`EncoderError` naming the file when one is missing, unreadable or its JSON is malformed."""
    from safetensors.torch import load_file

    weights, meta = encoder_paths(path)
    for required in (meta, weights):
        if not required.exists():
            raise EncoderError(f"{required}: no such file (an encoder export is a .safetensors with a .json beside it)")
    try:
        spec = EncoderSpec.from_json(json.loads(meta.read_text()), str(meta))
    except json.JSONDecodeError as error:
        raise EncoderError(f"{meta}: not valid JSON ({error.msg})") from None
    try:
        state = load_file(str(weights))
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error type for truncated files
        raise EncoderError(f"{weights}: not a readable safetensors file ({error})") from None
    return spec, state, weights
