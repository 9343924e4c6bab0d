"""Fixtures of the pre-training tests: a small crop shard folder and its SynthSign-format labels.

Crops are synthetic 64 px images of one of four shapes (the label) in random colours, sizes and places, written
by the production writer (:class:`signmusketeers.data.shards.ShardWriter`, one key per clip) in the crop record
format ``parse --crops-out`` writes, plus a SynthSign-style manifest whose landmark files carry the per-frame
``expression`` / handshape labels the k-NN probe reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

CROP_SIZE = 64
N_CLIPS = 8
FRAMES = 12
N_SHAPES = 4


def shape_image(shape: int, rng: np.random.Generator, size: int = CROP_SIZE) -> np.ndarray:
    """An RGB uint8 image: a filled disc, square, horizontal bar or vertical bar on a noisy background."""
    image = (rng.uniform(0, 80, (size, size, 3)) + rng.uniform(0, 100, 3)).astype(np.uint8)
    colour = rng.uniform(150, 255, 3).astype(np.uint8)
    y, x = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.35, 0.65, 2) * size
    r = rng.uniform(0.18, 0.3) * size
    masks = [
        (y - cy) ** 2 + (x - cx) ** 2 < r**2,
        (abs(y - cy) < r * 0.85) & (abs(x - cx) < r * 0.85),
        (abs(y - cy) < r * 0.3) & (abs(x - cx) < r * 1.4),
        (abs(y - cy) < r * 1.4) & (abs(x - cx) < r * 0.3),
    ]
    image[masks[shape]] = colour
    return image


def _crop_record(clip_id: str, frame: int, label: int, seed: int) -> dict:
    from signmusketeers.formats.records import encode_jpeg

    rng = np.random.default_rng(seed)
    return {
        "image": encode_jpeg(shape_image(label, rng)),
        "part": "face",
        "side": "face",
        "clip_id": clip_id,
        "frame": np.asarray([frame], dtype=np.int64),
    }


def write_crop_shards(out: Path, synthsign: Path, seed: int = 0) -> None:
    """Write the crop shard folder ``out`` and the matching SynthSign-format labels under ``synthsign``."""
    from signmusketeers.data.shards import ShardWriter

    rng = np.random.default_rng(seed)
    synthsign.mkdir(parents=True, exist_ok=True)
    manifest = []
    with ShardWriter(out, "crops", made_by={"command": "tests/pretrain/conftest.py"}, chunk_bytes="1MB") as writer:
        for c in range(N_CLIPS):
            clip_id = f"clip{c:02d}"
            labels = rng.integers(0, N_SHAPES, FRAMES)
            np.savez(
                synthsign / f"{clip_id}.npz",
                expression=labels.astype(np.int64),
                left_handshape=labels.astype(np.int64),
                right_handshape=labels.astype(np.int64),
            )
            manifest.append({"clip_id": clip_id, "landmarks": f"{clip_id}.npz", "split": "train" if c < 6 else "test"})
            writer.write(
                clip_id, [_crop_record(clip_id, f, int(labels[f]), seed * 100000 + c * 100 + f) for f in range(FRAMES)]
            )
        writer.finish()
    (synthsign / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))


@pytest.fixture(scope="session")
def crop_shards(tmp_path_factory) -> tuple[Path, Path]:
    """``(crop shard folder, SynthSign-format label folder)``: 96 face crops of 8 clips (6 train, 2 test)."""
    root = tmp_path_factory.mktemp("crops")
    write_crop_shards(root / "face", root / "synthsign")
    return root / "face", root / "synthsign"
