"""The demo's summary: test scores, k-NN probe before/after pre-training and stage times (``OUT/summary.json``),
its pictures (``OUT/pictures/``) and its table on the console."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signmusketeers.data.tables import read_rows

if TYPE_CHECKING:
    from signmusketeers.demo.steps import Demo


def write_summary(demo: Demo, checkpoint: Path, translations: list[dict]) -> dict[str, Any]:
    """Score the test hypotheses, read the probes, draw the pictures; write and return the summary."""
    from signmusketeers.translate.metrics import corpus_scores

    hypotheses_path = demo.out / "translate" / "hypotheses-test.jsonl"
    rows = [row for _, row in read_rows(hypotheses_path)]
    scores = corpus_scores([r["hypothesis"] for r in rows], [r["reference"] for r in rows])
    probe = {}
    for part in ("face", "hand"):
        measured = json.loads((demo.out / "pretrain" / part / "probe.json").read_text())
        probe[part] = {"before": measured["before"], "after": measured["after"]}
    pictures = draw_pictures(demo)
    summary = {
        "bleu": {key: scores[key] for key in ("bleu1", "bleu2", "bleu3", "bleu4", "chrf", "signature")},
        "probe": probe,
        "seconds": {stage: round(s, 1) for stage, s in demo.seconds.items()},
        "checkpoint": str(checkpoint),
        "hypotheses": str(hypotheses_path),
        "test_clips": len(rows),
        "translations": translations,
        "pictures": [str(p) for p in pictures],
    }
    (demo.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def draw_pictures(demo: Demo) -> list[Path]:
    """The parse preview of one clip, pre-training loss and probe curves, translation loss and BLEU curves."""
    import shutil

    from signmusketeers.plots import plot_curves, read_scalars

    folder = demo.out / "pictures"
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    previews = sorted((demo.out / "preview_parse").rglob("*.png"))
    if previews:
        pictures.append(Path(shutil.copy(previews[0], folder / "parse.png")))
    pretrain = {part: read_scalars(demo.out / "pretrain" / part) for part in ("face", "hand")}
    pictures.append(
        plot_curves(
            [
                ("pre-training loss", {part: s.get("train/loss", []) for part, s in pretrain.items()}),
                ("k-NN probe top-1 (teacher CLS)", {part: s.get("probe/top1", []) for part, s in pretrain.items()}),
            ],
            folder / "pretrain.png",
            "DINOv2 continued pre-training (tiny ViTs, SynthSign crops)",
        )
    )
    translate = read_scalars(demo.out / "translate")
    pictures.append(
        plot_curves(
            [
                ("loss", {"train": translate.get("train/loss", []), "val": translate.get("val/loss", [])}),
                (
                    "validation BLEU / chrF",
                    {"BLEU-4": translate.get("val/bleu4", []), "chrF": translate.get("val/chrf", [])},
                ),
            ],
            folder / "translate.png",
            "Translation (tiny T5 from scratch, SynthSign features)",
        )
    )
    return pictures


def print_summary(console: Any, summary: dict[str, Any], out: Path) -> None:
    """The summary as a table on ``console``."""
    from rich.table import Table

    table = Table(title="signmusketeers demo", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for stage, seconds in summary["seconds"].items():
        table.add_row(f"time: {stage}", f"{seconds:.1f} s")
    table.add_row("time: total", f"{sum(summary['seconds'].values()):.1f} s")
    for part, probe in summary["probe"].items():
        table.add_row(f"k-NN probe, {part}", f"{probe['before']:.3f} → {probe['after']:.3f} top-1")
    bleu = summary["bleu"]
    table.add_row(
        f"test BLEU-1/2/3/4 ({summary['test_clips']} clips)",
        " / ".join(f"{bleu[f'bleu{n}']:.1f}" for n in (1, 2, 3, 4)),
    )
    table.add_row("test chrF", f"{bleu['chrf']:.1f}")
    table.add_row("sacrebleu", bleu["signature"])
    for row in summary["translations"]:
        table.add_row(f"translate {row['clip_id']}", f"{row['text']}\n[dim]reference: {row.get('reference', '')}[/]")
    table.add_row("summary", str(out / "summary.json"))
    table.add_row("pictures", "\n".join(summary["pictures"]))
    console.print(table)
