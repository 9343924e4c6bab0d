"""The resumable, exactly-once shard writer: records round-trip through LitData, keys are written once
over interrupted runs, job-array shards publish one dataset, and pickled fields are refused."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from signmusketeers.data.shard_manifest import INDEX, ShardError, ShardManifest, read_failures
from signmusketeers.data.shards import ShardWriter, check_dataset_folder, open_dataset
from signmusketeers.formats.records import pack_jpegs, unpack_jpegs

REPO = Path(__file__).resolve().parents[2]


def crop_records(key: str, n: int) -> list[dict]:
    rng = np.random.default_rng(abs(hash(key)) % 2**32)
    records = []
    for frame in range(n):
        image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        data, _ = pack_jpegs([image])
        records.append(
            {"image": data, "part": "hand", "side": "left", "clip_id": key, "frame": np.array([frame], np.int64)}
        )
    return records


def read_all(folder: Path) -> list[dict]:
    return list(open_dataset(folder))


def test_round_trip_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "crops"
    with ShardWriter(out, "crops", {"command": "test"}) as writer:
        for key in ("a", "b", "c"):
            assert writer.write(key, crop_records(key, 4)) == 4
        manifest = writer.finish()
    assert manifest is not None and manifest.records == 12
    assert ShardManifest.read(out).kind == "crops"
    items = read_all(out)
    assert sorted((i["clip_id"], int(i["frame"][0])) for i in items) == [(k, f) for k in "abc" for f in range(4)]
    assert all(isinstance(i["image"], np.ndarray) and i["image"].dtype == np.uint8 for i in items)
    # the stored JPEG decodes to the image size written
    assert unpack_jpegs(items[0]["image"], np.array([0, len(items[0]["image"])]))[0].shape == (16, 16, 3)


def test_unfinished_folder_is_refused_until_finish(tmp_path: Path) -> None:
    out = tmp_path / "clips"
    writer = ShardWriter(out, "clips", segment_bytes=1)  # every key becomes its own durable segment
    writer.write("a", crop_records("a", 2))
    with pytest.raises(ShardError, match="never finished"):
        check_dataset_folder(out)
    writer.finish()
    assert check_dataset_folder(out, "clips").records == 2
    with pytest.raises(ShardError, match="expected crops"):
        check_dataset_folder(out, "crops")


def test_resume_skips_done_keys_and_drops_unfinished_segment(tmp_path: Path) -> None:
    out = tmp_path / "crops"
    first = ShardWriter(out, "crops", segment_bytes=1)
    first.write("a", crop_records("a", 3))  # flushed: durable
    first.segment_bytes = 10**12
    first.write("b", crop_records("b", 3))  # still in an open segment when the process "dies"
    first._segment.done()  # even its chunk files on disk do not count without a ledger
    first.close()  # the process "dies": its lock goes with it
    del first

    second = ShardWriter(out, "crops")
    assert second.is_done("a") and not second.is_done("b")
    with pytest.raises(ValueError, match="written once"):
        second.write("a", crop_records("a", 3))
    second.write("b", crop_records("b", 3))
    second.fail("broken", "not a video", input="broken.mp4")
    second.fail("broken", "not a video", input="broken.mp4")
    assert second.finish().records == 6
    keys = sorted((i["clip_id"], int(i["frame"][0])) for i in read_all(out))
    assert keys == [(k, f) for k in "ab" for f in range(3)]
    assert [f["key"] for f in read_failures(out)] == ["broken"]
    assert ShardWriter(out, "crops").is_done("broken")


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from signmusketeers.data.shards import ShardWriter
    writer = ShardWriter(sys.argv[1], "features", segment_bytes=1)
    for i in range(1000):
        key = f"clip{i:04d}"
        if writer.is_done(key):
            continue
        writer.write(key, [{"face": np.full((5, 8), i, np.float16), "text": f"sentence {i}", "clip_id": key}])
        print(key, flush=True)
        if len(sys.argv) > 2 and i == int(sys.argv[2]):
            break
        time.sleep(0.01)
    writer.finish()
    """
)


def test_killed_process_resumes_exactly_once(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    out = tmp_path / "features"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(out)], env=env, stdout=subprocess.PIPE, start_new_session=True, text=True
    )
    for _ in range(20):  # let it write a few keys, then kill the whole process group mid-way
        process.stdout.readline()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / INDEX).exists()
    subprocess.run([sys.executable, str(script), str(out), "59"], env=env, check=True, capture_output=True)
    items = read_all(out)
    keys = [i["clip_id"] for i in items]
    assert sorted(keys) == [f"clip{i:04d}" for i in range(60)]  # every key once: none lost, none repeated
    assert all(i["face"].dtype == np.float16 and i["face"].shape == (5, 8) for i in items)
    assert json.loads((out / "manifest.json").read_text())["records"] == 60


def test_job_array_publishes_once_all_shards_are_done(tmp_path: Path) -> None:
    out = tmp_path / "clips"
    first = ShardWriter(out, "clips", shard_index=0, num_shards=2)
    second = ShardWriter(out, "clips", shard_index=1, num_shards=2)
    first.write("a", crop_records("a", 2))
    second.write("b", crop_records("b", 2))
    assert first.finish() is None and not (out / INDEX).exists()
    assert second.finish().records == 4
    assert sorted(i["clip_id"] for i in read_all(out)) == ["a", "a", "b", "b"]


def test_strings_that_name_existing_files_are_stored_as_text(tmp_path: Path, monkeypatch) -> None:
    """LitData's own writer stores a str naming an existing file as that file (here it chose pickle, and the
    whole folder was then refused on opening); every str must come back as the same text."""
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("not a transcript")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 1000)
    writer = ShardWriter(tmp_path / "x", "clips")
    writer.write("a", [{"text": "notes.txt", "video": str(video), "frame": np.array([0], np.int64)}])
    writer.write("b", [{"text": "plain words", "video": "gone.mp4", "frame": np.array([1], np.int64)}])
    writer.finish()
    records = read_all(tmp_path / "x")
    assert [(r["text"], r["video"]) for r in records] == [("notes.txt", str(video)), ("plain words", "gone.mp4")]


def test_records_that_would_be_pickled_are_refused(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "x", "clips")
    with pytest.raises(TypeError, match="fps"):
        writer.write("a", [{"fps": np.float32(25.0)}])
    with pytest.raises(TypeError, match="text"):
        writer.write("b", [{"text": None}])


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("lock-")
    }


def test_segments_closed_by_size_only_give_the_same_bytes_however_slow_the_writes(tmp_path: Path, monkeypatch) -> None:
    records = {f"clip{i}": crop_records(f"clip{i}", 3) for i in range(4)}

    def write(folder: Path, segment_seconds: float, seconds_per_write: float) -> dict[str, bytes]:
        clock = iter(range(0, 10_000_000, int(seconds_per_write) or 1))
        monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))  # a slow or a fast machine
        with ShardWriter(folder, "crops", {"command": "test"}, segment_seconds=segment_seconds) as writer:
            for key, rows in records.items():
                writer.write(key, rows)
            writer.finish()
        return _folder_bytes(folder)

    fast = write(tmp_path / "fast", math.inf, 1)
    assert write(tmp_path / "slow", math.inf, 1000) == fast  # by size only: the clock plays no part
    by_clock = write(tmp_path / "clock", 300, 1000)  # a segment per clip: other chunks, the same records
    assert by_clock != fast
    assert [r["clip_id"] for r in read_all(tmp_path / "clock")] == [r["clip_id"] for r in read_all(tmp_path / "fast")]
