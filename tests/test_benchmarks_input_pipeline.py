"""benchmarks/input_pipeline.py: the resume position at paper scale (default suite), the whole benchmark (slow on
CPU; on a GPU with -m gpu)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import input_pipeline


def test_resume_position_at_ten_million_crops_takes_under_a_second(tmp_path) -> None:
    folder = input_pipeline.synthetic_index(tmp_path / "index")
    seconds, position = input_pipeline.resume_position(folder, 10_000_000 - 1234)
    # 1M faces a pass: ten passes done, then 998,766 into the eleventh (its last chunks)
    assert position.epoch == 10 and position.chunk > 400
    assert seconds < 1.0


@pytest.mark.slow
def test_benchmark_runs_on_cpu() -> None:
    records = input_pipeline.run(batch=2, steps=1, crops=24, resume_views=100_000)
    assert [r["unit"] for r in records] == ["images/s", "images/s", "core-ms", "s"]
    assert all(r["ours"] > 0 and r["floor"] > 0 for r in records)


@pytest.mark.gpu
def test_benchmark_runs_on_cuda() -> None:
    records = input_pipeline.run(
        model="tiny", device="cuda", batch=16, workers=2, steps=3, crops=96, resume_views=1_000_000
    )
    fed = {r["name"]: r for r in records if r["unit"] == "images/s"}
    assert len(fed) == 2 and all(
        r["details"]["CPU cores per device to feed the floor's images/s"] > 0 for r in fed.values()
    )
