"""Pictures of training runs: scalar curves read back from TensorBoard event files, drawn with matplotlib."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def read_scalars(log_dir: str | os.PathLike, tags: Sequence[str] | None = None) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from every TensorBoard event file under ``log_dir`` (sorted by step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series: dict[str, dict[int, float]] = {}
    for events in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            if tags is None or tag in tags:
                for event in accumulator.Scalars(tag):
                    series.setdefault(tag, {})[event.step] = event.value
    return {tag: sorted(points.items()) for tag, points in series.items()}


def plot_curves(
    panels: Sequence[tuple[str, dict[str, list[tuple[int, float]]]]], out: str | os.PathLike, title: str = ""
) -> Path:
    """One subplot per ``(panel title, {label: [(step, value)]})``; saves a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for axis, (panel_title, curves) in zip(axes[0], panels):
        for label, points in curves.items():
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, marker="o" if len(points) < 12 else None, markersize=3, label=label)
        axis.set_title(panel_title, fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if len(curves) > 1:
            axis.legend(fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
