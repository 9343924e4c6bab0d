"""`signmusketeers parse`: clip and crop shards, inputs, bad-input handling and exit codes, workers, job arrays and
an interrupted run resumed to exactly-once output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from signmusketeers.cli import main
from signmusketeers.data.shard_manifest import INDEX, read_failures
from signmusketeers.data.shards import open_dataset
from signmusketeers.formats.records import unpack_clip_crops, unpack_jpegs
from tests.parsing.media import noise_frames, portrait, write_video
from tests.parsing.test_parser import synthetic_landmarks

REPO = Path(__file__).resolve().parents[2]


def synth_folder(folder: Path, clips: int, frames: int = 6, width: int = 160, height: int = 120) -> Path:
    """A SynthSign-style folder: manifest.jsonl + videos + precomputed landmarks (fast: no MediaPipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for number in range(clips):
        clip_id = f"clip{number:03d}"
        write_video(folder / f"{clip_id}.mp4", noise_frames(frames, width, height, seed=number), fps=10)
        synthetic_landmarks(folder / f"{clip_id}.npz", frames, width, height)
        lines.append(
            {"clip_id": clip_id, "video": f"{clip_id}.mp4", "landmarks": f"{clip_id}.npz", "start": None, "end": None,
             "text": f"sentence {number}", "split": "train", "fps": 10, "frames": frames, "width": width,
             "height": height}
        )  # fmt: skip
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def test_clip_and_crop_shards(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 3)
    out, crops = tmp_path / "clips", tmp_path / "crops"
    argv = [
        "parse",
        str(data),
        "--out",
        str(out),
        "--crops-out",
        str(crops),
        "--crop-size",
        "32",
        "--crops-per-clip",
        "3",
    ]
    assert main(argv) == 0
    records = sorted(open_dataset(out, "clips"), key=lambda r: r["clip_id"])
    assert [r["clip_id"] for r in records] == ["clip000", "clip001", "clip002"]
    record = records[1]
    assert record["text"] == "sentence 1" and record["split"] == "train"
    assert list(record["frames"]) == [0, 2, 4]  # paper stride 2 by default
    assert record["pose"].shape == (3, 14) and record["provenance"].shape == (3, 3)
    assert record["fps"].shape == (1,) and record["fps"][0] == 10
    images = unpack_jpegs(record["crops"], record["offsets"])
    assert len(images) == 9 and images[0].shape == (32, 32, 3)
    assert unpack_clip_crops(record).shape == (3, 3, 32, 32, 3)
    assert json.loads((out / "manifest.json").read_text())["records"] == 3

    crop_items = list(open_dataset(crops, "crops"))
    # 3 sampled frames: 3 faces from landmarks + left hand from landmarks in frames 2 and 4; fallback boxes are left out
    assert len(crop_items) == 3 * 5
    assert sorted({(c["part"], c["side"]) for c in crop_items}) == [("face", "face"), ("hand", "left")]
    # rerunning finds everything done and writes nothing twice
    assert main(argv) == 0
    assert len(list(open_dataset(out))) == 3 and len(list(open_dataset(crops))) == 15


def test_bad_inputs_are_reported_logged_and_exit_1(tmp_path: Path, capsys) -> None:
    good = synth_folder(tmp_path / "synth", 1)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.webm"
    text.write_text("hello\n" * 40)
    nobody = write_video(tmp_path / "nobody.mp4", noise_frames(3, 96, 64), fps=10)
    single = write_video(tmp_path / "single.gif", [portrait(120, 140)], fps=10)
    bad = [empty, text, nobody, single, tmp_path / "missing.mov"]
    out = tmp_path / "clips"
    argv = ["parse", str(good), *map(str, bad), "--out", str(out), "--crop-size", "32"]
    assert main(argv) == 1
    errors = capsys.readouterr().err.splitlines()
    for path in bad:
        assert any(line.startswith(f"signmusketeers parse: {path}: ") for line in errors), path
    assert {f["input"] for f in read_failures(out)} == set(map(str, bad))
    assert [r["clip_id"] for r in open_dataset(out)] == ["clip000"]  # the rest of the corpus is written
    assert main(argv) == 1  # still failed on a rerun, nothing duplicated
    assert len(read_failures(out)) == len(bad) and len(list(open_dataset(out))) == 1


def test_bad_arguments_exit_2(tmp_path: Path, capsys) -> None:
    data = synth_folder(tmp_path / "synth", 1)
    assert main(["parse", str(data), "--out", str(tmp_path / "o"), "--roi", "0.5,0,0.2,1"]) == 2
    assert "--roi" in capsys.readouterr().err
    assert main(["parse", str(tmp_path / "nothing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "nothing.jsonl: no such manifest" in capsys.readouterr().err


def test_workers_and_job_array_split_without_overlap(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 5, frames=4)
    parallel = tmp_path / "parallel"
    assert main(["parse", str(data), "--out", str(parallel), "--crop-size", "32", "--workers", "2"]) == 0
    assert sorted(r["clip_id"] for r in open_dataset(parallel)) == [f"clip{i:03d}" for i in range(5)]
    split = tmp_path / "split"
    base = ["parse", str(data), "--out", str(split), "--crop-size", "32", "--num-shards", "2"]
    assert main([*base, "--shard-index", "1"]) == 0
    assert not (split / INDEX).exists()  # published only once every job of the array is done
    assert main([*base, "--shard-index", "0"]) == 0
    assert sorted(r["clip_id"] for r in open_dataset(split)) == [f"clip{i:03d}" for i in range(5)]


def test_preview_is_written(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 1)
    assert main(["parse", str(data), "--out", str(tmp_path / "o"), "--crop-size", "32", "--preview"]) == 0
    import cv2

    image = cv2.imread(str(tmp_path / "o" / "previews" / "clip000.png"))
    assert image is not None and image.shape[0] >= 240


def test_killed_parse_resumes_with_every_clip_exactly_once(tmp_path: Path) -> None:
    data = synth_folder(tmp_path / "synth", 10, frames=12)
    out, crops = tmp_path / "clips", tmp_path / "crops"
    command = [sys.executable, "-m", "signmusketeers", "parse", str(data), "--out", str(out), "--crops-out",
               str(crops), "--crop-size", "48", "--checkpoint-every", "0"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((out / ".ledger").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole process group, mid-way
    process.wait()
    assert not (out / INDEX).exists(), "the run finished before it could be interrupted"
    finished = len(list((out / ".ledger").glob("*.json")))
    assert 3 <= finished < 10
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    clip_ids = [r["clip_id"] for r in open_dataset(out)]
    assert sorted(clip_ids) == [f"clip{i:03d}" for i in range(10)]  # none lost, none twice
    crop_keys = [(r["clip_id"], int(r["frame"][0]), r["side"]) for r in open_dataset(crops)]
    assert len(crop_keys) == len(set(crop_keys)) and {k[0] for k in crop_keys} == set(clip_ids)


def test_synthsign_folder(synthsign_small: Path, tmp_path: Path) -> None:
    """SynthSign's manifest and precomputed landmarks (the landmark layout of signmusketeers.parsing.landmarks)
    parse end to end."""
    manifest = [json.loads(line) for line in (synthsign_small / "manifest.jsonl").read_text().splitlines()]
    out, crops = tmp_path / "clips", tmp_path / "crops"
    assert main(["parse", str(synthsign_small), "--out", str(out), "--crops-out", str(crops), "--crop-size", "48"]) == 0
    records = {r["clip_id"]: r for r in open_dataset(out)}
    assert set(records) == {m["clip_id"] for m in manifest}
    for entry in manifest:
        record = records[entry["clip_id"]]
        assert record["text"] == entry["text"] and record["split"] == entry["split"]
        assert list(record["frames"]) == list(range(0, entry["frames"], 2))
        landmarks = np.load(synthsign_small / entry["landmarks"])
        frames = record["frames"]
        seen = landmarks["present_left_hand"][frames]
        centre = (record["boxes"][seen, 1, :2] + record["boxes"][seen, 1, 2:]) / 2
        hand = np.nanmean(landmarks["left_hand"][frames][seen], axis=1)
        assert np.abs(centre - hand).max() < 0.3 * entry["height"]  # the left box holds the signer's left hand
    items = list(open_dataset(crops))
    assert {i["part"] for i in items} == {"face", "hand"} and all(i["provenance"][0] in (0, 3) for i in items)


class TenFrameClip:
    """What crop_records reads of a ParsedClip: ten frames, every box from its own landmarks."""

    clip_id = "c"
    crops = np.zeros((10, 3, 8, 8, 3), dtype=np.uint8)
    found = np.ones((10, 3), dtype=bool)
    frame_index = np.arange(10) * 2

    def __init__(self) -> None:
        from signmusketeers.parsing.boxes import LANDMARKS

        self.provenance = np.full((10, 3), LANDMARKS)

    def __len__(self) -> int:
        return 10


def test_crop_records_sample_the_middles_of_equal_segments_not_the_ends():
    from signmusketeers.data.crop_sample import crop_records

    records = crop_records(TenFrameClip(), 2)
    # Two frames of ten: positions 2 and 7 (frames 4 and 14), away from the resting first and last frames.
    assert sorted({int(r["frame"][0]) for r in records}) == [4, 14]
    assert [r["side"] for r in records] == ["face", "left", "right"] * 2
