"""BENCHMARKS.md is written from result records only (benchmarks/run_all.py, benchmarks/common.py)."""

import datetime

import pytest

from benchmarks import run_all
from benchmarks.common import goal, result
from benchmarks.projection import project_gpu_hours

MACHINE = {
    "cpu": "Test CPU",
    "arch": "x86_64",
    "logical_cores": 2,
    "ram_gib": 8.0,
    "gpus": [],
    "os": "Linux",
    "python": "3.11.7",
    "versions": {"torch": "2.14.1", "mediapipe": "0.10.21"},
    "load_average": (1.0, 1.0, 1.0),
}


def test_result_ratio_and_goal():
    slower = result("step", ours=1234.5, floor=1000.0, unit="ms/step", target=goal("<=", 1.10), settings={"b": 2})
    assert slower["ratio"] == pytest.approx(1.2345) and not slower["met"]
    faster = result("rate", ours=19.0, floor=20.0, unit="frames/s", target=goal(">=", 0.90), settings={})
    assert faster["ratio"] == pytest.approx(0.95) and faster["met"]
    with pytest.raises(ValueError):
        goal(">", 1.0)


def render(sections, gpu=None):
    return run_all.render(
        MACHINE,
        sections,
        run_all.gpu_section(gpu, None, MACHINE),
        datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
        61.0,
        (2.0, 2.0, 2.0),
        run_all.COMMAND,
    )


def test_report_shows_every_figure_goal_and_verdict():
    parse, pretrain = run_all.SUITE[0], run_all.SUITE[1]
    records = [
        result(
            "parse_video",
            18.25,
            20.0,
            "frames/s",
            goal(">=", 0.9),
            {"clip": "a.mp4"},
            peak_mib={"ours": 1500.0, "floor": 1200.0},
            memory_note="peak RSS",
        )
    ]
    text = render([(parse, records, 12.0, None), (pretrain, None, 3.0, "RuntimeError: boom")])
    for needle in (
        "Test CPU",
        "2026-01-02 03:04 UTC",
        "1.0 min",
        run_all.COMMAND,
        "18.2 frames/s",
        "20.0 frames/s",
        "**0.912**",
        "≥ 0.90: met",
        "1,500 / 1,200 MiB",
        "clip: a.mp4",
        "## Parsing",
        "failed: RuntimeError: boom",
        "No GPU was available",
        "10,000,000 images",
    ):
        assert needle in text, needle
    missed = [result("step", 1200.0, 1000.0, "ms/step", goal("<=", 1.1), {})]
    assert "≤ 1.10: **missed**" in render([(pretrain, missed, 1.0, None)])


def test_report_with_gpu_figures_shows_the_projection():
    gpu_records = [
        result(
            "pre-training step (GPU, bf16)",
            200.0,
            190.0,
            "ms/step",
            goal("<=", 1.1),
            {},
            details={"images/s (ours)": 640.0},
        )
    ]
    gpu = {"device": "Some GPU", "results": gpu_records, "projection": project_gpu_hours(640.0, 3000.0, 0.25)}
    text = render([], gpu)
    hours = gpu["projection"]
    assert "Some GPU" in text and "No GPU was available" not in text
    assert f"**{run_all.number(hours['total'])}** (paper: 880" in text
    assert "80,000 GPU-steps" in text
