"""``signmusketeers score HYPOTHESES.jsonl [--baseline OTHER.jsonl] [--bleurt CHECKPOINT] [--json]``: every metric
with its 95% confidence interval, and the paired test against a baseline
(:func:`signmusketeers.translate.score.score_files`), as a table or one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from signmusketeers.translate.score import DEFAULT_RESAMPLES, SIGNIFICANCE, ScoreReport

NAMES = {
    "bleu1": "BLEU-1",
    "bleu2": "BLEU-2",
    "bleu3": "BLEU-3",
    "bleu4": "BLEU-4",
    "chrf": "chrF",
    "rouge_l": "ROUGE-L",
    "bleurt": "BLEURT",
}
NO_BLEURT = "BLEURT: not computed (give --bleurt CHECKPOINT, a Hugging Face name or local folder)"


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``score``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument(
        "hypotheses",
        metavar="HYPOTHESES.jsonl",
        help='JSON lines {"clip_id", "reference", "hypothesis"} (written by test, predict, demo)',
    )
    parser.add_argument(
        "--baseline",
        metavar="OTHER.jsonl",
        help="another system's hypotheses on the same clips: paired bootstrap test per metric",
    )
    parser.add_argument(
        "--bleurt",
        metavar="CHECKPOINT",
        help="BLEURT checkpoint (Hugging Face name or local folder); BLEURT is skipped without it",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples for the confidence intervals and the paired test "
        f"(default {DEFAULT_RESAMPLES}, sacrebleu's)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return run


def run(args: argparse.Namespace) -> int:
    """Score and print; exit 1 when BLEURT was asked for and could not be computed."""
    from signmusketeers.translate.score import score_files

    report = score_files(args.hypotheses, args.baseline, args.bleurt, args.bootstrap)
    if report.bleurt_error is not None:
        print(f"signmusketeers score: BLEURT not computed: {report.bleurt_error}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print_table(report, None if args.bleurt else NO_BLEURT)
    return 1 if report.bleurt_error is not None else 0


def _cells(key: str, row: dict[str, Any], paired: bool) -> list[str]:
    d = 3 if key == "bleurt" else 2  # BLEURT is on a 0-1 scale
    cells = [NAMES[key], f"{row['score']:.{d}f}", f"{row['mean']:.{d}f}±{row['ci']:.{d}f}"]
    if paired:
        base = row["baseline"]
        cells += [
            f"{base['score']:.{d}f}",
            f"{base['mean']:.{d}f}±{base['ci']:.{d}f}",
            f"{row['score'] - base['score']:+.{d}f}",
            f"{row['p_value']:.4f}",
            "yes" if row["significant"] else "no",
        ]
    return cells


def print_table(report: ScoreReport, note: str | None = None) -> None:
    """The report as a table (rich), then the baseline's test, each metric's signature and ``note``."""
    from rich.console import Console
    from rich.table import Table

    system, baseline = report.system, report.baseline
    title = f"{system.path}: {len(system.clip_ids)} clips, 95% CI by bootstrap ({report.resamples} resamples)"
    table = Table(title=title, title_justify="left")
    columns = ["metric", "score", "95% CI"] + (["baseline", "95% CI", "Δ", "p", "sig."] if baseline else [])
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=True)
    for key, row in report.metrics.items():
        table.add_row(*_cells(key, row, baseline is not None))
    console = Console(width=max(Console().width, 100))  # the table fits, also when piped
    console.print(table)
    if baseline is not None:
        console.print(f"baseline: {baseline.path}; paired bootstrap test (sacrebleu), significant: p < {SIGNIFICANCE}")
    for key, row in report.metrics.items():
        console.print(f"{NAMES[key]}: {row['signature']}", highlight=False, soft_wrap=True)
    if note:
        console.print(note, highlight=False, soft_wrap=True)
