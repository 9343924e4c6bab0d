"""Exactly-once data under DDP: 2 gloo processes × 2 loader workers read one epoch of a crop and a feature shard
folder through the datamodules' own loaders (every record read exactly once per epoch).

Record counts are chosen not to divide by ranks × workers × batch size, so the uneven remainder is exercised:

* training loaders (``drop_last=True``): no record twice, every rank the same number of full batches (no DDP hang),
  and fewer than ``world_size × batch_size`` records left out of the epoch (which ones changes with the shuffle);
* evaluation loaders (``drop_last=False``): every record exactly once — the union over ranks is the whole folder.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from signmusketeers.data.shards import ShardWriter
from signmusketeers.formats.records import pack_jpegs

pytestmark = pytest.mark.distributed

WORLD, WORKERS, BATCH = 2, 2, 4
CROP_CLIPS = {f"clip{k:02d}": n for k, n in enumerate([7, 3, 11, 5, 9, 2, 8, 6, 4])}  # 55 crops in 9 keys
FEATURE_CLIPS = 37


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crop_id(clip_id: str, frame: int) -> int:
    return int(clip_id[4:]) * 100 + frame


def write_crops(folder: Path) -> set[int]:
    rng = np.random.default_rng(0)
    with ShardWriter(folder, "crops", {"command": "tests"}, chunk_bytes=4000) as writer:  # several chunks
        for clip_id, frames in CROP_CLIPS.items():
            writer.write(
                clip_id,
                [
                    {
                        "image": pack_jpegs([rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)])[0],
                        "part": "hand",
                        "side": "left",
                        "clip_id": clip_id,
                        "frame": np.array([frame], np.int64),
                    }
                    for frame in range(frames)
                ],
            )
        writer.finish()
    return {crop_id(c, f) for c, n in CROP_CLIPS.items() for f in range(n)}


def write_features(folder: Path) -> set[str]:
    rng = np.random.default_rng(1)
    with ShardWriter(folder, "features", {"command": "tests"}, chunk_bytes=6000) as writer:
        for index in range(FEATURE_CLIPS):
            length = int(rng.integers(2, 6))
            writer.write(
                f"clip{index:03d}",
                [
                    {
                        **{
                            part: rng.standard_normal((length, 8)).astype(np.float16)
                            for part in ("face", "left", "right")
                        },
                        "pose": rng.random((length, 14)).astype(np.float32),
                        "text": "hello",
                        "clip_id": f"clip{index:03d}",
                    }
                ],
            )
        writer.finish()
    return {f"clip{index:03d}" for index in range(FEATURE_CLIPS)}


class CropIdViews:
    """Stands in for the multi-crop augmentation: a record's "views" are its id, so batches carry the ids."""

    def __call__(self, record: dict, seed: int | None = None) -> dict:
        ident = torch.tensor(crop_id(str(record["clip_id"]), int(np.asarray(record["frame"])[0])))
        return {"global_crops": [ident, ident], "local_crops": [ident]}


def _read_one_epoch(rank: int, port: int, crops: str, features: str, out: str) -> None:
    from signmusketeers.data import ClipFeatureDataModule, CropShardDataModule

    torch.set_num_threads(1)
    # mp.spawn's children inherit "spawn" for their loader workers; torchrun or Lightning's launcher start fresh
    # processes whose loader workers fork, as here (and re-importing torch per worker would make this test slow).
    mp.set_start_method("fork", force=True)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        crop_data = CropShardDataModule(crops, batch_size=BATCH, num_workers=WORKERS)
        crop_data.setup("fit")
        crop_data.dataset.record_transform = CropIdViews()
        feature_data = ClipFeatureDataModule(train=features, val=features, batch_size=BATCH, num_workers=WORKERS)
        seen = {
            "crops": [batch["global_crops"][0].tolist() for batch in crop_data.train_dataloader()],
            "features_train": [batch["clip_id"] for batch in feature_data.train_dataloader()],
            "features_val": [batch["clip_id"] for batch in feature_data.val_dataloader()],
        }
        bucketed = ClipFeatureDataModule(
            train=features, batch_size=BATCH, num_workers=WORKERS, bucket_by_length=True, bucket_pool=2
        )
        loader = bucketed.train_dataloader()
        seen["features_bucketed"] = [batch["clip_id"] for batch in loader]
        seen["features_bucketed_epoch2"] = [batch["clip_id"] for batch in loader]
        Path(out, f"rank{rank}.json").write_text(json.dumps(seen))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def one_epoch_per_rank(tmp_path_factory) -> tuple[dict, set[int], set[str]]:
    root = tmp_path_factory.mktemp("exactly_once")
    crop_ids, clip_ids = write_crops(root / "crops"), write_features(root / "features")
    mp.spawn(
        _read_one_epoch,
        args=(_free_port(), str(root / "crops"), str(root / "features"), str(root)),
        nprocs=WORLD,
        join=True,
    )
    ranks = [json.loads((root / f"rank{r}.json").read_text()) for r in range(WORLD)]
    return ranks, crop_ids, clip_ids


def _check_training_epoch(
    batches_per_rank: list[list[list]], all_ids: set, left_out_below: int = WORLD * BATCH
) -> None:
    assert len({len(batches) for batches in batches_per_rank}) == 1, [len(b) for b in batches_per_rank]
    assert all(len(batch) == BATCH for batches in batches_per_rank for batch in batches)
    seen = [i for batches in batches_per_rank for batch in batches for i in batch]
    assert len(seen) == len(set(seen)), "a record was read twice in one epoch"
    assert set(seen) <= all_ids
    assert len(all_ids) - len(seen) < left_out_below, f"{len(all_ids) - len(seen)} records left out"


def test_crop_training_epoch_reads_each_crop_at_most_once_with_equal_batches(one_epoch_per_rank) -> None:
    ranks, crop_ids, _ = one_epoch_per_rank
    assert len(crop_ids) % (WORLD * WORKERS * BATCH) != 0
    _check_training_epoch([r["crops"] for r in ranks], crop_ids)


def test_feature_training_epoch_reads_each_clip_at_most_once_with_equal_batches(one_epoch_per_rank) -> None:
    ranks, _, clip_ids = one_epoch_per_rank
    assert len(clip_ids) % (WORLD * WORKERS * BATCH) != 0
    _check_training_epoch([r["features_train"] for r in ranks], clip_ids)


def test_length_bucketed_training_epoch_reads_each_clip_at_most_once_with_equal_batches(one_epoch_per_rank) -> None:
    ranks, _, clip_ids = one_epoch_per_rank
    _check_training_epoch([r["features_bucketed"] for r in ranks], clip_ids, left_out_below=WORLD * WORKERS * BATCH)


def test_length_bucketed_training_reshuffles_each_epoch(one_epoch_per_rank) -> None:
    ranks, _, clip_ids = one_epoch_per_rank
    _check_training_epoch(
        [r["features_bucketed_epoch2"] for r in ranks], clip_ids, left_out_below=WORLD * WORKERS * BATCH
    )
    assert [r["features_bucketed_epoch2"] for r in ranks] != [r["features_bucketed"] for r in ranks]


def test_feature_validation_scores_every_clip_exactly_once(one_epoch_per_rank) -> None:
    ranks, _, clip_ids = one_epoch_per_rank
    seen = [clip for r in ranks for batch in r["features_val"] for clip in batch]
    assert sorted(seen) == sorted(clip_ids)  # (the ranks' batch counts may differ here: see the datamodule doc)
