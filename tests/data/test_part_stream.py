"""The part stream of a mixed crop folder (``CropShardDataModule(part=...)``): LitData's order, the other part never
read, and a resumed reader's position computed from the folder's part index instead of reading the crops of the
steps done."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from signmusketeers.data.part_index import read_part_index
from signmusketeers.data.shards import ShardWriter
from signmusketeers.formats.records import PART_CODES, PART_INDEX, encode_jpeg
from signmusketeers.pretrain.datamodule import EndlessPartStream, SeededCropDataset

N_CLIPS, PER_CLIP = 12, 10  # 120 crops in several chunks, about one third faces


def _records(clip: int, rng: np.random.Generator) -> list[dict]:
    records = []
    for frame in range(PER_CLIP):
        part = "face" if frame % 3 == 0 else "hand"
        image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        records.append(
            {
                "image": encode_jpeg(image),
                "part": part,
                "side": "face" if part == "face" else "left",
                "clip_id": f"c{clip:02d}",
                "frame": np.asarray([frame], dtype=np.int64),
            }
        )
    return records


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed") / "crops"
    rng = np.random.default_rng(0)
    with ShardWriter(folder, "crops", {"command": "test"}, chunk_bytes=4000) as writer:
        for clip in range(N_CLIPS):
            writer.write(f"c{clip:02d}", _records(clip, rng))
        writer.finish()
    return folder


class _Ids:
    """Record → (clip id, frame, global index seed); stands in for the augmentation."""

    folder = ""

    def __init__(self, part):
        self.part = part

    def __call__(self, record, seed=None):
        if record["part"] != self.part:
            return None
        return (str(record["clip_id"]), int(record["frame"][0]), seed)


def _dataset(folder, part="face", seed=3):
    transform = _Ids(part)
    transform.folder = str(folder)
    return SeededCropDataset(str(folder), transform, seed, shuffle=True, drop_last=True)


def _litdata_order(folder, part, passes):
    """Ground truth: LitData's own iteration of the whole folder, every record read, the other part dropped."""
    dataset = _dataset(folder, part)
    out = []
    for epoch in range(1, passes + 1):
        dataset.set_epoch(epoch)
        out += [item for item in dataset if item is not None]
    return out


def test_writer_saves_the_part_index_in_litdata_order(mixed_folder):
    from litdata import StreamingDataset

    parts = read_part_index(mixed_folder)
    records = StreamingDataset(str(mixed_folder), shuffle=False)
    assert len(json.loads((mixed_folder / "index.json").read_text())["chunks"]) > 3
    assert (mixed_folder / PART_INDEX).exists()
    assert [PART_CODES[records[i]["part"]] for i in range(len(records))] == parts.tolist()
    assert 0 < int((parts == 0).sum()) < len(parts)


def test_part_stream_is_litdata_order_filtered_without_reading_the_other_part(mixed_folder, monkeypatch):
    truth = _litdata_order(mixed_folder, "face", 3)
    dataset = _dataset(mixed_folder)
    read = []
    get = SeededCropDataset.__getitem__
    monkeypatch.setattr(SeededCropDataset, "__getitem__", lambda self, i: read.append(i.index) or get(self, i))
    stream = list(itertools.islice(iter(EndlessPartStream(dataset)), len(truth)))
    assert stream == truth  # same crops, order and seeds over three passes
    assert len({seed for _, _, seed in stream}) == len(stream)  # every (pass, crop) its own seed
    assert set(read_part_index(mixed_folder)[read].tolist()) == {PART_CODES["face"]}  # no hand record read


@pytest.mark.parametrize("workers", [1, 2])
def test_resumed_stream_continues_where_the_straight_one_was(mixed_folder, workers, monkeypatch):
    batch = 4
    straight = list(
        itertools.islice(
            iter(
                torch.utils.data.DataLoader(
                    EndlessPartStream(_dataset(mixed_folder), batch),
                    batch_size=batch,
                    num_workers=workers,
                    collate_fn=list,
                )
            ),
            30,
        )
    )
    for done in (0, 1, 5, 13, 22):  # within the first pass and several passes on (40 faces a pass)
        stream = EndlessPartStream(_dataset(mixed_folder), batch)
        stream.batches_done = done
        resumed = list(
            itertools.islice(
                iter(torch.utils.data.DataLoader(stream, batch_size=batch, num_workers=workers, collate_fn=list)),
                30 - done,
            )
        )
        assert resumed == straight[done:], done


def test_resume_position_reads_nothing(mixed_folder, monkeypatch):
    stream = EndlessPartStream(_dataset(mixed_folder), 4)
    stream.batches_done = 17
    monkeypatch.setattr(SeededCropDataset, "__getitem__", lambda self, i: pytest.fail("read a record"))
    position = stream.position(17 * 4)
    assert position.epoch == 2  # 68 faces: one pass of 40, then 28 into the second


def test_folder_without_part_index_is_read_once(mixed_folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(mixed_folder, copy)
    (copy / PART_INDEX).unlink()
    parts = read_part_index(copy)
    assert parts.tolist() == read_part_index(mixed_folder).tolist()
    assert (copy / PART_INDEX).exists()


def test_no_crops_of_the_part(mixed_folder, tmp_path):
    stream = EndlessPartStream(_dataset(mixed_folder), 4, np.full(len(read_part_index(mixed_folder)), 1, np.uint8))
    with pytest.raises(ValueError, match="no face crops"):
        next(iter(stream))
