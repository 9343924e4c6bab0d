"""`signmusketeers demo`: the whole pipeline on SynthSign through the public commands, with a checkable summary."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import sacrebleu

from signmusketeers.cli import main

SUMMARY_KEYS = {"bleu", "probe", "seconds", "checkpoint", "hypotheses"}
STAGES = {
    "synth",
    "parse",
    "pretrain face",
    "pretrain hand",
    "export face",
    "export hand",
    "extract",
    "tokenizer",
    "translate fit",
    "translate test",
    "translate videos",
}


def check_summary(out: Path) -> dict:
    """What every demo run must leave behind, whatever its size."""
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert STAGES <= set(summary["seconds"]) and all(s >= 0 for s in summary["seconds"].values())
    # The probe after pre-training is the teacher's: the exported encoder (the teacher's backbone), probed again by
    # `signmusketeers probe`'s library function on the same crops and labels, scores the same.
    from signmusketeers.pretrain.probe import probe_encoders

    for part in ("face", "hand"):
        again = probe_encoders([out / "encoders" / f"{part}.safetensors"], out / "crops", out / "synthsign", part=part)
        assert summary["probe"][part]["after"] == pytest.approx(again.rows[0]["top1"], abs=1e-9), part
        history = json.loads((out / "pretrain" / part / "probe.json").read_text())["history"]
        assert summary["probe"][part]["before"] == history[0]["top1"] and history[0]["step"] == 0
    assert Path(summary["checkpoint"]).is_file()

    # The BLEU in the summary is sacrebleu's corpus BLEU over the hypotheses file alone.
    rows = [json.loads(line) for line in Path(summary["hypotheses"]).read_text().splitlines()]
    assert rows and all(set(row) == {"clip_id", "reference", "hypothesis"} for row in rows)
    synthsign = [json.loads(line) for line in (out / "synthsign" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(row["clip_id"] for row in rows) == sorted(r["clip_id"] for r in synthsign if r["split"] == "test")
    bleu = sacrebleu.corpus_bleu([r["hypothesis"] for r in rows], [[r["reference"] for r in rows]])
    assert summary["bleu"]["bleu4"] == pytest.approx(bleu.score)
    assert summary["bleu"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")

    # Two held-out clips went through `translate` from their video files, printed beside their references.
    translations = [json.loads(line) for line in (out / "heldout_translations.jsonl").read_text().splitlines()]
    assert len(translations) == 2 and all(t["reference"] and isinstance(t["text"], str) for t in translations)
    for picture in ("parse.png", "pretrain.png", "translate.png"):
        assert (out / "pictures" / picture).stat().st_size > 10_000
    assert list((out / "translate").rglob("events.out.tfevents.*")), "TensorBoard logs"
    return summary


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory) -> tuple[Path, str]:
    """One ``demo --quick`` run for the tests of this module: its folder and what it printed."""
    out = tmp_path_factory.mktemp("quick") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the demo's console falls back to sys.stdout without a file number
        code = main(["demo", "--quick", "--out", str(out)])
    assert code == 0, printed.getvalue()
    return out, printed.getvalue()


def test_quick_demo_runs_every_stage_and_writes_a_checkable_summary(quick_demo):
    out, printed = quick_demo
    # Every step is printed as the command a user would type, so it can be repeated by hand.
    for command in (
        "signmusketeers synth",
        "signmusketeers parse",
        "signmusketeers fit --config",
        "signmusketeers export",
        "signmusketeers extract",
        "signmusketeers test --config",
        "signmusketeers translate",
        "signmusketeers tokenizer",
    ):
        assert f"$ {command}" in printed, command
    assert "python -m" not in printed
    assert "test BLEU-1/2/3/4" in printed and "k-NN probe, hand" in printed
    check_summary(out)
    assert (out / "configs" / "translate.yaml").exists() and (out / "logs" / "translate_fit.log").exists()


# What a run writes that must not change from run to run: the data, the shards and the trained encoders.
SAME_BYTES = ("synthsign", "clips", "crops", "features", "encoders")


def _comparable(path: Path, out: Path) -> bytes | object:
    """A file's bytes, with JSON text made independent of the run's folder; wall-clock seconds left out."""
    if path.suffix not in (".json", ".jsonl") or path.parent.name == ".ledger":
        return path.read_bytes()

    def scrub(value):
        if isinstance(value, dict):
            # seconds: wall clock. checkpoint_sha256: the checkpoint holds its own folder's path (its bytes differ
            # between two output folders; the encoder weights beside it are compared byte for byte).
            return {k: scrub(v) for k, v in value.items() if k not in ("seconds", "checkpoint_sha256")}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value.replace(str(out), "OUT") if isinstance(value, str) else value

    text = path.read_text()
    if path.suffix == ".jsonl":
        return [scrub(json.loads(line)) for line in text.splitlines()]
    return scrub(json.loads(text))


def test_quick_demo_twice_gives_the_same_files(quick_demo, tmp_path):
    """Same command, same bytes: a second run writes the same SynthSign set, clip, crop and feature shards and
    encoders, and the same summary (but for its stage times), hypotheses and held-out translations."""
    first, _ = quick_demo
    second = tmp_path / "demo"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--quick", "--out", str(second)]) == 0
    names = ["summary.json", "heldout_translations.jsonl", "translate/hypotheses-test.jsonl"]
    for folder in SAME_BYTES:
        names += sorted(str(p.relative_to(first)) for p in (first / folder).rglob("*") if p.is_file())
    assert len(names) > 100
    differ = [name for name in names if _comparable(first / name, first) != _comparable(second / name, second)]
    assert not differ, f"files that differ between two runs of the same demo: {differ}"


def test_a_demo_starts_from_an_empty_folder_but_keeps_other_files(tmp_path):
    """``parse`` and ``extract`` resume, so a demo given an earlier run's folders would reuse that run's clips
    (a ``--quick`` run's in ``demo_out``, say): every demo starts by removing its own outputs, and only those."""
    from signmusketeers.demo import DEMO_FILES, DEMO_FOLDERS, QUICK, Demo

    for name in DEMO_FOLDERS:
        (tmp_path / name / "lightning_logs").mkdir(parents=True)
        (tmp_path / name / "lightning_logs" / "stale").write_text("an earlier run")
    for name in DEMO_FILES:
        (tmp_path / name).write_text("an earlier run")
    (tmp_path / "notes.txt").write_text("the user's")
    Demo(tmp_path, QUICK, console=None).remove_earlier_run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_demo_refuses_a_failing_step_with_one_line(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "synthsign").write_text("a file where the demo needs a folder")
    assert main(["demo", "--quick", "--out", str(out)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if "signmusketeers demo:" in line]
    assert lines and "synth" in lines[0]


@pytest.mark.slow
def test_default_demo_reaches_bleu4_50(tmp_path):
    """The README's first command at its default size (≤ 15 minutes on 2 CPU cores)."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    summary = check_summary(out)
    assert summary["bleu"]["bleu4"] >= 50
    assert sum(summary["seconds"].values()) <= 15 * 60
