"""Small feature shards and a tiny translator for the translation tests (random weights, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TINY_T5 = {
    "d_model": 32,
    "d_ff": 64,
    "num_layers": 1,
    "num_decoder_layers": 1,
    "num_heads": 2,
    "d_kv": 16,
    "feed_forward_proj": "gated-gelu",
    "dropout_rate": 0.0,
    "tie_word_embeddings": False,
}
WORDS = ["hello", "world", "sign", "language", "good", "morning", "thank", "you"]


def make_record(index: int, length: int, dim: int = 384, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed * 1000 + index)
    return {
        "face": rng.standard_normal((length, dim)).astype(np.float16),
        "left": rng.standard_normal((length, dim)).astype(np.float16),
        "right": rng.standard_normal((length, dim)).astype(np.float16),
        "pose": rng.random((length, 14)).astype(np.float32),
        "text": " ".join(WORDS[(index + k) % len(WORDS)] for k in range(1 + index % 3)),
        "clip_id": f"clip{index:04d}",
    }


def write_feature_shards(
    folder: Path, lengths: list[int], dim: int = 384, seed: int = 0, made_by: dict | None = None
) -> Path:
    """A finished feature shard folder of ``len(lengths)`` clips, written as ``signmusketeers extract`` writes one
    (:class:`signmusketeers.data.shards.ShardWriter`, one key per clip); ``made_by`` goes into its manifest."""
    from signmusketeers.data.shards import ShardWriter

    with ShardWriter(folder, "features", made_by=made_by or {"command": "tests"}, chunk_bytes="4MB") as writer:
        for index, length in enumerate(lengths):
            record = make_record(index, length, dim, seed)
            writer.write(record["clip_id"], [record])
        writer.finish()
    return folder


@pytest.fixture(scope="session")
def feature_shards(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("features")
    return {
        "train": write_feature_shards(root / "train", [5, 9, 3, 12, 7, 4, 8, 6], seed=0),
        "val": write_feature_shards(root / "val", [6, 11, 4], seed=1),
    }
