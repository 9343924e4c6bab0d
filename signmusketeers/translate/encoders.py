"""Frozen crop encoders for the translation stage (DINOv2-F for faces, DINOv2-H for hands; paper §3.2-3.3).

The encoder itself lives with pre-training (:mod:`signmusketeers.pretrain.encoder`, which the probe uses too) and
its files are :mod:`signmusketeers.formats.encoder_file`. This module adds :func:`crop_features`, the one way
crops become the ``face``/``left``/``right`` streams (``extract`` and ``translate`` both call it), and
:func:`write_random_encoder` (``signmusketeers random-encoder``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from signmusketeers.constants import CROP_SIZE, DEFAULT_MODEL
from signmusketeers.pretrain.encoder import (
    CropEncoder,
    build_encoder,
    save_encoder,
)

__all__ = ["crop_features", "write_random_encoder"]


def crop_features(
    crops: torch.Tensor, face_encoder: CropEncoder, hand_encoder: CropEncoder, dtype: torch.dtype = torch.float16
) -> dict[str, torch.Tensor]:
    """``uint8 (N, 3, S, S, 3)`` crops (face, left hand, right hand per frame) → ``{"face", "left", "right"}``
    features ``(N, D)`` in ``dtype`` on the CPU: one face-encoder forward, one hand-encoder forward for both hands.

    Features are stored as float16 for training; inference rounds the same way so that it sees what training saw.
    """
    frames = crops.shape[0]
    face = face_encoder(crops[:, 0])
    hands = hand_encoder(crops[:, 1:3].reshape(frames * 2, *crops.shape[2:])).reshape(frames, 2, -1)
    streams = {"face": face, "left": hands[:, 0], "right": hands[:, 1]}
    return {name: value.to(dtype).cpu() for name, value in streams.items()}


def write_random_encoder(
    out: str | os.PathLike,
    model_name: str = DEFAULT_MODEL,
    img_size: int = CROP_SIZE,
    seed: int = 0,
    init_values: float | None = 1.0,
    **model_kwargs: int,
) -> tuple[Path, CropEncoder]:
    """Write a randomly initialised encoder file at ``out``; returns ``(weights path, encoder)``.

    For demos and tests that run extraction without pre-trained encoders (the features are then random projections
    of the crops, not DINOv2 features; say so wherever results are reported). ``init_values`` is LayerScale's
    initial value: DINOv2 trains from 1e-5, but a random network initialised so barely lets the image through (the
    CLS feature is ~1e-3 of unit scale and nearly constant); 1.0 keeps image content.
    """
    kwargs = {key: value for key, value in model_kwargs.items() if value is not None}
    if init_values is not None:
        kwargs["init_values"] = init_values
    encoder = build_encoder(model_name, img_size, seed=seed, **kwargs)
    path = save_encoder(encoder, out, made_by={"command": "random initialisation", "seed": seed})
    return path, encoder
