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


def tokenizer_from_files(files: dict[str, bytes]):
    """Inverse of :func:`tokenizer_to_files`."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)
        return AutoTokenizer.from_pretrained(folder)
