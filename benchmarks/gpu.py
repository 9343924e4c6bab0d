"""GPU figures: pre-training images/s and extraction crops/s on ViT-S/14-reg4 at 224 px in bf16, the T5.1.1-Base
translation step, each against its floor, and the projected GPU-hours of the paper's YT→H2S recipe.

- Pre-training: ``DinoV2PretrainModule`` steps (Table 7 model and heads, random weights) under bf16 autocast at the
  largest of Table 7's per-GPU batch (128) and its halvings that fits in memory; floor as in ``pretrain_step.py``.
- Extraction: the frozen ``CropEncoder`` (uint8 crops already on the GPU → normalise → ViT → CLS) under bf16
  autocast; floor: the bare timm ``forward_features`` on crops normalised beforehand. JPEG decoding and shard I/O
  are left out (they run in loader workers beside the GPU).
- Translation: ``TranslationModule`` step with T5.1.1-Base's shape at batch 16 (Table 8), fp32 as in Table 8.
- Pre-training end to end: the same step fed by ``CropShardDataModule`` (``augment_on="device"``, 4 loader workers)
  from a crop shard folder, against the step on a batch already on the GPU (``benchmarks/input_pipeline.py``); the
  CPU path is measured beside it, with the CPU cores each path needs per GPU.
- Validation: ``TranslationModule.generate`` (beam search, 5 beams) on a batch of 16 clips, every hypothesis
  generated to the full 128 tokens (random weights do not stop reliably on their own: an upper bound), against the
  bare HF ``generate`` on random embeddings of the same shape.

The projection uses the end-to-end pre-training images/s and the validation seconds per clip.

Needs a CUDA device; ``--device cpu --tiny`` runs the same code on small models to check it.

    PYTHONPATH=. python benchmarks/gpu.py [--json OUT]

The JSON also records the machine, the time and the command, so that ``run_all.py --gpu-json OUT`` can put figures
measured on a GPU host into BENCHMARKS.md beside the CPU figures of another machine.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import input_pipeline, pretrain_step, translate_step
from benchmarks.common import machine, print_results, result, timed_seconds
from benchmarks.projection import Recipe, project_gpu_hours
from signmusketeers.pretrain.encoder import build_encoder

PRETRAIN_BATCHES = (128, 64, 32, 16, 8)  # Table 7: 128 per GPU, halved while it does not fit
EXTRACT_BATCH = 384  # crops per forward (128 frames × 3 crops, the extract command's default)
TRANSLATE_BATCH = 16  # Table 8: 16 per GPU
TRANSLATE_FRAMES = 128  # assumed clip length after stride 2 (about 8.5 s at 30 fps)


def _peak(function: Callable[[], None], device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    function()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def pretrain(
    device: str = "cuda",
    steps: int = 10,
    tiny: bool = False,
    batches: tuple[int, ...] = PRETRAIN_BATCHES,
    compile_losses: bool = False,
) -> dict[str, Any]:
    """Images/s of the DINOv2 step (ours) and its floor at the largest batch of ``batches`` that fits."""
    for batch in batches:
        out_of_memory = False
        try:
            bench = pretrain_step.build(batch, device, "bf16", tiny, compile_losses)
            for i in range(3 if compile_losses else 2):  # warm-up (cuBLAS choices, optimizer state, compiling)
                bench.floor_step(i)
                bench.our_step(i)
            # Interleave one of each per iteration so that clocks and load affect both alike; medians.
            ours_times, floor_times = [], []
            for i in range(steps):
                floor_times += timed_seconds(lambda i=i, bench=bench: bench.floor_step(i), device, 1)
                ours_times += timed_seconds(lambda i=i, bench=bench: bench.our_step(i), device, 1)
            peaks = {
                "ours": _peak(lambda bench=bench: bench.our_step(0), device),
                "floor": _peak(lambda bench=bench: bench.floor_step(0), device),
            }
        except torch.cuda.OutOfMemoryError:
            out_of_memory = True
        bench = None
        _free(device)  # outside the except block, so that the traceback no longer holds the tensors
        if out_of_memory:
            continue
        ours_ms, floor_ms = 1000 * statistics.median(ours_times), 1000 * statistics.median(floor_times)
        return result(
            "pre-training step (GPU, bf16" + (", compile_losses)" if compile_losses else ")"),
            ours_ms,
            floor_ms,
            "ms/step",
            pretrain_step.GOAL,
            settings={
                "model": "tiny ViT (64x2, 56 px)" if tiny else "ViT-S/14-reg4, Table 7 heads, 224 + 98 px crops",
                "batch per GPU": batch,
                "precision": "bf16 autocast",
                "compile_losses": compile_losses,
                "device": device,
                "steps (median)": steps,
            },
            peak_mib=peaks if peaks["ours"] is not None else None,
            memory_note="torch.cuda.max_memory_allocated during one step",
            details={"images/s (ours)": batch / ours_ms * 1000, "images/s (floor)": batch / floor_ms * 1000},
        )
    raise RuntimeError(f"pre-training does not fit on {device} even at batch {batches[-1]}")


def extract(device: str = "cuda", batches: int = 20, tiny: bool = False, batch: int = EXTRACT_BATCH) -> dict[str, Any]:
    """Crops/s of the frozen encoder (ours: uint8 → normalise → ViT → CLS) and the bare network (floor)."""
    shape = dict(img_size=56, embed_dim=64, depth=2, num_heads=2) if tiny else {}
    encoder = build_encoder(**shape).to(device)
    size = encoder.spec.img_size
    crops = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, device=device)
    images = encoder.preprocess(crops)
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)

    def ours() -> None:
        with autocast:
            encoder(crops)

    def floor() -> None:
        with torch.no_grad(), autocast:
            encoder.backbone.forward_features(images)[:, 0]

    for _ in range(3):
        ours()
        floor()
    ours_times, floor_times = [], []
    for _ in range(batches):
        floor_times += timed_seconds(floor, device, 1)
        ours_times += timed_seconds(ours, device, 1)
    peaks = {"ours": _peak(ours, device), "floor": _peak(floor, device)}
    encoder = crops = images = None  # frees the device memory before the next measurement
    _free(device)
    ours_rate, floor_rate = batch / statistics.median(ours_times), batch / statistics.median(floor_times)
    from benchmarks.extract import GOAL

    return result(
        "extraction encoder (GPU, bf16)",
        ours_rate,
        floor_rate,
        "crops/s",
        GOAL,
        settings={
            "model": "tiny ViT (64x2, 56 px)" if tiny else "ViT-S/14-reg4 at 224 px, frozen",
            "crops per forward": batch,
            "precision": "bf16 autocast",
            "device": device,
            "forwards (median)": batches,
        },
        peak_mib=peaks if peaks["ours"] is not None else None,
        memory_note="torch.cuda.max_memory_allocated during one forward",
    )


def translate(
    device: str = "cuda", repeats: int = 10, tiny: bool = False, frames: int = TRANSLATE_FRAMES
) -> dict[str, Any]:
    """Seconds per T5.1.1-Base training step at batch 16, fp32 (Table 8), and the bare HF step."""
    size = "small" if tiny else "base"
    bench = translate_step.build(size, TRANSLATE_BATCH, frames, torch.device(device))
    for _ in range(2):
        bench.bare()
        bench.ours()
    ours_times, floor_times = [], []
    for _ in range(repeats):
        floor_times += timed_seconds(bench.bare, device, 1)
        ours_times += timed_seconds(bench.ours, device, 1)
    peaks = {"ours": _peak(bench.ours, device), "floor": _peak(bench.bare, device)}
    label_tokens = int(bench.batch["labels"].shape[1])
    del bench
    _free(device)
    return result(
        "translation step (GPU, fp32)",
        1000 * statistics.median(ours_times),
        1000 * statistics.median(floor_times),
        "ms/step",
        translate_step.GOAL,
        settings={
            "T5": f"{size} shape, random weights",
            "batch per GPU": TRANSLATE_BATCH,
            "labels": f"{label_tokens} byte-level tokens (offline tokenizer)",
            "frames per clip": f"{frames} (assumed)",
            "precision": "fp32",
            "device": device,
            "steps (median)": repeats,
        },
        peak_mib=peaks if peaks["ours"] is not None else None,
        memory_note="torch.cuda.max_memory_allocated during one step",
    )


def pretrain_end_to_end(
    device: str = "cuda", steps: int = 10, tiny: bool = False, batch: int = 128, workers: int = 4
) -> dict[str, Any]:
    """Images/s of pre-training steps fed by the crop loader (device path; the CPU path beside it) and on a batch
    already on the device, with the CPU cores per GPU each loader path needs at the on-device rate."""
    with tempfile.TemporaryDirectory(prefix="gpu-input-") as tmp:
        folder = input_pipeline.write_crop_folder(Path(tmp) / "crops", input_pipeline.crop_images(max(256, 2 * batch)))
        costs = input_pipeline.stage_costs(folder)
        rates = input_pipeline.end_to_end(folder, "tiny" if tiny else "vits", device, batch, workers, steps, "bf16")
    _free(device)
    cpu_ms = costs["CPU path loader (read + decode + views + collation)"]
    device_ms = costs["device path loader (read + decode + parameters + collation)"]
    return result(
        "pre-training fed end to end (GPU, bf16, augment_on='device')",
        rates["device"],
        rates["floor"],
        "images/s",
        input_pipeline.END_TO_END_GOAL,
        settings={
            "model": "tiny ViT (64x2) at 224 px" if tiny else "ViT-S/14-reg4, Table 7 heads, 224 + 98 px crops",
            "batch per GPU": batch,
            "loader workers": workers,
            "precision": "bf16 autocast",
            "device": device,
            "steps per block": steps,
        },
        details={
            "images/s, augment_on='cpu'": rates["cpu"],
            "images/s on device tensors (floor)": rates["floor"],
            "loader core-ms per image, device path": device_ms,
            "loader core-ms per image, CPU path": cpu_ms,
            "CPU cores per GPU at the floor's rate, device path": rates["floor"] * device_ms / 1000,
            "CPU cores per GPU at the floor's rate, CPU path": rates["floor"] * cpu_ms / 1000,
        },
    )


def validation(
    device: str = "cuda", repeats: int = 3, tiny: bool = False, frames: int = TRANSLATE_FRAMES
) -> dict[str, Any]:
    """Seconds per clip of beam-search validation (5 beams, 128 tokens, batch 16) and of the bare HF generate."""
    size = "small" if tiny else "base"
    bench = translate_step.build(size, TRANSLATE_BATCH, frames, torch.device(device))
    module = bench.module.eval()
    module.t5.generation_config.min_new_tokens = module.hparams.max_new_tokens  # every hypothesis full length
    embeds = torch.randn(
        TRANSLATE_BATCH, bench.batch["attention_mask"].shape[1], module.t5.config.d_model, device=device
    )

    def ours() -> None:
        module.generate(bench.batch)

    @torch.no_grad()
    def floor() -> None:
        module.t5.generate(
            inputs_embeds=embeds,
            attention_mask=bench.batch["attention_mask"],
            num_beams=module.hparams.num_beams,
            max_new_tokens=module.hparams.max_new_tokens,
            do_sample=False,
            decoder_start_token_id=module.t5.config.decoder_start_token_id,
        )

    ours()
    floor()
    ours_times, floor_times = [], []
    for _ in range(repeats):
        floor_times += timed_seconds(floor, device, 1)
        ours_times += timed_seconds(ours, device, 1)
    bench = module = None  # frees the device memory before the next measurement
    _free(device)
    return result(
        "validation beam search (GPU, fp32)",
        statistics.median(ours_times) / TRANSLATE_BATCH,
        statistics.median(floor_times) / TRANSLATE_BATCH,
        "s/clip",
        translate_step.GOAL,
        settings={
            "T5": f"{size} shape, random weights",
            "clips per batch": TRANSLATE_BATCH,
            "beams": 5,
            "tokens": "128 (forced: an upper bound)",
            "frames per clip": f"{frames} (assumed)",
            "device": device,
            "batches (median)": repeats,
        },
    )


def run(device: str = "cuda", tiny: bool = False, steps: int = 10) -> dict[str, Any]:
    """The GPU comparisons (pre-training with and without ``compile_losses``, extraction, translation) and the
    projection from our (not the floor's) throughputs with the library's defaults."""
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True  # what Lightning users get with "high" matmul precision
    batches = (16,) if tiny else PRETRAIN_BATCHES
    pre = pretrain(device, steps, tiny, batches)
    pre_compiled = pretrain(device, steps, tiny, (pre["settings"]["batch per GPU"],), compile_losses=True)
    ext, tra = extract(device, 2 * steps, tiny), translate(device, steps, tiny)
    fed = pretrain_end_to_end(device, steps, tiny, 16 if tiny else pre["settings"]["batch per GPU"])
    val = validation(device, 3, tiny)
    records = [pre, pre_compiled, ext, tra, fed, val]
    images_per_s = fed["ours"]  # end to end: the loader included
    crops_per_s = ext["ours"]
    step_s = tra["ours"] / 1000
    return {
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else device,
        "results": records,
        "projection": project_gpu_hours(images_per_s, crops_per_s, step_s, Recipe(), validate_clip_s=val["ours"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="small models (to check the code on a CPU)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", help="also write the records and the projection to this file")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py: no CUDA device here (use --device cpu --tiny to check the code)")
    started = datetime.datetime.now(datetime.timezone.utc)
    figures = run(args.device, args.tiny, args.steps)
    print(f"device: {figures['device']}")
    print_results(figures["results"])
    hours = figures["projection"]
    print(
        f"projected GPU-hours of YT->H2S: pre-training {hours['pretrain']:.1f} + extraction {hours['extract']:.1f} "
        f"+ translation {hours['translate']:.1f} + validation {hours['validate']:.1f} = {hours['total']:.1f} "
        f"(paper: {hours['paper']:.0f})"
    )
    if args.json:
        command = "PYTHONPATH=. python benchmarks/gpu.py" + "".join(f" {a}" for a in sys.argv[1:])
        figures.update(machine=machine(), started=started.isoformat(), command=command)
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
