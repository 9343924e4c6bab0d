"""``signmusketeers extract CLIP_SHARDS --face-encoder F --hand-encoder H --out OUT``: clip shards → feature shards
(:func:`signmusketeers.translate.extract.extract_features`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``extract``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument(
        "clip_shards", type=Path, metavar="CLIP_SHARDS", help="clip shard folder (signmusketeers parse)"
    )
    parser.add_argument("--face-encoder", required=True, type=Path, help="face encoder export (.safetensors + .json)")
    parser.add_argument("--hand-encoder", required=True, type=Path, help="hand encoder export (.safetensors + .json)")
    parser.add_argument(
        "--global-encoder", type=Path, default=None,
        help="also encode every kept frame whole (padded to a square, resized) with this encoder export into the "
             "'global' stream (Table 2, + global frame; e.g. `export --from-dinov2`); needs boxes-only clip records",
    )  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="feature shard root: OUT/train, OUT/val, OUT/test")
    parser.add_argument(
        "--frames-per-batch",
        type=int,
        default=128,
        help="frames per encoder batch, gathered across clips (each frame = 1 face + 2 hand crops)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="decoding loader processes (JPEG crops, or the source videos of boxes-only clip records)",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda:LOCAL_RANK if available, else cpu)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="stored feature dtype")
    parser.add_argument("--shard-index", type=int, default=None, help="this process's part (default: $RANK or 0)")
    parser.add_argument("--num-shards", type=int, default=None, help="number of parts (default: $WORLD_SIZE or 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return run


def _say(line: str) -> None:
    print(f"signmusketeers extract: {line}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Extract, report each failed clip and a summary on stderr; exit 1 when a clip failed."""
    from signmusketeers.translate.extract import extract_features

    report = extract_features(
        args.clip_shards,
        args.out,
        face_encoder=args.face_encoder,
        hand_encoder=args.hand_encoder,
        global_encoder=args.global_encoder,
        frames_per_batch=args.frames_per_batch,
        workers=args.workers,
        device=args.device,
        dtype=args.dtype,
        shard_index=args.shard_index,
        num_shards=args.num_shards,
        progress=not args.no_progress,
        command="signmusketeers extract " + " ".join(sys.argv[2:]),
        on_failure=_say,
    )
    _say(report.summary())
    return 1 if report.failed else 0
