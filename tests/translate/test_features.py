import pytest
import torch

from signmusketeers.data.shard_manifest import ShardError
from signmusketeers.translate.datamodule import ClipFeatureDataModule, FeatureCollator, read_text_manifest
from signmusketeers.translate.tokenizer import build_tokenizer
from tests.translate.conftest import make_record


def test_collate_pads_masks_and_truncates():
    collate = FeatureCollator(build_tokenizer("byt5"), max_frames=6)
    records = [make_record(0, 4), make_record(1, 9), make_record(2, 6)]
    batch = collate(records)
    assert batch["face"].shape == (3, 6, 384) and batch["face"].dtype == torch.float16
    assert batch["pose"].shape == (3, 6, 14) and batch["pose"].dtype == torch.float32
    assert batch["lengths"].tolist() == [4, 6, 6]
    assert batch["attention_mask"].tolist()[0] == [1, 1, 1, 1, 0, 0]
    assert int(batch["truncated"]) == 1
    assert torch.equal(batch["face"][0, 4:], torch.zeros(2, 384, dtype=torch.float16))
    assert torch.equal(batch["left"][1], torch.from_numpy(records[1]["left"][:6]))
    # labels: bytes + eos, padding ignored
    text = records[0]["text"]
    assert batch["labels"][0, : len(text) + 1].tolist() == [b + 3 for b in text.encode()] + [1]
    assert (batch["labels"][0, len(text) + 1 :] == -100).all()


def test_datamodule_reads_shards(feature_shards):
    data = ClipFeatureDataModule(
        train=str(feature_shards["train"]), val=str(feature_shards["val"]), batch_size=3, num_workers=0, max_frames=8
    )
    train = list(data.train_dataloader())
    assert len(train) == 2  # 8 clips, drop_last
    for batch in train:
        data.on_before_batch_transfer(batch, 0)
        assert batch["face"].shape[0] == 3 and batch["face"].shape[1] <= 8
    val_ids = [c for batch in data.val_dataloader() for c in batch["clip_id"]]
    assert sorted(val_ids) == ["clip0000", "clip0001", "clip0002"]  # every clip exactly once, no drop


def test_length_bucketing_groups_similar_lengths(feature_shards):
    data = ClipFeatureDataModule(
        train=str(feature_shards["train"]), batch_size=2, num_workers=0, bucket_by_length=True, bucket_pool=4
    )
    batches = list(data.train_dataloader())
    assert len(batches) == 4
    spans = sorted(tuple(b["lengths"].tolist()) for b in batches)
    # sorted pool of lengths [3,4,5,6,7,8,9,12] cut in pairs
    assert sorted(tuple(sorted(s)) for s in spans) == [(3, 4), (5, 6), (7, 8), (9, 12)]


def test_missing_folder_is_one_clear_error(tmp_path):
    data = ClipFeatureDataModule(train=str(tmp_path / "nope"), num_workers=0)
    with pytest.raises(ShardError, match="no such shard folder"):
        data.train_dataloader()


def test_text_manifests(tmp_path):
    how2sign = tmp_path / "how2sign.csv"
    how2sign.write_text("VIDEO_ID\tSENTENCE_NAME\tSTART_REALIGNED\tSENTENCE\nv\tv_0-1\t0.1\tHello there.\n")
    assert read_text_manifest(how2sign) == {"v_0-1": "Hello there."}
    quoted = tmp_path / "how2sign_quotes.csv"  # How2Sign's sentences hold quotes: read as written, not CSV-unquoted
    quoted.write_text('VIDEO_ID\tSENTENCE_NAME\tSENTENCE\nv\tv_0-2\t"Wow," he said "ok".\n')
    assert read_text_manifest(quoted) == {"v_0-2": '"Wow," he said "ok".'}
    lines = tmp_path / "yt.jsonl"
    lines.write_text('{"clip_id": "a", "text": "caption a"}\n')
    assert read_text_manifest(lines) == {"a": "caption a"}
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match="bad.csv: needs columns"):
        read_text_manifest(bad)


def test_several_train_folders_are_read_as_one(feature_shards):
    data = ClipFeatureDataModule(
        train=[str(feature_shards["train"]), str(feature_shards["val"])], batch_size=1, num_workers=0
    )
    ids = [c for batch in data.train_dataloader() for c in batch["clip_id"]]
    assert len(ids) == 11  # 8 + 3 clips, each once


def test_clips_cut_to_max_frames_are_counted_once_per_split(feature_shards):
    """Train lengths 5, 9, 3, 12, 7, 4, 8, 6 and val 6, 11, 4 with max_frames 8: 2 training clips and 1 validation
    clip are cut, however many epochs read them."""
    from types import SimpleNamespace

    data = ClipFeatureDataModule(
        train=str(feature_shards["train"]), val=str(feature_shards["val"]), batch_size=2, num_workers=0, max_frames=8
    )
    reading = dict(
        training=False,
        sanity_checking=False,
        validating=False,
        testing=False,
        predicting=False,
        global_rank=0,
        world_size=1,
        lightning_module=None,
    )
    data.trainer = SimpleNamespace(**{**reading, "training": True})
    for _ in range(3):  # three epochs
        for batch in data.train_dataloader():
            batch = data.on_before_batch_transfer(batch, 0)
            assert "truncated_ids" not in batch and batch["face"].shape[1] <= 8
    data.trainer = SimpleNamespace(**{**reading, "validating": True})
    for batch in data.val_dataloader():
        data.on_before_batch_transfer(batch, 0)
    assert data.truncated_clips == {"train": 2, "val": 1}
    with pytest.warns(UserWarning, match=r"fit: clips cut to max_frames=8: 2 train, 1 val \(distinct clips\)"):
        data.teardown("fit")
    assert data.truncated_clips == {}
