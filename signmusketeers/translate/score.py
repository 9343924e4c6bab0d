"""Scoring hypotheses files, :func:`score_files` (``signmusketeers score HYPOTHESES.jsonl [--baseline OTHER.jsonl]
[--bleurt CHECKPOINT] [--json]``).

Scores a hypotheses file (JSON lines ``{"clip_id", "reference", "hypothesis"}``, as ``test``, ``predict`` and the
demo write them) with every metric of :mod:`signmusketeers.translate.metrics`: BLEU-1…4, chrF, ROUGE-L and, given a
checkpoint, BLEURT. Each comes with its signature and a 95% confidence interval by bootstrap resampling of the
sentences (sacrebleu's: 1000 resamples, seed ``SACREBLEU_SEED`` or 12345, so the same files give the same numbers).
With ``--baseline`` the two systems are compared clip by clip with sacrebleu's paired bootstrap test
(:class:`sacrebleu.significance.PairedTest`, ``test_type="bs"``) for every metric, and a difference with
p < 0.05 is reported as significant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sacrebleu.metrics.base import Metric

from signmusketeers.data.tables import TableError, read_rows
from signmusketeers.errors import InputError
from signmusketeers.translate.metrics import Bleurt, BleurtError, RougeL, bleu_metric

SIGNIFICANCE = 0.05  # sacrebleu marks p < 0.05 as significant
DEFAULT_RESAMPLES = 1000  # sacrebleu's default for the paired bootstrap and for confidence intervals


class HypothesesError(InputError):
    """A hypotheses file that cannot be scored; the message is one line: ``path: reason``."""


@dataclass
class Hypotheses:
    """One system's output: clip ids, references and hypotheses, in file order."""

    path: str
    clip_ids: list[str]
    references: list[str]
    hypotheses: list[str]


def read_hypotheses(path: str | os.PathLike) -> Hypotheses:
    """Read a JSON-lines hypotheses file (``test``/``predict``/demo lines, or ``translate --output`` lines of a
    manifest, whose translation is ``text``); raises :class:`HypothesesError` naming the file and line."""
    path = str(path)
    clip_ids, references, hypotheses, seen = [], [], [], {}
    try:
        rows = read_rows(path, jsonl=True)
    except TableError as error:
        raise HypothesesError(str(error)) from None
    for number, row in rows:
        if not isinstance(row, dict):
            raise HypothesesError(f"{path}: line {number}: expected an object with clip_id, reference, hypothesis")
        if "hypothesis" not in row and "text" in row:  # `translate --output` lines: the translation is "text"
            row = {**row, "hypothesis": row["text"]}
        missing = [key for key in ("clip_id", "reference", "hypothesis") if key not in row]
        if missing:
            raise HypothesesError(f"{path}: line {number}: missing {', '.join(missing)}")
        if not isinstance(row["reference"], str) or not isinstance(row["hypothesis"], str):
            raise HypothesesError(f"{path}: line {number}: reference and hypothesis must be strings")
        clip_id = str(row["clip_id"])
        if clip_id in seen:
            raise HypothesesError(f"{path}: line {number}: clip {clip_id!r} already on line {seen[clip_id]}")
        seen[clip_id] = number
        clip_ids.append(clip_id)
        references.append(row["reference"])
        hypotheses.append(row["hypothesis"])
    if not clip_ids:
        raise HypothesesError(f"{path}: no hypotheses in the file")
    return Hypotheses(path, clip_ids, references, hypotheses)


def align(system: Hypotheses, baseline: Hypotheses) -> list[str]:
    """The baseline's hypotheses in the system's clip order; both must hold the same clips and references."""
    position = {clip_id: i for i, clip_id in enumerate(baseline.clip_ids)}
    missing = [c for c in system.clip_ids if c not in position]
    extra = [c for c in baseline.clip_ids if c not in set(system.clip_ids)]
    if missing or extra:
        first = (missing or extra)[0]
        raise HypothesesError(
            f"{baseline.path}: does not hold the same clips as {system.path} ({len(missing)} missing, {len(extra)} "
            f"extra, e.g. {first!r}); a paired test needs both systems on the same clips"
        )
    for clip_id, reference in zip(system.clip_ids, system.references):
        if baseline.references[position[clip_id]] != reference:
            raise HypothesesError(f"{baseline.path}: clip {clip_id!r} has another reference than in {system.path}")
    return [baseline.hypotheses[position[c]] for c in system.clip_ids]


def metrics(bleurt: Bleurt | None = None) -> dict[str, Metric]:
    """The metrics ``score`` reports, by the key used in its JSON output."""
    chosen: dict[str, Metric] = {f"bleu{n}": bleu_metric(n) for n in (1, 2, 3, 4)}
    from sacrebleu.metrics import CHRF

    chosen["chrf"] = CHRF()
    chosen["rouge_l"] = RougeL()
    if bleurt is not None:
        chosen["bleurt"] = bleurt
    return chosen


def score(
    system: Hypotheses,
    baseline: Hypotheses | None = None,
    bleurt: Bleurt | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, dict[str, Any]]:
    """Every metric of ``system`` with its bootstrap mean and 95% half-width; with ``baseline``, the paired test.

    Returns ``{metric: {"score", "mean", "ci", "signature"[, "baseline": {"score", "mean", "ci"}, "p_value",
    "significant"]}}``; ``ci`` is sacrebleu's half-width of the 95% interval around ``mean``.
    """
    from sacrebleu.significance import PairedTest

    if resamples < 2:
        raise ValueError(f"--bootstrap must be at least 2, got {resamples}")
    references = [system.references]
    baseline_hypotheses = align(system, baseline) if baseline is not None else None
    report: dict[str, dict[str, Any]] = {}
    for key, metric in metrics(bleurt).items():
        if baseline_hypotheses is None:
            result = metric.corpus_score(system.hypotheses, references, n_bootstrap=resamples)
            report[key] = {
                "score": result.score,
                "mean": result._mean,
                "ci": result._ci,
                "signature": str(metric.get_signature()),
            }
            continue
        # One metric per test: sacrebleu keys its results by metric name, which BLEU-1..4 share. Every test draws
        # the same resampled indices (same seed, same sizes), so all metrics see the same resamples.
        test = PairedTest(
            [("baseline", baseline_hypotheses), ("system", system.hypotheses)],
            {key: metric},
            references,
            test_type="bs",
            n_samples=resamples,
        )
        signatures, results = test()
        name = next(k for k in results if k != "System")
        base, ours = results[name]
        report[key] = {
            "score": ours.score,
            "mean": ours.mean,
            "ci": ours.ci,
            "signature": str(signatures[name]),
            "baseline": {"score": base.score, "mean": base.mean, "ci": base.ci},
            "p_value": ours.p_value,
            # sacrebleu's p-value for two identical outputs is 1/(resamples + 1) (every resampled
            # difference is 0, none exceeds 0); no difference at all is never called significant.
            "significant": bool(ours.p_value < SIGNIFICANCE and ours.score != base.score),
        }
    return report


@dataclass
class ScoreReport:
    """What ``score`` reports: the system's (and baseline's) file, clip count, resamples and seed, every metric's
    row (:func:`score`), and why BLEURT was not computed (``bleurt_error``: it was asked for and failed)."""

    system: Hypotheses
    baseline: Hypotheses | None
    resamples: int
    seed: str
    metrics: dict[str, dict[str, Any]]
    bleurt_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "hypotheses": self.system.path,
            "baseline": self.baseline.path if self.baseline else None,
            "clips": len(self.system.clip_ids),
            "bootstrap": self.resamples,
            "seed": self.seed,
            "significance_level": SIGNIFICANCE,
            "metrics": self.metrics,
        }


def score_files(
    hypotheses: str | os.PathLike,
    baseline: str | os.PathLike | None = None,
    bleurt: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> ScoreReport:
    """Score a hypotheses file (and compare it with ``baseline``'s, clip by clip); ``bleurt`` names a BLEURT
    checkpoint. Raises :class:`HypothesesError` for a file that cannot be scored; a BLEURT checkpoint that cannot be
    loaded leaves BLEURT out and says why in the report's ``bleurt_error``."""
    if resamples < 2:
        raise HypothesesError(f"--bootstrap must be at least 2, got {resamples}")
    system = read_hypotheses(hypotheses)
    other = read_hypotheses(baseline) if baseline else None
    if other is not None:
        align(system, other)
    metric, error = None, None
    if bleurt:
        try:
            metric = Bleurt(bleurt)
        except BleurtError as failure:  # the other metrics are still reported
            error = str(failure)
    report = score(system, other, metric, resamples)
    return ScoreReport(system, other, resamples, os.environ.get("SACREBLEU_SEED", "12345"), report, error)
