"""Corpus BLEU-1…4 and chrF with sacrebleu, the way the paper reports them (§4).

BLEU is sacrebleu's BLEU with 13a tokenisation, exponential smoothing and mixed case (sacrebleu's defaults, made
explicit here); BLEU-n is the same metric with ``max_ngram_order = n``. BLEU-4 is exactly
``sacrebleu.corpus_bleu(hypotheses, [references])``. Every report carries sacrebleu's signature string.
"""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF


def bleu_metric(max_ngram_order: int = 4) -> BLEU:
    """sacrebleu BLEU-n: 13a tokenisation, exponential smoothing, case-sensitive."""
    return BLEU(max_ngram_order=max_ngram_order, tokenize="13a", smooth_method="exp", lowercase=False)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """``{"bleu1", "bleu2", "bleu3", "bleu4", "chrf", "signature"}`` over one reference per hypothesis."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    hypotheses, references = list(hypotheses), [list(references)]
    scores: dict[str, float | str] = {}
    for n in (1, 2, 3, 4):
        metric = bleu_metric(n)
        scores[f"bleu{n}"] = metric.corpus_score(hypotheses, references).score
    scores["chrf"] = CHRF().corpus_score(hypotheses, references).score
    scores["signature"] = str(metric.get_signature())  # BLEU-4's, with the reference count now known
    return scores
