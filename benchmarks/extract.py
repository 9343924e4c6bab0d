"""Extraction throughput vs. a bare timm ViT forward on the same crops.

Ours: the ``signmusketeers extract`` pipeline on a clip shard folder — reading records, JPEG decoding in a loader
worker, uint8 → normalised float, the face encoder on face crops and the hand encoder on both hand crops, batched
across clips, and writing feature shards (``ShardWriter``).
Floor: ``timm`` ``forward_features(x)[:, 0]`` of the same ViT on the same crops, already decoded and normalised in
memory, in batches of the same size (the network alone, nothing else).
Goal: throughput ratio ours / floor ≥ 0.95. Encoders are randomly initialised ViT-S/14-reg4 (the paper's shape; no
download); ``--img-size``/``--embed-dim``/``--depth`` make smaller ones.

    PYTHONPATH=. python benchmarks/extract.py --clips 4 --frames 24
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signmusketeers.cli import main as cli_main  # noqa: E402
from signmusketeers.data.shards import ShardWriter, pack_jpegs, unpack_jpegs, open_dataset  # noqa: E402
from signmusketeers.translate.encoders import build_encoder, save_encoder  # noqa: E402


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
            writer.write(f"clip{index}", [{
                "crops": data, "offsets": offsets, "pose": rng.random((frames, 14)).astype(np.float32),
                "frames": np.arange(frames), "text": "a sentence", "split": "train", "clip_id": f"clip{index}",
            }])
        writer.finish()


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
    args = parser.parse_args()
    shape = {k: v for k, v in (("embed_dim", args.embed_dim), ("depth", args.depth), ("num_heads", args.num_heads))
             if v is not None}
    root = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", str(root / "cache"))
    try:
        write_clips(root / "clips", args.clips, args.frames, args.img_size)
        face = save_encoder(build_encoder(img_size=args.img_size, seed=1, **shape), root / "face")
        hand = save_encoder(build_encoder(img_size=args.img_size, seed=2, **shape), root / "hand")
        crops_total = args.clips * args.frames * 3

        # Floor: the bare timm network on the same crops, decoded and normalised beforehand.
        dataset = open_dataset(root / "clips", kind="clips")
        decoded = np.concatenate([np.stack(unpack_jpegs(dataset[i]["crops"], dataset[i]["offsets"]))
                                  for i in range(len(dataset))])
        network = build_encoder(img_size=args.img_size, seed=1, **shape)
        images = network.preprocess(torch.from_numpy(decoded))
        backbone = network.backbone.eval()
        crops_per_batch = args.frames_per_batch * 3

        def bare() -> None:
            with torch.no_grad():
                for start in range(0, len(images), crops_per_batch):
                    backbone.forward_features(images[start : start + crops_per_batch])[:, 0]

        def ours(run: int) -> None:
            code = cli_main(["extract", str(root / "clips"), "--face-encoder", str(face), "--hand-encoder", str(hand),
                             "--out", str(root / f"features{run}"), "--frames-per-batch", str(args.frames_per_batch),
                             "--workers", str(args.workers), "--no-progress"])
            assert code == 0

        bare()  # warm-up
        timings = {"bare": [], "ours": []}
        for run in range(2):  # interleaved, best of two each
            start = time.perf_counter()
            bare()
            timings["bare"].append(time.perf_counter() - start)
            start = time.perf_counter()
            ours(run)
            timings["ours"].append(time.perf_counter() - start)
        bare_rate, ours_rate = crops_total / min(timings["bare"]), crops_total / min(timings["ours"])
        print(f"ViT {network.spec.model_name} {shape or 'ViT-S/14'} at {args.img_size} px, {args.clips} clips x "
              f"{args.frames} frames x 3 crops = {crops_total} crops, device cpu, threads {torch.get_num_threads()}")
        print(f"bare timm forward_features: {bare_rate:8.1f} crops/s")
        print(f"signmusketeers extract    : {ours_rate:8.1f} crops/s (shard read, JPEG decode, encode, write)")
        print(f"throughput ratio ours / bare: {ours_rate / bare_rate:.3f} (goal >= 0.95)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
