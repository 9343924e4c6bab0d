"""Pre-training fed end to end: the real crop-shard loader (read, JPEG decode, multi-crop views, collation,
transfer) against the same training step on tensors already on the device, for both augmentation paths; the CPU
cost of each input stage per image; and the time to find a resumed part stream's position at paper scale.

- **End to end**: ``CropShardDataModule(part="face")`` over a crop folder of real signing-video crops (224 px JPEGs
  cut from ``../shared/data/clips``; smooth synthetic images where that folder is absent) feeds
  ``DinoV2PretrainModule`` steps at Table 7's crop sizes (2 × 224 + 8 × 98); floor: the same step on one batch
  already on the device. Images/s each; goal ≥ 0.95× the floor. ``augment_on="cpu"`` builds the views in the
  loader workers; ``augment_on="device"`` draws parameters in the workers and builds the views after the transfer.
- **Stage costs** (one thread, CPU time per image, medians): shard read, JPEG decode, the CPU path's multi-crop,
  its collation, the device path's parameter drawing and collation, and the device path's view building run on
  the CPU. Goal: the device path's loader work (what the workers do per image) ≤ 0.1× the CPU path's (floor),
  i.e. a tenth of the cores. ``cores per device`` = the floor's images/s × the loader's CPU seconds per image.
- **Resume position**: ``EndlessPartStream.position`` on a synthetic index (no data files) of 2M crops, half of
  each part, in 500 chunks, resumed after 10M crops of the part (five passes over each part, ten effective
  epochs); floor: reading the records that the former skip read (extrapolated from the measured read time per
  record with the folder in the page cache, as reading 20M records is not run: a lower bound, since a real
  folder of that size is read from disk or object storage). Goal: under 1 s (the ratio's goal: ≤ 1 s / floor).

    PYTHONPATH=. python benchmarks/input_pipeline.py                          # CPU, small ViT, a few steps
    PYTHONPATH=. python benchmarks/input_pipeline.py --device cuda --model vits --batch 128 --workers 4 \
        --precision bf16 --steps 20

``--json OUT`` writes the records (``benchmarks/common.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, goal, print_results, result, sync, write_json

END_TO_END_GOAL = goal(">=", 0.95)
LOADER_GOAL = goal("<=", 0.1)  # the device path's loader work at most a tenth of the CPU path's
RESUME_SECONDS = 1.0
CLIPS = ROOT.parent / "shared" / "data" / "clips"
CROP = 224


# ---- a crop folder -----------------------------------------------------------------------------------------------


def crop_images(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` 224-px RGB crops: random squares of real signing-video frames (or smooth synthetic images)."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = []
    clip = CLIPS / "signer_blue_screen.mp4"
    if clip.exists():
        import av

        with av.open(str(clip)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 3 == 0:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) >= max(4, n // 6):
                    break
    images = []
    for i in range(n):
        if frames:
            frame = frames[i % len(frames)]
            side = int(rng.integers(min(frame.shape[:2]) // 4, min(frame.shape[:2]) // 2))
            y, x = rng.integers(0, frame.shape[0] - side), rng.integers(0, frame.shape[1] - side)
            images.append(cv2.resize(frame[y : y + side, x : x + side], (CROP, CROP), interpolation=cv2.INTER_AREA))
        else:
            yy, xx = np.mgrid[:CROP, :CROP] / CROP
            base = np.stack([np.sin(6 * xx + i), np.cos(5 * yy - i), np.sin(4 * (xx + yy))], -1)
            images.append(((base + 1) * 127 + rng.normal(0, 4, base.shape)).clip(0, 255).astype(np.uint8))
    return images


def write_crop_folder(folder: Path, images: list[np.ndarray]) -> Path:
    from signmusketeers.data.shards import ShardWriter
    from signmusketeers.formats.records import encode_jpeg

    with ShardWriter(folder, "crops", {"command": "benchmarks/input_pipeline.py"}) as writer:
        for i, image in enumerate(images):
            writer.write(
                f"crop{i:06d}",
                [
                    {
                        "image": encode_jpeg(image),
                        "part": "face",
                        "side": "face",
                        "clip_id": f"crop{i:06d}",
                        "frame": np.asarray([0], np.int64),
                    }
                ],
            )
        writer.finish()
    return folder


# ---- stage costs -------------------------------------------------------------------------------------------------


def _core_ms(function, repeats: int) -> float:
    """Median CPU time (this thread) of ``function()`` in ms."""
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        function()
        times.append(time.thread_time() - start)
    return 1000 * statistics.median(times)


def stage_costs(folder: Path, images: int = 24, batch: int = 8) -> dict[str, float]:
    """Core-ms per image of each input stage (one thread)."""
    from litdata import StreamingDataset
    from PIL import Image

    from signmusketeers.formats.records import decode_jpeg
    from signmusketeers.pretrain.augment import (
        DeviceMultiCrop,
        MultiCropAugmentation,
        collate_device_views,
        collate_multicrop,
        draw_view_params,
    )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dataset = StreamingDataset(str(folder), shuffle=False)
        records = [dataset[i] for i in range(images)]
        costs = {"shard read": statistics.median(_core_ms(lambda i=i: dataset[i], 3) for i in range(images))}
        decoded = [decode_jpeg(r["image"]) for r in records]
        costs["JPEG decode"] = statistics.median(_core_ms(lambda r=r: decode_jpeg(r["image"]), 3) for r in records)
        cpu = MultiCropAugmentation()
        costs["CPU path: multi-crop views"] = statistics.median(
            _core_ms(lambda d=d, i=i: cpu(Image.fromarray(d), i), 1) for i, d in enumerate(decoded)
        )
        views = [cpu(Image.fromarray(d), i) for i, d in enumerate(decoded[:batch])]
        costs["CPU path: collation"] = _core_ms(lambda: collate_multicrop(views), 3) / batch
        costs["device path: parameters"] = statistics.median(
            _core_ms(lambda i=i: draw_view_params(i, CROP, CROP), 3) for i in range(images)
        )
        samples = [
            {"image": torch.from_numpy(d).permute(2, 0, 1).contiguous(), "params": draw_view_params(i, CROP, CROP)}
            for i, d in enumerate(decoded[:batch])
        ]
        costs["device path: collation"] = _core_ms(lambda: collate_device_views(samples), 3) / batch
        collated = collate_device_views(samples)
        device_views = DeviceMultiCrop()
        costs["device path: views built on the CPU"] = (
            _core_ms(lambda: device_views(collated["images"], collated["params"]), 2) / batch
        )
    finally:
        torch.set_num_threads(threads)
    costs["CPU path loader (read + decode + views + collation)"] = (
        costs["shard read"] + costs["JPEG decode"] + costs["CPU path: multi-crop views"] + costs["CPU path: collation"]
    )
    costs["device path loader (read + decode + parameters + collation)"] = (
        costs["shard read"] + costs["JPEG decode"] + costs["device path: parameters"] + costs["device path: collation"]
    )
    return costs


# ---- end to end --------------------------------------------------------------------------------------------------


def build_module(model: str, device: str):
    from signmusketeers.pretrain import DinoV2PretrainModule

    torch.manual_seed(0)
    if model == "tiny":  # a 64-wide, 2-deep ViT-S/14 shape at Table 7's crop sizes
        module = DinoV2PretrainModule(
            model_kwargs=dict(img_size=CROP, embed_dim=64, depth=2, num_heads=2),
            n_prototypes=4096,
            head_hidden_dim=256,
            head_bottleneck_dim=64,
        )
    else:
        module = DinoV2PretrainModule()
    module = module.to(device)
    module.mask_rng.seed(0)
    return module


def make_step(module, optimizer, device: str, precision: str) -> Callable[[dict[str, torch.Tensor]], None]:
    """One scheduled training step of ``module`` on a batch of views (iterations counted from 0)."""
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
    iteration = [0]

    def step(views: dict[str, torch.Tensor]) -> None:
        i = iteration[0]  # the schedules run far longer than a benchmark
        iteration[0] += 1
        module.apply_optimizer_schedules(optimizer, i)
        with autocast:
            loss = module.training_step(views, i)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        module.configure_gradient_clipping(optimizer)
        optimizer.step()
        module.update_teacher(module.schedules.momentum[i])

    return step


def images_per_second(step, next_views, steps: int, batch: int, device: str, warmup: int) -> float:
    """Images/s of ``steps`` steps on ``next_views()`` batches, after ``warmup`` untimed steps."""
    for _ in range(warmup):
        step(next_views())
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(next_views())
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def end_to_end(
    folder: Path, model: str, device: str, batch: int, workers: int, steps: int, precision: str, rounds: int = 2
) -> dict[str, Any]:
    """Images/s of ``steps`` training steps fed by each loader path and on one on-device batch (floor)."""
    from signmusketeers.data import CropShardDataModule

    module = build_module(model, device)
    optimizer = module.configure_optimizers()
    module.schedules = module.build_schedules(batch)
    step = make_step(module, optimizer, device, precision)

    def datamodule(augment_on: str) -> CropShardDataModule:
        data = CropShardDataModule(
            str(folder), part="face", batch_size=batch, num_workers=workers, seed=0, augment_on=augment_on
        )
        data.setup("fit")
        return data

    def fed(augment_on: str) -> float:
        data = datamodule(augment_on)
        loader = iter(data.train_dataloader())
        target = torch.device(device)

        def next_views() -> dict[str, torch.Tensor]:
            moved = data.transfer_batch_to_device(next(loader), target, 0)
            return data.on_after_batch_transfer(moved, 0)

        # the warm-up starts the workers and drains their first prefetched batches
        rate = images_per_second(step, next_views, steps, batch, device, warmup=2 * max(workers, 1) + 1)
        loader = None  # stops the workers before the next block
        return rate

    data = datamodule("cpu")
    fixed = {k: v.to(device) for k, v in next(iter(data.train_dataloader())).items()}
    rates: dict[str, list[float]] = {"floor": [], "cpu": [], "device": []}
    for _ in range(rounds):  # alternate, so that load from other processes hits all three alike
        rates["floor"].append(images_per_second(step, lambda: fixed, steps, batch, device, warmup=1))
        rates["cpu"].append(fed("cpu"))
        rates["device"].append(fed("device"))
    return {key: statistics.median(values) for key, values in rates.items()}


# ---- resume position ---------------------------------------------------------------------------------------------


def synthetic_index(folder: Path, records: int = 2_000_000, chunks: int = 500, seed: int = 0) -> Path:
    """A crop folder's ``index.json`` and part index with no chunk files: enough to plan and position a stream."""
    from signmusketeers.formats.records import write_part_index

    folder.mkdir(parents=True, exist_ok=True)
    per_chunk = records // chunks
    index = {
        "chunks": [
            {"chunk_bytes": per_chunk * 20_000, "chunk_size": per_chunk, "dim": None, "filename": f"chunk-0-{i}.bin"}
            for i in range(chunks)
        ],
        "config": {
            "chunk_bytes": 64_000_000,
            "chunk_size": None,
            "compression": None,
            "data_format": ["numpy", "str", "str", "str", "numpy"],
            "data_spec": None,
            "encryption": None,
            "item_loader": "PyTreeLoader",
        },
        "updated_at": "0",
    }
    (folder / "index.json").write_text(json.dumps(index))
    parts = np.random.default_rng(seed).permutation(np.arange(records) % 2).astype(np.uint8)
    write_part_index(folder, parts)
    return folder


def resume_position(folder: Path, skip: int, batch: int = 128) -> tuple[float, Any]:
    """Seconds to compute a single reader's position after ``skip`` crops of the face part."""
    from signmusketeers.data.part_index import read_part_index
    from signmusketeers.pretrain.datamodule import CropRecordTransform, EndlessPartStream, SeededCropDataset

    start = time.perf_counter()
    dataset = SeededCropDataset(
        str(folder), CropRecordTransform(str(folder), None, "face"), 0, shuffle=True, drop_last=True
    )
    stream = EndlessPartStream(dataset, batch, read_part_index(folder))
    position = stream.position(skip)
    return time.perf_counter() - start, position


# ---- run ---------------------------------------------------------------------------------------------------------


def run(
    model: str = "tiny",
    device: str = "cpu",
    batch: int = 4,
    workers: int = 1,
    steps: int = 4,
    precision: str = "fp32",
    crops: int = 96,
    resume_views: int = 10_000_000,
) -> list[dict]:
    records = []
    with tempfile.TemporaryDirectory(prefix="input-pipeline-") as tmp:
        folder = write_crop_folder(Path(tmp) / "crops", crop_images(crops))
        costs = stage_costs(folder)
        rates = end_to_end(folder, model, device, batch, workers, steps, precision)
        # a position inside a chunk, several passes in
        elapsed, position = resume_position(synthetic_index(Path(tmp) / "index"), resume_views - 1234)
    model_name = "ViT-S/14-reg4, Table 7 heads" if model == "vits" else "tiny ViT (64x2) at 224 px"
    settings = {
        "model": model_name,
        "crops": "2 x 224 + 8 x 98 per image",
        "batch": batch,
        "loader workers": workers,
        "device": device,
        "precision": precision,
        "timed steps": steps,
    }
    for path in ("cpu", "device"):
        loader_ms = costs[
            [k for k in costs if k.startswith(f"{path.upper() if path == 'cpu' else path} path loader")][0]
        ]
        details = {
            "images/s fed by the loader": rates[path],
            "images/s on device tensors (floor)": rates["floor"],
            "loader core-ms per image": loader_ms,
            "CPU cores per device to feed the floor's images/s": rates["floor"] * loader_ms / 1000,
        }
        records.append(
            result(
                f"pre-training fed by the loader, augment_on={path!r}",
                rates[path],
                rates["floor"],
                "images/s",
                END_TO_END_GOAL,
                settings,
                details=details,
            )
        )
    cpu_ms = costs["CPU path loader (read + decode + views + collation)"]
    device_ms = costs["device path loader (read + decode + parameters + collation)"]
    records.append(
        result(
            "loader CPU per image, augment_on='device' vs 'cpu'",
            device_ms,
            cpu_ms,
            "core-ms",
            LOADER_GOAL,
            {"threads": 1, "crop": "224 px JPEG (quality 95)", "floor": "the CPU path's loader work"},
            details=dict(costs),
        )
    )
    reread = resume_views * 2 * costs["shard read"] / 1000  # the former skip read every record of both parts
    records.append(
        result(
            f"resume position after {resume_views:,} crops of a part",
            elapsed,
            reread,
            "s",
            goal("<=", RESUME_SECONDS / reread),
            {"index": "2,000,000 crops (half each part) in 500 chunks, synthetic", "readers": 1},
            details={
                "seconds to compute": elapsed,
                f"goal < {RESUME_SECONDS:g} s": elapsed < RESUME_SECONDS,
                "position (pass, chunk, offset)": f"{position.epoch}, {position.chunk}, {position.offset}",
                "records the former skip read": 2 * resume_views,
            },
        )
    )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "vits"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per block (two blocks per side)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--crops", type=int, default=96, help="crops in the temporary shard folder")
    parser.add_argument("--resume-views", type=int, default=10_000_000)
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("benchmarks/input_pipeline.py: no CUDA device here")
    results = run(
        args.model, args.device, args.batch, args.workers, args.steps, args.precision, args.crops, args.resume_views
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print_results(results)
    for r in results:
        print(f"  {r['name']}:")
        for key, value in r["details"].items():
            print(f"    {key}: {value:.2f}" if isinstance(value, float) else f"    {key}: {value}")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
