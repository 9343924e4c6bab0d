"""``signmusketeers random-encoder OUT [--img-size N --embed-dim D --depth L --num-heads H --seed S]``: a randomly
initialised encoder file (:func:`signmusketeers.translate.encoders.write_random_encoder`), for demos and tests that
extract features without pre-trained encoders (the features are then random projections of the crops)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from signmusketeers.constants import CROP_SIZE, DEFAULT_MODEL


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``random-encoder``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument("out", type=Path, help="ENCODER path (.safetensors and .json are written)")
    parser.add_argument("--model-name", default=DEFAULT_MODEL, help="timm architecture (default %(default)s)")
    parser.add_argument("--img-size", type=int, default=CROP_SIZE, help="input size in pixels (default %(default)s)")
    parser.add_argument("--embed-dim", type=int, default=None, help="feature size (default: the architecture's)")
    parser.add_argument("--depth", type=int, default=None, help="transformer blocks (default: the architecture's)")
    parser.add_argument("--num-heads", type=int, default=None, help="attention heads (default: the architecture's)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed (default %(default)s)")
    parser.add_argument(
        "--init-values",
        type=float,
        default=1.0,
        help="LayerScale initial value. DINOv2 trains from 1e-5, but a random network initialised so barely lets "
        "the image through (the CLS feature is ~1e-3 of unit scale and nearly constant); 1.0 keeps image content",
    )
    return run


def run(args: argparse.Namespace) -> int:
    """Write the encoder file and say what it is."""
    from signmusketeers.translate.encoders import write_random_encoder

    path, encoder = write_random_encoder(
        args.out,
        args.model_name,
        args.img_size,
        seed=args.seed,
        init_values=args.init_values,
        embed_dim=args.embed_dim,
        depth=args.depth,
        num_heads=args.num_heads,
    )
    print(f"wrote {path} (random {args.model_name}, embed {encoder.embed_dim}, {args.img_size} px)")
    return 0
