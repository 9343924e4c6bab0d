"""``signmusketeers tokenizer MANIFEST --out DIR``: a subword tokenizer trained offline on a manifest's ``train``
sentences (:func:`signmusketeers.translate.tokenizer.train_tokenizer_from_manifest`), saved as a folder usable as
``tokenizer: DIR`` in a TranslationModule config."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``tokenizer``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument(
        "manifest",
        type=Path,
        metavar="MANIFEST",
        help="JSON lines or CSV with text and split columns (e.g. SynthSign's manifest.jsonl)",
    )
    parser.add_argument("--out", required=True, type=Path, help="tokenizer folder to write")
    parser.add_argument("--split", default="train", help="use texts of this split only ('' = all)")
    parser.add_argument("--vocab-size", type=int, default=1000, help="vocabulary size (default %(default)s)")
    return run


def run(args: argparse.Namespace) -> int:
    """Train, save and say how big the tokenizer is."""
    from signmusketeers.translate.tokenizer import train_tokenizer_from_manifest

    out, tokens, texts = train_tokenizer_from_manifest(args.manifest, args.out, args.split, args.vocab_size)
    print(f"wrote {out} ({tokens} tokens, trained on {texts} texts)")
    return 0
