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
