"""Extraction: features equal the encoders' outputs, per split, each clip written exactly once across a resume."""

from pathlib import Path

import numpy as np
import pytest
import torch

from signmusketeers.cli import main
from signmusketeers.data.shards import ShardWriter, open_dataset
from signmusketeers.formats.records import pack_jpegs
from signmusketeers.pretrain.encoder import build_encoder, load_encoder, save_encoder
from signmusketeers.translate import extract

CROP = 28
SPLITS = ["train", "train", "val", "train", "test", "train"]


def write_clip_shards(folder: Path) -> None:
    rng = np.random.default_rng(0)
    with ShardWriter(folder, "clips", {"command": "tests"}) as writer:
        for index, split in enumerate(SPLITS):
            frames = 3 + index
            crops = rng.integers(0, 256, (frames * 3, CROP, CROP, 3), dtype=np.uint8)
            data, offsets = pack_jpegs(list(crops))
            writer.write(
                f"clip{index}",
                [
                    {
                        "crops": data,
                        "offsets": offsets,
                        "pose": rng.random((frames, 14)).astype(np.float32),
                        "provenance": np.zeros((frames, 3), np.uint8),
                        "frames": np.arange(frames) * 2,
                        "fps": np.array([25.0], np.float32),
                        "text": f"sentence {index}",
                        "split": split,
                        "clip_id": f"clip{index}",
                    }
                ],
            )
        writer.finish()


@pytest.fixture
def setup(tmp_path):
    write_clip_shards(tmp_path / "clips")
    face = save_encoder(build_encoder(img_size=28, embed_dim=32, depth=1, num_heads=2, seed=1), tmp_path / "face")
    hand = save_encoder(build_encoder(img_size=28, embed_dim=32, depth=1, num_heads=2, seed=2), tmp_path / "hand")
    return tmp_path, face, hand


def run_extract(tmp_path, face, hand, *extra):
    return main(
        [
            "extract",
            str(tmp_path / "clips"),
            "--face-encoder",
            str(face),
            "--hand-encoder",
            str(hand),
            "--out",
            str(tmp_path / "features"),
            "--workers",
            "0",
            "--no-progress",
            *extra,
        ]
    )


def read_split(folder: Path) -> dict[str, dict]:
    dataset = open_dataset(folder, kind="features")
    records = [dataset[i] for i in range(len(dataset))]
    ids = [r["clip_id"] for r in records]
    assert len(ids) == len(set(ids)), f"duplicate clips in {folder}: {ids}"
    return {r["clip_id"]: r for r in records}


def test_extract_writes_encoder_features_per_split(setup):
    tmp_path, face, hand = setup
    assert run_extract(tmp_path, face, hand, "--frames-per-batch", "8") == 0
    splits = {s: read_split(tmp_path / "features" / s) for s in ("train", "val", "test")}
    assert sorted(splits["train"]) == ["clip0", "clip1", "clip3", "clip5"]
    assert not (tmp_path / "features" / "unsplit").exists()
    record = splits["val"]["clip2"]
    assert record["face"].dtype == np.float16 and record["face"].shape == (5, 32)
    assert record["left"].shape == record["right"].shape == (5, 32) and record["pose"].shape == (5, 14)
    assert record["text"] == "sentence 2"
    # the stored features are the encoders' CLS features of the decoded crops
    clips = open_dataset(tmp_path / "clips", kind="clips")
    decoded = extract.DecodedClips(tmp_path / "clips", list(range(len(clips))), set())[2]
    crops = torch.from_numpy(decoded["crops"])
    expected_left = load_encoder(hand)(crops[:, 1]).numpy().astype(np.float16)
    np.testing.assert_allclose(record["left"].astype(np.float32), expected_left.astype(np.float32), atol=2e-3)
    expected_face = load_encoder(face)(crops[:, 0]).numpy().astype(np.float16)
    np.testing.assert_allclose(record["face"].astype(np.float32), expected_face.astype(np.float32), atol=2e-3)


def test_resume_after_interruption_writes_each_clip_once(setup, monkeypatch):
    tmp_path, face, hand = setup
    real_encode, calls = extract.encode_clips, []

    def crash_on_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(extract, "encode_clips", crash_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run_extract(tmp_path, face, hand, "--frames-per-batch", "1")
    assert not (tmp_path / "features" / "train" / "index.json").exists()  # not published
    monkeypatch.setattr(extract, "encode_clips", real_encode)
    assert run_extract(tmp_path, face, hand, "--frames-per-batch", "1") == 0
    seen = [c for s in ("train", "val", "test") for c in read_split(tmp_path / "features" / s)]
    assert sorted(seen) == sorted(f"clip{i}" for i in range(len(SPLITS)))
    # a third run has nothing left to do and changes nothing
    assert run_extract(tmp_path, face, hand) == 0
    assert sorted(read_split(tmp_path / "features" / "train")) == ["clip0", "clip1", "clip3", "clip5"]


def test_two_shard_indices_split_the_work(setup):
    tmp_path, face, hand = setup
    assert run_extract(tmp_path, face, hand, "--shard-index", "0", "--num-shards", "2") == 0
    assert not (tmp_path / "features" / "train" / "index.json").exists()  # waits for index 1
    assert run_extract(tmp_path, face, hand, "--shard-index", "1", "--num-shards", "2", "--workers", "2") == 0
    seen = [c for s in ("train", "val", "test") for c in read_split(tmp_path / "features" / s)]
    assert sorted(seen) == sorted(f"clip{i}" for i in range(len(SPLITS)))


def test_bad_encoder_path_is_one_line(setup, capsys):
    tmp_path, face, hand = setup
    assert run_extract(tmp_path, tmp_path / "missing", hand) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("signmusketeers extract: ") and "missing" in err[0]


def test_under_torchrun_each_rank_takes_its_part_of_every_record(setup, monkeypatch):
    """torchrun sets WORLD_SIZE and RANK, which LitData also reads (its len() is then one rank's share): the ranks
    together must still extract every clip."""
    tmp_path, face, hand = setup
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        assert run_extract(tmp_path, face, hand) == 0
    monkeypatch.delenv("WORLD_SIZE")  # read back as one process
    monkeypatch.delenv("RANK")
    seen = [c for s in ("train", "val", "test") for c in read_split(tmp_path / "features" / s)]
    assert sorted(seen) == sorted(f"clip{i}" for i in range(len(SPLITS)))
