"""``signmusketeers captions INPUT... --out MANIFEST.jsonl``: videos + their caption files → a clip manifest, by
:func:`~signmusketeers.data.captions.caption_manifest` (its module doc says which cues are kept)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signmusketeers.data.captions import MAX_CHARS, MAX_SECONDS, MIN_SECONDS, OVERLAP_POLICIES


def _fractions(text: str) -> dict[str, float]:
    fractions = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            fractions[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=FRACTION[,NAME=FRACTION...]") from None
    if not all(fractions) or any(v < 0 for v in fractions.values()) or sum(fractions.values()) > 1:
        raise argparse.ArgumentTypeError(f"{text!r}: names must be given and fractions must be ≥ 0, summing to ≤ 1")
    return fractions


def register(parser: argparse.ArgumentParser):
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="folders (searched recursively) or files: videos and their caption files VIDEO[.LANG].vtt|.srt|.json3",
    )
    parser.add_argument("--out", required=True, type=Path, help="the clip manifest to write (.jsonl)")
    parser.add_argument("--lang", default="en", help="caption language tag to take from VIDEO.LANG.EXT names (en)")
    parser.add_argument("--split", default="", help="split name for every clip (train, val, test; default none)")
    parser.add_argument(
        "--split-videos",
        type=_fractions,
        default=None,
        metavar="NAME=F[,NAME=F]",
        help="draw whole videos into splits, e.g. val=0.05,test=0.05 (the rest: --split)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --split-videos")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS, help="drop shorter cues (0.2)")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="drop longer cues (60)")
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="drop cues with longer text (300)")
    parser.add_argument(
        "--overlap",
        choices=OVERLAP_POLICIES,
        default="trim",
        help="a cue starting before the previous ends: trim the previous (default), drop it, keep both",
    )
    return run


def run(args: argparse.Namespace) -> int:
    from signmusketeers.data.captions import caption_manifest

    report = caption_manifest(
        args.inputs,
        args.out,
        lang=args.lang,
        split=args.split,
        split_videos=args.split_videos,
        seed=args.seed,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        max_chars=args.max_chars,
        overlap=args.overlap,
        log=_say,
    )
    for line in report.lines():
        _say(line)
    return 1 if report.problems else 0


def _say(line: str) -> None:
    print(f"signmusketeers captions: {line}", file=sys.stderr)
