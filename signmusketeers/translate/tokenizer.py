"""Target-text tokenisers that work offline, and their round trip through a checkpoint.

``"byt5"`` (the offline default) is the byte-level scheme of ByT5 (Xue et al., 2022), built locally by
``transformers.ByT5Tokenizer()``: UTF-8 bytes + pad/eos/unk, 384 ids including 125 sentinel ids, no files to
download, so any English sentence is representable. With the real T5.1.1-Base, use its own SentencePiece tokenizer
(``tokenizer: google/t5-v1_1-base`` or the local folder holding it) so the pre-trained embeddings mean what they
were trained to mean. Any other value is passed to ``AutoTokenizer.from_pretrained`` (an HF name or a local
folder). Whichever is used, a checkpoint stores the tokenizer's files (``tokenizer_files``), so loading a
checkpoint never needs the original source.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

BYTE_LEVEL = "byt5"


def build_tokenizer(source: str = BYTE_LEVEL):
    """A ``transformers`` tokenizer from ``"byt5"`` (built locally), an HF name or a local folder."""
    from transformers import AutoTokenizer, ByT5Tokenizer

    if source == BYTE_LEVEL:
        return ByT5Tokenizer()
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{source}: cannot load a tokenizer ({str(error).splitlines()[0]}); offline, use tokenizer: byt5 "
            "or a local folder"
        ) from None


def tokenizer_to_files(tokenizer) -> dict[str, bytes]:
    """The files ``save_pretrained`` writes, as ``{name: bytes}`` (stored inside checkpoints)."""
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


def write_tokenizer_files(files: dict[str, bytes], folder: str | Path) -> None:
    """Write the ``{name: bytes}`` of :func:`tokenizer_to_files` into ``folder``.

    The names come from a checkpoint, which may be someone else's: each must be a plain file name, so that none
    can write outside ``folder`` (``../x``, ``/x``, ``a/b``).
    """
    for name, data in files.items():
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise ValueError(f"tokenizer file name {name!r} is not a plain file name")
        if not isinstance(data, bytes):
            raise ValueError(f"tokenizer file {name!r} does not hold bytes")
        (Path(folder) / name).write_bytes(data)


def tokenizer_from_files(files: dict[str, bytes]):
    """Inverse of :func:`tokenizer_to_files`."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as folder:
        write_tokenizer_files(files, folder)
        return AutoTokenizer.from_pretrained(folder)


def train_subword_tokenizer(texts: list[str], vocab_size: int = 1000):
    """A small SentencePiece-style BPE tokenizer (Metaspace, exact round trip) trained on ``texts`` locally.

    Ids 0, 1, 2 are ``<pad>``, ``</s>``, ``<unk>`` as in T5, and ``</s>`` is appended to every encoded text. For small
    corpora (SynthSign's grammar) it learns whole words, so targets are a few tokens long instead of one per byte.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if not texts:
        raise ValueError("no texts to train a tokenizer on")
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"])
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def main(argv: list[str] | None = None) -> int:
    """``python -m signmusketeers.translate.tokenizer MANIFEST --out DIR``: train a subword tokenizer offline on the
    ``train`` texts of a manifest (JSON lines or CSV with ``text`` and ``split``), saved as a folder usable as
    ``tokenizer: DIR`` in a TranslationModule config."""
    import argparse
    import csv
    import json

    parser = argparse.ArgumentParser(prog="python -m signmusketeers.translate.tokenizer", description=main.__doc__)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--split", default="train", help="use texts of this split only ('' = all)")
    parser.add_argument("--vocab-size", type=int, default=1000)
    args = parser.parse_args(argv)
    try:
        if args.manifest.suffix == ".jsonl":
            rows = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
        else:
            with open(args.manifest, newline="") as handle:
                rows = list(csv.DictReader(handle))
        texts = [str(r["text"]) for r in rows if not args.split or r.get("split") == args.split]
        tokenizer = train_subword_tokenizer(texts, args.vocab_size)
    except (OSError, ValueError, KeyError) as error:
        print(f"python -m signmusketeers.translate.tokenizer: {args.manifest}: {error}", file=sys.stderr)
        return 2
    tokenizer.save_pretrained(args.out)
    print(f"wrote {args.out} ({len(tokenizer)} tokens, trained on {len(texts)} texts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
