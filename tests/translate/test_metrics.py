import pytest
import sacrebleu

from signmusketeers.translate.metrics import corpus_scores

HYPOTHESES = ["The cat sat on the mat.", "hello there , general Kenobi", "a b c d e", ""]
REFERENCES = ["The cat is sitting on the mat.", "Hello there, General Kenobi!", "a b c d e", "nothing"]


def test_bleu4_equals_sacrebleu_corpus_bleu():
    scores = corpus_scores(HYPOTHESES, REFERENCES)
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES])
    assert scores["bleu4"] == expected.score
    assert scores["chrf"] == sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score
    assert (
        "tok:13a" in scores["signature"] and "smooth:exp" in scores["signature"] and "case:mixed" in scores["signature"]
    )


def test_bleu_orders_and_perfect_score():
    scores = corpus_scores(HYPOTHESES, REFERENCES)
    assert scores["bleu1"] >= scores["bleu2"] >= scores["bleu3"] >= scores["bleu4"] > 0
    assert corpus_scores(["exactly the same words here"], ["exactly the same words here"])["bleu4"] == pytest.approx(
        100.0
    )
    # mixed case: a case change costs
    assert corpus_scores(["The Cat sat here"], ["the cat sat here"])["bleu1"] < 100.0
