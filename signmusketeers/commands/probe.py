"""``signmusketeers probe ENCODER... --crops CROPS --labels LABELS``: the k-NN probe of encoder files
(:func:`signmusketeers.pretrain.probe.probe_encoders`), e.g. the original DINOv2 against DINOv2-H on your own
labels. One line per encoder, or JSON lines with ``--json``; an encoder that cannot be loaded is reported in one
line and the others are still probed (exit 1 at the end)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``probe``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument("encoders", nargs="+", metavar="ENCODER", help="encoder exports (.safetensors + .json)")
    parser.add_argument("--crops", required=True, help="crop shard folder (signmusketeers parse --crops-out)")
    parser.add_argument("--labels", required=True, help="a SynthSign folder or a label CSV (clip_id,frame,label)")
    parser.add_argument("--part", choices=("face", "hand"), default=None, help="probe only this part's crops")
    parser.add_argument("--k", type=int, default=20, help="neighbours that vote (default %(default)s)")
    parser.add_argument("--temperature", type=float, default=0.07, help="vote temperature (default %(default)s)")
    parser.add_argument(
        "--query-fraction",
        type=float,
        default=0.2,
        help="queries among the labelled clips when the CSV has no split column",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="crops per encoder forward (default %(default)s)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--json", action="store_true", help="one JSON object per encoder")
    return run


def run(args: argparse.Namespace) -> int:
    """Probe every encoder; print a line (or a JSON object) per encoder and one line per failure."""
    import torch

    from signmusketeers.pretrain.probe import probe_encoders

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    report = probe_encoders(
        args.encoders,
        args.crops,
        args.labels,
        part=args.part,
        k=args.k,
        temperature=args.temperature,
        query_fraction=args.query_fraction,
        batch_size=args.batch_size,
        device=device,
    )
    for row in report.rows:
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['encoder']}: top-1 {row['top1']:.3f}, balanced {row['balanced']:.3f} "
                f"({row['bank']} bank crops, {row['queries']} queries, {row['classes']} classes)"
            )
    for line in report.failures:
        print(f"signmusketeers probe: {line}", file=sys.stderr)
    return 1 if report.failures else 0
