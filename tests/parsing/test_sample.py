"""The pre-training crop sample: seeded, corpus-wide, separate face and hand budgets; the same crops from one run,
a killed and resumed run and a 3-job split."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from signmusketeers.cli import main
from signmusketeers.data.crop_sample import make_plan, pick_crops
from signmusketeers.data.manifests import InputClip
from signmusketeers.data.shard_manifest import INDEX
from signmusketeers.data.shards import open_dataset
from signmusketeers.parsing.boxes import LANDMARKS, POSE_FALLBACK
from tests.parsing.test_command import REPO, synth_folder

CLIPS, FRAMES = 12, 9  # stride 2: 5 kept frames per clip, 60 face and 120 hand candidates in the corpus
FACES, HANDS = 14, 20


def two_handed(folder: Path, handless: str = "clip011") -> Path:
    """Both hands in every frame of every clip (the synthetic landmarks have only the left from frame 2), except
    ``handless``, which shows none: its hand quota cannot be met."""
    for path in sorted(folder.glob("clip*.npz")):
        data = dict(np.load(path))
        frames = len(data["pose"])
        data["left_hand"] = np.repeat(data["left_hand"][-1:], frames, axis=0)
        data["right_hand"] = data["left_hand"] - np.array([60.0, 0.0], np.float32)
        present = path.stem != handless
        data["present_left_hand"] = data["present_right_hand"] = np.full(frames, present)
        if not present:
            data["left_hand"][:] = data["right_hand"][:] = np.nan
        np.savez(path, **data)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return two_handed(synth_folder(tmp_path_factory.mktemp("sample") / "synth", CLIPS, frames=FRAMES))


def sample_argv(data: Path, out: Path, crops: Path, *extra: str) -> list[str]:
    return [
        "parse",
        str(data),
        "--out",
        str(out),
        "--crops-out",
        str(crops),
        "--crop-size",
        "32",
        "--face-crops",
        str(FACES),
        "--hand-crops",
        str(HANDS),
        "--crop-seed",
        "7",
        *extra,
    ]


def crop_keys(folder: Path) -> list[tuple[str, int, str]]:
    return sorted((r["clip_id"], int(r["frame"][0]), r["side"]) for r in open_dataset(folder, "crops"))


def test_plan_meets_both_budgets_spans_the_corpus_and_depends_on_the_seed_only() -> None:
    clips = [InputClip(f"c{i:04d}", f"v{i}.mp4") for i in range(2000)]
    counts = {c.clip_id: 50 + i % 100 for i, c in enumerate(clips)}
    plan = make_plan(clips, 3000, 5000, seed=1, stride=2, candidates=counts)
    quotas = np.array([plan.quota(c.clip_id) for c in clips])
    assert quotas.sum(axis=0).tolist() == [3000, 5000]  # two separate budgets, met exactly
    assert (quotas[:, 0] <= [counts[c.clip_id] for c in clips]).all()
    assert (quotas[:, 1] <= [2 * counts[c.clip_id] for c in clips]).all()
    assert (quotas.sum(axis=1) > 0).mean() > 0.9  # spread over the corpus, not the first clips by id
    # proportional to the candidates: the longer half of the clips gets more of the sample
    long = np.array([counts[c.clip_id] >= 100 for c in clips])
    assert quotas[long, 0].sum() > quotas[~long, 0].sum()
    shuffled = list(reversed(clips))  # the order the inputs come in does not matter
    assert make_plan(shuffled, 3000, 5000, seed=1, stride=2, candidates=counts).quotas == plan.quotas
    assert make_plan(clips, 3000, 5000, seed=2, stride=2, candidates=counts).quotas != plan.quotas


def test_crops_are_drawn_from_frames_with_the_part_detected() -> None:
    found = np.ones((6, 3), bool)
    found[:, 2] = False  # no right hand at all
    found[0, 0] = found[1, 0] = False  # no face landmarks in the first two frames
    provenance = np.full((6, 3), LANDMARKS, np.uint8)
    provenance[5, 0] = POSE_FALLBACK
    picks = pick_crops("clip", found, provenance, face_quota=3, hand_quota=10, seed=0)
    faces = [p for p, part in picks if part == 0]
    hands = [(p, part) for p, part in picks if part > 0]
    assert len(faces) == 3 and set(faces) == {2, 3, 4}  # frames with the face's own landmarks only
    assert hands == [(p, 1) for p in range(6)]  # all 6 left hands: the quota of 10 is short by 4
    assert pick_crops("clip", found, provenance, 2, 3, seed=0) == pick_crops("clip", found, provenance, 2, 3, seed=0)
    other = {
        tuple(pick_crops("clip", np.ones((50, 3), bool), np.zeros((50, 3), np.uint8), 5, 0, seed=s)) for s in range(4)
    }
    assert len(other) == 4  # the seed decides which frames


def test_same_sample_from_one_run_a_killed_and_resumed_run_and_a_3_job_split(
    corpus: Path, tmp_path: Path, capsys
) -> None:
    one = tmp_path / "one"
    assert main(sample_argv(corpus, one / "clips", one / "crops")) == 0
    reference = crop_keys(one / "crops")
    err = capsys.readouterr().err
    faces = sum(side == "face" for _, _, side in reference)
    hands = len(reference) - faces
    plan = json.loads((one / "crops" / "crop_plan.json").read_text())
    short_hands = plan["quotas"].get("clip011", [0, 0])[1]  # the clip without hands cannot give its hand quota
    assert faces == FACES and hands == HANDS - short_hands
    face_clips = len({c for c, _, s in reference if s == "face"})
    hand_clips = len({c for c, _, s in reference if s != "face"})
    assert (
        f"crop sample: {faces} face crops from {face_clips} clips, {hands} hand crops from {hand_clips} clips "
        f"(budgets {FACES}/{HANDS}; short by 0 face and {short_hands} hand crops"
    ) in err
    sample = json.loads((one / "crops" / "manifest.json").read_text())["made_by"]["sample"]
    assert sample["face_crops"] == faces and sample["hand_crops"] == hands
    assert len({c for c, _, _ in reference}) >= CLIPS // 2  # spans the corpus

    split = tmp_path / "split"
    for index in (2, 0, 1):
        assert (
            main(
                sample_argv(corpus, split / "clips", split / "crops", "--shard-index", str(index), "--num-shards", "3")
            )
            == 0
        )
    assert crop_keys(split / "crops") == reference

    resumed = tmp_path / "resumed"
    command = [
        sys.executable,
        "-m",
        "signmusketeers",
        *sample_argv(corpus, resumed / "clips", resumed / "crops", "--checkpoint-every", "0"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    ledgers = resumed / "crops" / ".ledger"
    while len(list(ledgers.glob("[0-9]*-[0-9]*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the whole process group, mid-way
    process.wait()
    assert not (resumed / "crops" / INDEX).exists(), "the run finished before it could be interrupted"
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    assert crop_keys(resumed / "crops") == reference


def test_a_plan_is_kept_to(corpus: Path, tmp_path: Path, capsys) -> None:
    assert main(sample_argv(corpus, tmp_path / "clips", tmp_path / "crops")) == 0
    capsys.readouterr()
    argv = sample_argv(corpus, tmp_path / "clips2", tmp_path / "crops")
    argv[argv.index("--crop-seed") + 1] = "8"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "planned with --face-crops 14 --hand-crops 20 --crop-seed 7" in err[0]
    assert main([*sample_argv(corpus, tmp_path / "c3", tmp_path / "k3"), "--crops-per-clip", "2"]) == 2
    assert "give one" in capsys.readouterr().err
