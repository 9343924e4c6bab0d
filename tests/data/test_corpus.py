"""The corpus job (``signmusketeers parse``, :func:`~signmusketeers.data.corpus.parse_corpus`): the same inputs give
byte-identical shard folders whatever the number of workers, and one process at a time writes a shard index of a
folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signmusketeers.data.corpus import ParseReport, parse_corpus
from signmusketeers.data.shards import open_dataset
from signmusketeers.errors import InputError
from tests.parsing.test_command import synth_folder

REPO = Path(__file__).resolve().parents[2]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path; ``manifest.json`` without the worker count and the output
    folders it records (the runs compared differ in those)."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            manifest = json.loads(data)
            assert "written_at" not in manifest  # no time of writing: the same inputs, the same bytes
            for option in ("workers", "out", "crops_out"):
                manifest["made_by"]["arguments"].pop(option)
            data = json.dumps(manifest).encode()
        files[str(path.relative_to(folder))] = data
    return files


def test_workers_write_in_input_order_byte_identical(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 5, frames=6)
    synth_folder(tmp_path / "long", 1, frames=40)  # the first clip is the slowest: the others finish before it
    for suffix in (".mp4", ".npz"):
        os.replace(tmp_path / "long" / f"clip000{suffix}", data / f"clip000{suffix}")
    lines = (data / "manifest.jsonl").read_text().splitlines()
    first = json.loads(lines[0]) | {"frames": 40}
    (data / "manifest.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = {}
    for name, workers in (("one", 1), ("two", 2), ("two_again", 2)):
        command = [
            sys.executable,
            "-m",
            "signmusketeers",
            "parse",
            str(data),
            "--out",
            str(tmp_path / name / "clips"),
            "--crops-out",
            str(tmp_path / name / "crops"),
            "--crop-size",
            "32",
            "--crops-per-clip",
            "2",
            "--workers",
            str(workers),
        ]
        assert subprocess.run(command, env=env, capture_output=True, timeout=300).returncode == 0
        runs[name] = {kind: folder_bytes(tmp_path / name / kind) for kind in ("clips", "crops")}
    assert [r["clip_id"] for r in open_dataset(tmp_path / "two" / "clips")] == [f"clip{i:03d}" for i in range(5)]
    for kind in ("clips", "crops"):
        assert any(name.startswith("chunk-") for name in runs["one"][kind])
        assert runs["two"][kind] == runs["two_again"][kind]
        assert runs["two"][kind] == runs["one"][kind]


HOLDER = """
import sys, time
from signmusketeers.data.shards import ShardWriter
writer = ShardWriter(sys.argv[1], "clips", shard_index=0, num_shards=2)
print("holding", flush=True)
time.sleep(120)
"""


def test_a_second_parse_into_the_same_folder_and_shard_index_stops(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 2, frames=4)
    out = tmp_path / "clips"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"

        def parse(index: int) -> subprocess.CompletedProcess:
            command = [
                sys.executable,
                "-m",
                "signmusketeers",
                "parse",
                str(data),
                "--out",
                str(out),
                "--crop-size",
                "32",
                "--shard-index",
                str(index),
                "--num-shards",
                "2",
            ]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

        busy = parse(0)
        assert busy.returncode == 2
        assert busy.stderr.strip().splitlines() == [
            f"signmusketeers parse: {out}: another parse is writing this folder (shard index 0); wait for it or use "
            "another --out"
        ]
        other = parse(1)  # job arrays: another shard index of the same folder still works meanwhile
        assert other.returncode == 0, other.stderr
        assert "waiting for the other --shard-index jobs" in other.stderr
    finally:
        holder.kill()  # a killed writer's lock goes with its process
        holder.wait()
    again = parse(0)
    assert again.returncode == 0, again.stderr
    assert sorted(r["clip_id"] for r in open_dataset(out, "clips")) == ["clip000", "clip001"]


def test_parse_corpus_reports_what_it_did(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 2, frames=4)
    lines: list[str] = []
    report = parse_corpus([data], tmp_path / "clips", crop_size=32, log=lines.append)
    assert isinstance(report, ParseReport) and report.exit_code == 0
    assert (report.parsed, report.frames, report.failed) == (2, 4, [])
    assert report.folders == [(tmp_path / "clips", 2)]
    assert report.lines()[-1].startswith("2 clips parsed, 4 frames in ")
    with pytest.raises(InputError, match="--workers and --stride must be at least 1"):
        parse_corpus([data], tmp_path / "other", workers=0)


def test_a_run_that_fails_midway_leaves_the_folder_free_for_a_rerun_in_the_same_process(tmp_path, monkeypatch) -> None:
    import signmusketeers.data.corpus as corpus

    data, out = synth_folder(tmp_path / "synth", 2, frames=4), tmp_path / "clips"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in a notebook, say

    with monkeypatch.context() as patched:
        patched.setattr(corpus, "run_in_order", interrupted)
        with pytest.raises(KeyboardInterrupt) as failure:  # its traceback keeps the first run's frames alive
            parse_corpus([data], out, crop_size=32)
    report = parse_corpus([data], out, crop_size=32)  # not refused as "another parse is writing this folder"
    assert report.parsed == 2 and failure.value is not None
