"""Extraction throughput vs. a bare timm ViT forward on the same crops.

Ours: the ``signmusketeers extract`` pipeline on a clip shard folder — reading records, JPEG decoding in a loader
worker, uint8 → normalised float, the face encoder on face crops and the hand encoder on both hand crops, batched
across clips, and writing feature shards (``ShardWriter``).
Floor: ``timm`` ``forward_features(x)[:, 0]`` of the same ViT on the same crops, already decoded and normalised in
memory, in batches of the same size (the network alone, nothing else).
Goal: throughput ratio ours / floor ≥ 0.95. Encoders are randomly initialised ViT-S/14-reg4 (the paper's shape; no
download); ``--img-size``/``--embed-dim``/``--depth`` make smaller ones.

    PYTHONPATH=. python benchmarks/extract.py --clips 4 --frames 24

``run()`` returns the figures as records (``benchmarks/common.py``); ``--json OUT`` writes them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, rss_peaks, write_json
from signmusketeers.cli import main as cli_main
from signmusketeers.data.shards import ShardWriter, open_dataset
from signmusketeers.formats.records import pack_jpegs, unpack_jpegs
from signmusketeers.pretrain.encoder import build_encoder, save_encoder

GOAL = goal(">=", 0.95)  # the whole command keeps ≥ 95% of the bare network's crops/s


def smooth_crops(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Photo-like crops (smooth gradients + mild noise), so JPEG sizes resemble real crops."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * x + k) * 0.5 + 0.5 for k in range(3)], -1)
    crops = base[None] * rng.uniform(0.5, 1.0, (count, 1, 1, 3)) * 255 + rng.normal(0, 8, (count, size, size, 3))
    return crops.clip(0, 255).astype(np.uint8)


def write_clips(folder: Path, clips: int, frames: int, size: int) -> None:
    rng = np.random.default_rng(0)
    with ShardWriter(folder, "clips", {"command": "benchmarks/extract.py"}) as writer:
        for index in range(clips):
            data, offsets = pack_jpegs(list(smooth_crops(rng, frames * 3, size)))
            writer.write(
                f"clip{index}",
                [
                    {
                        "crops": data,
                        "offsets": offsets,
                        "pose": rng.random((frames, 14)).astype(np.float32),
                        "frames": np.arange(frames),
                        "text": "a sentence",
                        "split": "train",
                        "clip_id": f"clip{index}",
                    }
                ],
            )
        writer.finish()


def prepare(root: Path, clips: int, frames: int, img_size: int, shape: dict[str, int]) -> tuple[Path, Path]:
    """A clip shard folder ``root/clips`` and two random encoder exports; returns (face, hand) export paths."""
    write_clips(root / "clips", clips, frames, img_size)
    face = save_encoder(build_encoder(img_size=img_size, seed=1, **shape), root / "face")
    hand = save_encoder(build_encoder(img_size=img_size, seed=2, **shape), root / "hand")
    return face, hand


def floor_pass(root: Path, img_size: int, shape: dict[str, int], crops_per_batch: int) -> Callable[[], None]:
    """The floor: the bare timm network on the folder's crops, decoded and normalised beforehand."""
    dataset = open_dataset(root / "clips", kind="clips")
    decoded = np.concatenate(
        [np.stack(unpack_jpegs(dataset[i]["crops"], dataset[i]["offsets"])) for i in range(len(dataset))]
    )
    network = build_encoder(img_size=img_size, seed=1, **shape)
    images = network.preprocess(torch.from_numpy(decoded))
    backbone = network.backbone.eval()

    def bare() -> None:
        with torch.no_grad():
            for start in range(0, len(images), crops_per_batch):
                backbone.forward_features(images[start : start + crops_per_batch])[:, 0]

    return bare


def extract_command(root: Path, out: str, frames_per_batch: int, workers: int) -> Callable[[], None]:
    """Ours: the whole ``signmusketeers extract`` command on the folder."""

    def ours() -> None:
        code = cli_main(
            [
                "extract",
                str(root / "clips"),
                "--face-encoder",
                str(root / "face.safetensors"),
                "--hand-encoder",
                str(root / "hand.safetensors"),
                "--out",
                str(root / out),
                "--frames-per-batch",
                str(frames_per_batch),
                "--workers",
                str(workers),
                "--no-progress",
            ]
        )
        if code != 0:
            raise RuntimeError(f"extract exited with {code}")

    return ours


def memory_side(
    side: str, root: str, img_size: int, shape: dict[str, int], frames_per_batch: int, workers: int
) -> Callable[[], None]:
    """Memory probe on a folder :func:`prepare` wrote: set up ``side`` ("floor" or "ours"), return its work."""
    os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", str(Path(root) / "cache"))
    if side == "floor":
        return floor_pass(Path(root), img_size, shape, frames_per_batch * 3)
    return extract_command(Path(root), "features-memory", frames_per_batch, workers)


def run(
    clips: int = 4,
    frames: int = 24,
    img_size: int = 224,
    shape: dict[str, int] | None = None,
    frames_per_batch: int = 32,
    workers: int = 1,
    runs: int = 2,
    memory: bool = True,
) -> list[dict[str, Any]]:
    """Crops/s of ours and the floor, interleaved, best of ``runs`` each (after one floor warm-up)."""
    shape = shape or {}
    root = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", str(root / "cache"))
    try:
        prepare(root, clips, frames, img_size, shape)
        crops_total = clips * frames * 3
        bare = floor_pass(root, img_size, shape, frames_per_batch * 3)
        bare()  # warm-up
        timings: dict[str, list[float]] = {"bare": [], "ours": []}
        for run_index in range(runs):  # interleaved
            start = time.perf_counter()
            bare()
            timings["bare"].append(time.perf_counter() - start)
            start = time.perf_counter()
            extract_command(root, f"features{run_index}", frames_per_batch, workers)()
            timings["ours"].append(time.perf_counter() - start)
        if memory:
            peaks, note = rss_peaks(
                "benchmarks.extract:memory_side",
                "the work: one pass over all crops "
                "(ours: the whole command, less its loader worker process, which is not counted)",
                root=str(root),
                img_size=img_size,
                shape=shape,
                frames_per_batch=frames_per_batch,
                workers=workers,
            )
        else:
            peaks, note = None, ""
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bare_rate, ours_rate = crops_total / min(timings["bare"]), crops_total / min(timings["ours"])
    model = f"vit_small_patch14_reg4_dinov2 {shape or '(ViT-S/14-reg4)'} at {img_size} px, random weights"
    return [
        result(
            "signmusketeers extract",
            ours_rate,
            bare_rate,
            "crops/s",
            GOAL,
            settings={
                "encoders": model,
                "crops": f"{clips} clips x {frames} frames x 3 = {crops_total}",
                "frames per batch": frames_per_batch,
                "loader workers": workers,
                "device": "cpu",
                "threads": torch.get_num_threads(),
                "runs (best of)": runs,
            },
            peak_mib=peaks,
            memory_note=note,
            details={"seconds per run": timings},
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--embed-dim", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--num-heads", type=int, default=None)
    parser.add_argument("--frames-per-batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="timed runs of each side (best of)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()
    shape = {
        k: v
        for k, v in (("embed_dim", args.embed_dim), ("depth", args.depth), ("num_heads", args.num_heads))
        if v is not None
    }
    results = run(
        args.clips,
        args.frames,
        args.img_size,
        shape,
        args.frames_per_batch,
        args.workers,
        args.runs,
        not args.no_memory,
    )
    print(f"settings: {results[0]['settings']}")
    print_results(results)
    write_json(results, args.json)


if __name__ == "__main__":
    main()
