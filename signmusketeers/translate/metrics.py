"""Translation metrics: corpus BLEU-1…4 and chrF with sacrebleu, the way the paper reports them (§4), ROUGE-L
as other sign-language translation work reports it, and BLEURT from a checkpoint when one is given.

BLEU is sacrebleu's BLEU with 13a tokenisation, exponential smoothing and mixed case (sacrebleu's defaults, made
explicit here); BLEU-n is the same metric with ``max_ngram_order = n``. BLEU-4 is exactly
``sacrebleu.corpus_bleu(hypotheses, [references])``. Every report carries sacrebleu's signature string.

ROUGE-L is the F1 of Google's ``rouge-score`` package (``RougeScorer(["rougeL"])``: its default tokenizer, which
lower-cases and keeps alphanumeric tokens, no stemming, β = 1) computed per sentence and averaged over sentences,
× 100. That is the definition behind the ROUGE-L that SSVP-SLT reports (through Hugging Face ``evaluate``, which
calls ``rouge-score`` with these defaults; ``evaluate`` reports the median of a bootstrap of the mean, we report the
mean itself). signjoey's ROUGE-L is a port of the COCO caption scorer (β = 1.2, whitespace tokens), so its numbers
are not directly comparable.

:class:`RougeL` and :class:`Bleurt` are sacrebleu :class:`~sacrebleu.metrics.base.Metric` subclasses whose
per-sentence statistics are ``(score, 1)``: sacrebleu's own bootstrap (confidence intervals) and paired bootstrap
test (:class:`sacrebleu.significance.PairedTest`) then resample them exactly as they resample BLEU's n-gram counts,
with the same seed and the same resampled sentence indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric, Score, Signature

from signmusketeers.errors import InputError


def bleu_metric(max_ngram_order: int = 4) -> BLEU:
    """sacrebleu BLEU-n: 13a tokenisation, exponential smoothing, case-sensitive."""
    return BLEU(max_ngram_order=max_ngram_order, tokenize="13a", smooth_method="exp", lowercase=False)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """``{"bleu1", "bleu2", "bleu3", "bleu4", "chrf", "rouge_l", "signature"}`` over one reference per
    hypothesis (the signature is BLEU's)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    hypotheses, references = list(hypotheses), [list(references)]
    scores: dict[str, float | str] = {}
    for n in (1, 2, 3, 4):
        metric = bleu_metric(n)
        scores[f"bleu{n}"] = metric.corpus_score(hypotheses, references).score
    scores["chrf"] = CHRF().corpus_score(hypotheses, references).score
    scores["rouge_l"] = RougeL().corpus_score(hypotheses, references).score
    scores["signature"] = str(metric.get_signature())  # BLEU-4's, with the reference count now known
    return scores


class _SentenceMeanSignature(Signature):
    """Signature of a sentence-averaged metric: what scored it and how, in sacrebleu's ``key:value|...`` form."""

    def __init__(self, args: dict) -> None:
        super().__init__(args)
        self._abbr.update({key: key for key in args["signature_items"]})
        self.info.update(args["signature_items"])
        self.info["version"] = args["signature_version"]


class SentenceMeanMetric(Metric):
    """A sacrebleu metric whose corpus score is the mean of per-sentence scores (× ``scale``).

    Each sentence's statistics are ``[score × scale, 1]``; summing them over any resample of the sentences and
    dividing gives that resample's score, which is all sacrebleu's bootstrap and paired test need. With several
    references a sentence takes its best score.
    """

    _SIGNATURE_TYPE = _SentenceMeanSignature
    name = "mean"
    scale = 1.0

    def sentence_scores(self, hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
        """One score per (hypothesis, reference) pair, unscaled."""
        raise NotImplementedError

    def signature_items(self) -> dict[str, Any]:
        return {}

    def signature_version(self) -> str:
        return ""

    def _extract_corpus_statistics(self, hypotheses, references) -> list[list[float]]:
        if not references:
            raise ValueError(f"{self.name}: no references given")
        self.num_refs = len(references)
        best = np.full(len(hypotheses), -np.inf)
        for stream in references:
            pairs = [(h, r) for h, r in zip(hypotheses, stream) if r is not None]
            scores = iter(self.sentence_scores([h for h, _ in pairs], [r for _, r in pairs]))
            for i, reference in enumerate(stream):
                if reference is not None:
                    best[i] = max(best[i], next(scores))
        return [[float(score) * self.scale, 1.0] for score in best]

    def _compute_score_from_stats(self, stats) -> Score:
        total, count = float(stats[0]), float(stats[1])
        return Score(self.name, total / count if count else 0.0)

    def _aggregate_and_compute(self, stats) -> Score:
        return self._compute_score_from_stats(np.asarray(stats, dtype=np.float64).sum(axis=0))

    def get_signature(self) -> Signature:
        return self._SIGNATURE_TYPE(
            {**self.__dict__, "signature_items": self.signature_items(), "signature_version": self.signature_version()}
        )

    # sacrebleu's per-segment hooks (tokenise, cache reference n-grams) are not used: statistics come whole from
    # ``sentence_scores``.
    def _preprocess_segment(self, sent: str) -> str:
        return sent

    def _extract_reference_info(self, refs: Sequence[str]) -> dict[str, Any]:
        return {"refs": list(refs)}

    def _compute_segment_statistics(self, hypothesis: str, ref_kwargs: dict) -> list[float]:
        return [max(self.sentence_scores([hypothesis] * len(ref_kwargs["refs"]), ref_kwargs["refs"])) * self.scale, 1.0]


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


class RougeL(SentenceMeanMetric):
    """ROUGE-L F1 (``rouge-score``, default tokenizer, no stemming) per sentence, averaged, × 100."""

    name = "ROUGE-L"
    scale = 100.0

    def __init__(self) -> None:
        super().__init__()
        from rouge_score.rouge_scorer import RougeScorer

        self._scorer = RougeScorer(["rougeL"], use_stemmer=False)

    def sentence_scores(self, hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
        return [self._scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hypotheses, references)]

    def signature_items(self) -> dict[str, Any]:
        return {"f": "1", "tok": "rouge-score", "case": "lc", "stem": "no", "avg": "sentence"}

    def signature_version(self) -> str:
        return f"rouge-score-{_package_version('rouge-score')}"

    def __getstate__(self) -> dict:  # sacrebleu may send metrics to worker processes; rebuild the scorer there
        return {**self.__dict__, "_scorer": None}

    def __setstate__(self, state: dict) -> None:
        from rouge_score.rouge_scorer import RougeScorer

        self.__dict__.update(state, _scorer=RougeScorer(["rougeL"], use_stemmer=False))


class BleurtError(InputError):
    """A BLEURT checkpoint that cannot be used; the message is one line."""


class Bleurt(SentenceMeanMetric):
    """BLEURT: a learnt metric, the regression output of a fine-tuned text-pair encoder, per sentence, averaged.

    ``checkpoint`` is a Hugging Face model name or local folder of a sequence-classification model with one output
    and its tokenizer: BERT-format conversions of Google's BLEURT checkpoints (e.g. BLEURT-base-128) load with
    ``transformers`` alone; checkpoints of the ``bleurt-pytorch`` format (``model_type: bleurt``, e.g. BLEURT-20)
    need that package importable. Pairs are scored as (reference, candidate), BLEURT's order. Scores are BLEURT's
    own scale (about 0 to 1 for BLEURT-20), not × 100.
    """

    name = "BLEURT"

    def __init__(self, checkpoint: str, batch_size: int = 32, device: str | None = None) -> None:
        super().__init__()
        import torch

        self.checkpoint = str(checkpoint)
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer, self._model = self._load()

    def _load(self):
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        local = Path(self.checkpoint).expanduser()
        if not local.exists() and (local.is_absolute() or self.checkpoint.startswith((".", "~"))):
            raise BleurtError(f"{self.checkpoint}: no such BLEURT checkpoint folder")
        try:
            config = AutoConfig.from_pretrained(self.checkpoint)
        except Exception as error:  # noqa: BLE001 - missing folder, no network, not a model: one line for people
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BleurtError(f"{self.checkpoint}: cannot load a BLEURT checkpoint ({reason})") from None
        try:
            if getattr(config, "model_type", "") == "bleurt":
                try:
                    from bleurt_pytorch import BleurtForSequenceClassification, BleurtTokenizer
                except ImportError as error:
                    raise BleurtError(
                        f"{self.checkpoint}: a bleurt-pytorch checkpoint, which needs the bleurt-pytorch package "
                        f"importable ({error}); or give a BERT-format BLEURT checkpoint"
                    ) from None
                tokenizer = BleurtTokenizer.from_pretrained(self.checkpoint)
                model = BleurtForSequenceClassification.from_pretrained(self.checkpoint)
            else:
                tokenizer = AutoTokenizer.from_pretrained(self.checkpoint)
                model = AutoModelForSequenceClassification.from_pretrained(self.checkpoint)
        except BleurtError:
            raise
        except Exception as error:  # noqa: BLE001
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BleurtError(f"{self.checkpoint}: cannot load a BLEURT checkpoint ({reason})") from None
        if getattr(model.config, "num_labels", None) != 1:
            raise BleurtError(
                f"{self.checkpoint}: not a BLEURT checkpoint (a classifier with "
                f"{model.config.num_labels} outputs; BLEURT regresses one score)"
            )
        return tokenizer, model.to(self.device).eval()

    def sentence_scores(self, hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
        import torch

        limit = min(
            int(getattr(self._tokenizer, "model_max_length", 512) or 512),
            int(getattr(self._model.config, "max_position_embeddings", 512) or 512),
        )
        scores: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(hypotheses), self.batch_size):
                batch = self._tokenizer(
                    list(references[start : start + self.batch_size]),
                    list(hypotheses[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=limit,
                    return_tensors="pt",
                )
                logits = self._model(**batch.to(self.device)).logits
                scores.extend(logits[:, 0].float().cpu().tolist())
        return scores

    def signature_items(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint}

    def signature_version(self) -> str:
        return f"transformers-{_package_version('transformers')}"
