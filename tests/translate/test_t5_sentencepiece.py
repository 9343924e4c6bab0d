"""A T5.1.1 with its own SentencePiece tokenizer, as the released checkpoint is laid out (config.json, weights,
spiece.model, tokenizer_config.json, no tokenizer.json): tokenisation, and fit → test → translate with
``t5: FOLDER``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import signmusketeers.parsing
from signmusketeers.cli import main
from signmusketeers.pretrain.encoder import build_encoder, save_encoder
from signmusketeers.translate import TranslationModule
from signmusketeers.translate.tokenizer import build_tokenizer, read_sentencepiece_model
from tests.translate.conftest import WORDS
from tests.translate.test_inference import FakeParser

REPO = Path(__file__).resolve().parents[2]
EXTRA_IDS = 4
TEXTS = [
    "hello world",
    "sign language",
    "good morning",
    "thank you",
    "thank you for the good morning",
    "the signer says hello to the world",
    "Good morning, world!",
    "we sign every morning",
]


def sentencepiece_model(folder: Path) -> Path:
    """A small unigram SentencePiece model with T5's special ids, trained here on a few sentences."""
    import io

    import sentencepiece

    sentences = TEXTS + [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 4),
        model_writer=buffer,
        vocab_size=60,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        num_threads=1,
        minloglevel=2,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(buffer.getvalue())
    return folder / "spiece.model"


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory) -> Path:
    """A tiny T5.1.1 (gated-GELU, untied embeddings) saved in google/t5-v1_1-base's file layout."""
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("t5-v1_1-tiny")
    model_file = sentencepiece_model(folder)
    pieces, _ = read_sentencepiece_model(model_file)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(pieces) + EXTRA_IDS + 4,
        d_model=64,
        d_ff=128,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        d_kv=32,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        dropout_rate=0.1,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    sentinels = [f"<extra_id_{i}>" for i in range(EXTRA_IDS)]
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "additional_special_tokens": sentinels}
        )
    )
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "T5Tokenizer",
                "extra_ids": EXTRA_IDS,
                "additional_special_tokens": sentinels,
                "model_max_length": 512,
            }
        )
    )
    assert not (folder / "tokenizer.json").exists()
    return folder


def test_t5_tokenizer_matches_sentencepiece(t5_folder):
    import sentencepiece

    tokenizer = build_tokenizer(str(t5_folder))
    processor = sentencepiece.SentencePieceProcessor(model_file=str(t5_folder / "spiece.model"))
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    pieces = processor.get_piece_size()
    assert len(tokenizer) == pieces + EXTRA_IDS
    # T5's sentinels follow the pieces, counting down: <extra_id_0> is the last id
    assert tokenizer.convert_tokens_to_ids("<extra_id_0>") == pieces + EXTRA_IDS - 1
    for text in TEXTS + ["ﬁne  morning", "Ｇood world"]:  # NFKC-normalised like SentencePiece itself
        ids = tokenizer(text).input_ids
        assert ids == processor.encode(text) + [1], text
        assert tokenizer.decode(ids, skip_special_tokens=True) == processor.decode(processor.encode(text))
    for text in TEXTS:
        assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text  # exact round trip


def test_sentencepiece_problems_are_one_line(tmp_path):
    (tmp_path / "spiece.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="spiece.model: not a SentencePiece model"):
        build_tokenizer(str(tmp_path))


def test_fit_test_translate_with_the_t5_folder_and_its_own_tokenizer(
    tmp_path, t5_folder, feature_shards, monkeypatch, capsys
):
    shards = feature_shards  # 384-wide features, as ViT-S/14 encoders make
    face = save_encoder(build_encoder(img_size=56, embed_dim=384, depth=1, num_heads=6, seed=1), tmp_path / "face")
    hand = save_encoder(build_encoder(img_size=56, embed_dim=384, depth=1, num_heads=6, seed=2), tmp_path / "hand")
    config = yaml.safe_load((REPO / "configs/translate/h2s.yaml").read_text())
    assert config["model"]["init_args"]["tokenizer"] is None  # the paper config: the T5's own tokenizer
    config["model"]["init_args"].update(
        t5=str(t5_folder), num_beams=2, max_new_tokens=6, face_encoder=str(face), hand_encoder=str(hand)
    )
    config["data"]["init_args"].update(
        train=str(shards["train"]), val=str(shards["val"]), test=str(shards["val"]), batch_size=4, num_workers=0
    )
    config["trainer"].update(
        accelerator="cpu",
        devices=1,
        strategy="auto",
        max_steps=2,
        val_check_interval=2,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        enable_progress_bar=False,
        default_root_dir=str(tmp_path / "run"),
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))

    assert main(["fit", "--config", str(path)]) == 0
    checkpoint = next((tmp_path / "run").rglob("step*.ckpt"))
    hypotheses = tmp_path / "hypotheses.jsonl"
    assert (
        main(
            ["test", "--config", str(path), "--ckpt_path", str(checkpoint), "--model.hypotheses_path", str(hypotheses)]
        )
        == 0
    )
    rows = [json.loads(line) for line in hypotheses.read_text().splitlines()]
    assert len(rows) == 3 and all(isinstance(r["hypothesis"], str) for r in rows)

    module = TranslationModule.from_checkpoint(checkpoint)  # the tokenizer travels in the checkpoint
    assert module.t5.config.dropout_rate == 0.3  # configs/translate: SSVP-SLT's dropout over the release's 0.1
    reference = build_tokenizer(str(t5_folder))
    for row in rows:
        ids = module.tokenizer(row["reference"]).input_ids
        assert ids == reference(row["reference"]).input_ids and 2 not in ids  # no <unk>
        assert module.tokenizer.decode(ids, skip_special_tokens=True) == row["reference"]
        hypothesis = module.tokenizer(row["hypothesis"]).input_ids
        assert module.tokenizer.decode(hypothesis, skip_special_tokens=True) == row["hypothesis"]
    batch = {
        "face": torch.randn(1, 5, 384),
        "left": torch.randn(1, 5, 384),
        "right": torch.randn(1, 5, 384),
        "pose": torch.rand(1, 5, 14),
        "attention_mask": torch.ones(1, 5, dtype=torch.long),
    }
    with torch.no_grad():  # the decoder's words are the SentencePiece pieces, read back as text
        pieces = module.t5.generate(
            inputs_embeds=module.embed(batch),
            attention_mask=batch["attention_mask"],
            max_new_tokens=6,
            num_beams=1,
            do_sample=False,
        )
    assert module.generate(batch, num_beams=1) == [module.tokenizer.decode(pieces[0], skip_special_tokens=True).strip()]

    monkeypatch.setattr(signmusketeers.parsing, "FrameParser", FakeParser)
    capsys.readouterr()
    assert main(["translate", "clip.mp4", "--checkpoint", str(checkpoint), "--json"]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["video"] == "clip.mp4" and isinstance(line["text"], str)
