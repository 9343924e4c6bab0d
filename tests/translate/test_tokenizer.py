from signmusketeers.translate.tokenizer import (
    build_tokenizer,
    tokenizer_from_files,
    tokenizer_to_files,
    train_subword_tokenizer,
)

TEXTS = ["My friend makes the red house.", "They have the happy house today.", "I see you!"]


def test_byte_level_tokenizer_is_built_offline_and_round_trips():
    tokenizer = build_tokenizer("byt5")
    ids = tokenizer("Café, naïve — ok.").input_ids
    assert ids[-1] == tokenizer.eos_token_id == 1 and tokenizer.pad_token_id == 0
    assert tokenizer.decode(ids, skip_special_tokens=True) == "Café, naïve — ok."


def test_subword_tokenizer_trains_locally_and_survives_a_checkpoint():
    tokenizer = train_subword_tokenizer(TEXTS, vocab_size=120)
    ids = tokenizer(TEXTS[0]).input_ids
    assert ids[-1] == tokenizer.eos_token_id == 1 and tokenizer.pad_token_id == 0
    assert len(ids) < len(TEXTS[0]) // 2  # words, not bytes
    restored = tokenizer_from_files(tokenizer_to_files(tokenizer))
    for text in TEXTS:
        assert restored.decode(restored(text).input_ids, skip_special_tokens=True) == text


def test_tokenizer_command_trains_on_the_train_split_and_names_a_bad_manifest(tmp_path, capsys):
    import json

    from transformers import AutoTokenizer

    from signmusketeers.cli import main

    rows = [
        {"text": "the cat sat", "split": "train"},
        {"text": "a dog ran", "split": "train"},
        {"text": "unseen words here", "split": "test"},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["tokenizer", str(manifest), "--out", str(tmp_path / "tok"), "--vocab-size", "60"]) == 0
    assert "trained on 2 texts" in capsys.readouterr().out
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert tokenizer.decode(tokenizer("the cat sat").input_ids, skip_special_tokens=True) == "the cat sat"
    (tmp_path / "bad.jsonl").write_text('{"split": "train"}\n')
    assert main(["tokenizer", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "tok2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"signmusketeers tokenizer: {tmp_path / 'bad.jsonl'}: ")
