"""Target-text tokenisers that work offline, and their round trip through a checkpoint.

``"byt5"`` (the offline default) is the byte-level scheme of ByT5 (Xue et al., 2022), built locally by
``transformers.ByT5Tokenizer()``: UTF-8 bytes + pad/eos/unk, 384 ids including 125 sentinel ids, no files to
download, so any English sentence is representable. With the real T5.1.1-Base, use its own SentencePiece tokenizer
(``tokenizer: google/t5-v1_1-base`` or the local folder holding it) so the pre-trained embeddings mean what they
were trained to mean. Any other value is an HF name or a local folder. Whichever is used, a checkpoint stores the
tokenizer's files (``tokenizer_files``), so loading a checkpoint never needs the original source.

A T5 SentencePiece tokenizer (``spiece.model`` and no ``tokenizer.json``, as ``google/t5-v1_1-base`` ships it) is
read here rather than by ``AutoTokenizer``: transformers reads ``spiece.model`` through the protobuf classes of the
``sentencepiece`` package, which recent releases generate for protobuf >= 5, while mediapipe 0.10.21 needs
protobuf < 5. :func:`read_sentencepiece_model` parses the file with the generated classes that fit the installed
protobuf (sentencepiece's own, or the copies transformers bundles for protobuf 3 and 4) and
:func:`sentencepiece_t5_tokenizer` builds transformers' own ``T5Tokenizer`` from its pieces, scores and normaliser:
the same ids as SentencePiece itself, plus ``</s>`` at the end.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from signmusketeers.errors import InputError

BYTE_LEVEL = "byt5"
SENTENCEPIECE_MODEL = "spiece.model"
T5_TOKENIZER_CLASSES = (None, "T5Tokenizer", "T5TokenizerFast")
# The tokenizer_config.json / special_tokens_map.json entries T5Tokenizer takes.
_T5_TOKENIZER_KEYS = (
    "eos_token",
    "unk_token",
    "pad_token",
    "extra_ids",
    "additional_special_tokens",
    "model_max_length",
)


def build_tokenizer(source: str = BYTE_LEVEL):
    """A ``transformers`` tokenizer from ``"byt5"`` (built locally), an HF name or a local folder.

    A T5 folder or HF repository with ``spiece.model`` but no ``tokenizer.json`` is read by
    :func:`sentencepiece_t5_tokenizer` (see the module docstring); everything else by ``AutoTokenizer``.
    """
    from transformers import AutoTokenizer, ByT5Tokenizer

    if source == BYTE_LEVEL:
        return ByT5Tokenizer()
    spiece = _tokenizer_file(source, SENTENCEPIECE_MODEL)
    if spiece is not None and _tokenizer_file(source, "tokenizer.json") is None:
        config = _read_tokenizer_config(source)
        if config.get("tokenizer_class") in T5_TOKENIZER_CLASSES:
            try:
                return sentencepiece_t5_tokenizer(spiece, config)
            except ValueError as error:
                raise ValueError(f"{source}: {error}") from None
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, ImportError) as error:
        raise ValueError(
            f"{source}: cannot load a tokenizer ({str(error).strip().splitlines()[0]}); give an HF name or a folder "
            "holding tokenizer.json or a T5 spiece.model (tokenizer: byt5 needs no files)"
        ) from None


def _tokenizer_file(source: str, name: str) -> str | None:
    """``name`` in the local folder ``source``, or in the HF repository ``source`` (hub cache honoured); None if
    absent or unreachable."""
    if Path(source).is_dir():
        path = Path(source) / name
        return str(path) if path.is_file() else None
    from transformers.utils import cached_file

    try:
        return cached_file(
            source, name, _raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False
        )
    except (OSError, ValueError):
        return None


def _read_tokenizer_config(source: str) -> dict:
    """``special_tokens_map.json`` updated by ``tokenizer_config.json`` (either may be absent)."""
    import json

    config: dict = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = _tokenizer_file(source, name)
        if path is not None:
            try:
                config.update(json.loads(Path(path).read_text()))
            except (OSError, ValueError) as error:
                raise ValueError(f"{path}: not a readable JSON file ({error})") from None
    return config


def _model_proto_class():
    """The generated ``sentencepiece.ModelProto`` class that works with the installed protobuf."""
    try:
        from sentencepiece import sentencepiece_model_pb2  # generated for protobuf >= 5 by recent sentencepiece

        return sentencepiece_model_pb2.ModelProto
    except (ImportError, TypeError):  # protobuf < 5 (mediapipe 0.10.21 pins it): transformers bundles 3.x and 4.x ones
        import google.protobuf

        if int(google.protobuf.__version__.split(".")[0]) >= 4:
            from transformers.utils import sentencepiece_model_pb2_new as generated
        else:
            from transformers.utils import sentencepiece_model_pb2 as generated
        return generated.ModelProto


def read_sentencepiece_model(path: str | Path) -> tuple[list[tuple[str, float]], bytes | None]:
    """``(pieces with scores, precompiled normaliser charsmap or None)`` of a T5 SentencePiece model file.

    Raises ValueError (naming the problem) for a file SentencePiece cannot load, or one whose special ids are not
    T5's (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2).
    """
    import sentencepiece

    try:
        processor = sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as error:
        raise ValueError(f"{path}: not a SentencePiece model ({str(error).strip().splitlines()[0]})") from None
    ids = (processor.pad_id(), processor.eos_id(), processor.unk_id())
    if ids != (0, 1, 2):
        raise ValueError(f"{path}: special ids (pad, eos, unk) = {ids}, T5 needs (0, 1, 2)")
    proto = _model_proto_class()()
    proto.ParseFromString(Path(path).read_bytes())
    pieces = [(piece.piece, piece.score) for piece in proto.pieces]
    if len(pieces) != processor.get_piece_size():
        raise ValueError(f"{path}: {len(pieces)} pieces parsed, SentencePiece reads {processor.get_piece_size()}")
    return pieces, proto.normalizer_spec.precompiled_charsmap or None


def sentencepiece_t5_tokenizer(model_file: str | Path, config: dict | None = None):
    """transformers' ``T5Tokenizer`` built from a SentencePiece model without transformers' protobuf path.

    ``config``: the folder's ``tokenizer_config.json`` / ``special_tokens_map.json`` entries (``extra_ids``, the
    special tokens, ``model_max_length``); sentinel tokens ``<extra_id_N>`` follow the pieces as in T5.
    """
    from transformers import T5Tokenizer
    from transformers.convert_slow_tokenizer import T5Converter

    pieces, charsmap = read_sentencepiece_model(model_file)

    def plain(token):  # special tokens may be stored as AddedToken dicts
        return token.get("content") if isinstance(token, dict) else token

    kwargs = {}
    for key in _T5_TOKENIZER_KEYS:
        if key in (config or {}):
            value = config[key]
            kwargs[key] = [plain(t) for t in value] if isinstance(value, list) else plain(value)
    # transformers' own T5 conversion step: the sentinels join the vocabulary after the pieces, <extra_id_0> last
    kwargs = T5Converter.convert_from_spm(vocab=pieces, **kwargs)
    return T5Tokenizer(_spm_precompiled_charsmap=charsmap, **kwargs)


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


def train_tokenizer_from_manifest(
    manifest: str | Path, out: str | Path, split: str = "train", vocab_size: int = 1000
) -> tuple[Path, int, int]:
    """Train :func:`train_subword_tokenizer` on the ``split`` texts of a manifest (JSON lines or CSV with ``text``
    and ``split``; ``split=""``: every text) and save it to ``out``, a folder usable as ``tokenizer: DIR`` in a
    TranslationModule config. Returns ``(out, tokens, texts)``; raises :class:`InputError` naming the manifest."""
    from signmusketeers.data.tables import read_rows

    manifest, out = Path(manifest), Path(out)
    rows = [row for _, row in read_rows(manifest)]
    try:
        texts = [str(r["text"]) for r in rows if not split or r.get("split") == split]
        tokenizer = train_subword_tokenizer(texts, vocab_size)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"{manifest}: {error}") from None
    tokenizer.save_pretrained(out)
    return out, len(tokenizer), len(texts)
