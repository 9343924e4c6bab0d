"""``signmusketeers score HYPOTHESES.jsonl [--baseline OTHER.jsonl] [--bleurt CHECKPOINT] [--json]``.

Scores a hypotheses file (JSON lines ``{"clip_id", "reference", "hypothesis"}``, as ``test``, ``predict`` and the
demo write them) with every metric of :mod:`signmusketeers.translate.metrics`: BLEU-1…4, chrF, ROUGE-L and, given a
checkpoint, BLEURT. Each comes with its signature and a 95% confidence interval by bootstrap resampling of the
sentences (sacrebleu's: 1000 resamples, seed ``SACREBLEU_SEED`` or 12345, so the same files give the same numbers).
With ``--baseline`` the two systems are compared clip by clip with sacrebleu's paired bootstrap test
(:class:`sacrebleu.significance.PairedTest`, ``test_type="bs"``) for every metric, and a difference with
p < 0.05 is reported as significant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sacrebleu.metrics.base import Metric

from .metrics import Bleurt, BleurtError, RougeL, bleu_metric
from signmusketeers.errors import InputError

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
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HypothesesError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HypothesesError(f"{path}: cannot read ({error})") from None
    clip_ids, references, hypotheses, seen = [], [], [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise HypothesesError(f"{path}: line {number}: not valid JSON ({error.msg})") from None
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
    system: Hypotheses, baseline: Hypotheses | None = None, bleurt: Bleurt | None = None,
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
            report[key] = {"score": result.score, "mean": result._mean, "ci": result._ci,
                           "signature": str(metric.get_signature())}
            continue
        # One metric per test: sacrebleu keys its results by metric name, which BLEU-1..4 share. Every test draws
        # the same resampled indices (same seed, same sizes), so all metrics see the same resamples.
        test = PairedTest([("baseline", baseline_hypotheses), ("system", system.hypotheses)], {key: metric},
                          references, test_type="bs", n_samples=resamples)
        signatures, results = test()
        name = next(k for k in results if k != "System")
        base, ours = results[name]
        report[key] = {"score": ours.score, "mean": ours.mean, "ci": ours.ci, "signature": str(signatures[name]),
                       "baseline": {"score": base.score, "mean": base.mean, "ci": base.ci},
                       "p_value": ours.p_value,
                       # sacrebleu's p-value for two identical outputs is 1/(resamples + 1) (every resampled
                       # difference is 0, none exceeds 0); no difference at all is never called significant.
                       "significant": bool(ours.p_value < SIGNIFICANCE and ours.score != base.score)}
    return report


NAMES = {"bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4", "chrf": "chrF",
         "rouge_l": "ROUGE-L", "bleurt": "BLEURT"}


def _print_table(report: dict[str, dict[str, Any]], system: Hypotheses, baseline: Hypotheses | None,
                 resamples: int, bleurt_note: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    digits = lambda key: 3 if key == "bleurt" else 2  # noqa: E731 - BLEURT is on a 0-1 scale
    title = f"{system.path}: {len(system.clip_ids)} clips, 95% CI by bootstrap ({resamples} resamples)"
    table = Table(title=title, title_justify="left")
    columns = ["metric", "score", "95% CI"] + (["baseline", "95% CI", "Δ", "p", "sig."] if baseline else [])
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=True)
    for key, row in report.items():
        d = digits(key)
        cells = [NAMES[key], f"{row['score']:.{d}f}", f"{row['mean']:.{d}f}±{row['ci']:.{d}f}"]
        if baseline is not None:
            base = row["baseline"]
            cells += [f"{base['score']:.{d}f}", f"{base['mean']:.{d}f}±{base['ci']:.{d}f}",
                      f"{row['score'] - base['score']:+.{d}f}", f"{row['p_value']:.4f}",
                      "yes" if row["significant"] else "no"]
        table.add_row(*cells)
    console = Console(width=max(Console().width, 100))  # the table fits, also when piped
    console.print(table)
    if baseline is not None:
        console.print(f"baseline: {baseline.path}; paired bootstrap test (sacrebleu), significant: p < {SIGNIFICANCE}")
    for key, row in report.items():
        console.print(f"{NAMES[key]}: {row['signature']}", highlight=False, soft_wrap=True)
    if bleurt_note:
        console.print(bleurt_note, highlight=False, soft_wrap=True)


def register(parser: argparse.ArgumentParser):
    parser.add_argument("hypotheses", metavar="HYPOTHESES.jsonl",
                        help='JSON lines {"clip_id", "reference", "hypothesis"} (written by test, predict, demo)')
    parser.add_argument("--baseline", metavar="OTHER.jsonl",
                        help="another system's hypotheses on the same clips: paired bootstrap test per metric")
    parser.add_argument("--bleurt", metavar="CHECKPOINT",
                        help="BLEURT checkpoint (Hugging Face name or local folder); BLEURT is skipped without it")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES, metavar="N",
                        help=f"bootstrap resamples for the confidence intervals and the paired test "
                             f"(default {DEFAULT_RESAMPLES}, sacrebleu's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return run


def run(args: argparse.Namespace) -> int:
    def fail_line(text: str) -> None:
        print(f"signmusketeers score: {text}", file=sys.stderr)

    if args.bootstrap < 2:
        fail_line(f"--bootstrap must be at least 2, got {args.bootstrap}")
        return 2
    try:
        system = read_hypotheses(args.hypotheses)
        baseline = read_hypotheses(args.baseline) if args.baseline else None
        if baseline is not None:
            align(system, baseline)
    except HypothesesError as error:
        fail_line(str(error))
        return 2
    bleurt, bleurt_note, failed = None, None, False
    if args.bleurt:
        try:
            bleurt = Bleurt(args.bleurt)
        except BleurtError as error:  # the other metrics are still reported; the exit code says one failed
            fail_line(f"BLEURT not computed: {error}")
            failed = True
    else:
        bleurt_note = "BLEURT: not computed (give --bleurt CHECKPOINT, a Hugging Face name or local folder)"
    report = score(system, baseline, bleurt, args.bootstrap)
    if args.json:
        seed = os.environ.get("SACREBLEU_SEED", "12345")
        print(json.dumps({"hypotheses": system.path, "baseline": baseline.path if baseline else None,
                          "clips": len(system.clip_ids), "bootstrap": args.bootstrap, "seed": seed,
                          "significance_level": SIGNIFICANCE, "metrics": report}))
    else:
        _print_table(report, system, baseline, args.bootstrap, bleurt_note)
    return 1 if failed else 0

