"""``signmusketeers export CKPT --out ENCODER.safetensors`` or ``export --from-dinov2 NAME_OR_PATH --out ...``:
an encoder file from a pre-training checkpoint (:func:`signmusketeers.pretrain.export.export_encoder`) or from
original DINOv2 weights (:func:`~signmusketeers.pretrain.export.export_dinov2`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from signmusketeers.constants import DEFAULT_MODEL
from signmusketeers.errors import InputError


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``export``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument(
        "checkpoint", nargs="?", help="a DinoV2PretrainModule checkpoint (.ckpt) written by `signmusketeers fit`"
    )
    parser.add_argument("--out", required=True, help="ENCODER.safetensors to write (ENCODER.json goes beside it)")
    parser.add_argument(
        "--from-dinov2", metavar="NAME_OR_PATH", default=None,
        help="export original DINOv2 weights instead of a checkpoint: a timm name with its tag "
             "(vit_small_patch14_reg4_dinov2.lvd142m) or a local weights file (timm or official DINOv2 key layout)",
    )  # fmt: skip
    parser.add_argument("--model-name", default=DEFAULT_MODEL, help="timm architecture for --from-dinov2")
    parser.add_argument(
        "--model-kwargs",
        type=json.loads,
        default=None,
        metavar="JSON",
        help="timm overrides for --from-dinov2, e.g. '{\"img_size\": 518}' (default: Table 7's)",
    )
    return run


def run(args: argparse.Namespace) -> int:
    """Export and print the two files written."""
    from signmusketeers.pretrain.export import export_dinov2, export_encoder

    if (args.checkpoint is None) == (args.from_dinov2 is None):
        raise InputError("give either a checkpoint or --from-dinov2 NAME_OR_PATH")
    if args.from_dinov2 is not None:
        path = export_dinov2(args.from_dinov2, args.out, args.model_name, args.model_kwargs)
    else:
        path = export_encoder(args.checkpoint, args.out)
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0
