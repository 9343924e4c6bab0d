"""Translation training step on cached features vs. the bare HF T5 step it wraps.

Ours: ``TranslationModule`` forward (stream fusion → T5 with ``inputs_embeds`` → label-smoothed cross-entropy) +
backward + AdamW step, on a padded batch from ``FeatureCollator`` (cached float16 features).
Floor: ``T5ForConditionalGeneration(inputs_embeds=..., attention_mask=..., labels=...)`` forward + backward + AdamW
step, with random ``inputs_embeds`` of the same ``(B, T, d_model)`` shape, the same T5 and the same labels.
Goal: ratio ours / floor ≤ 1.05. The T5 is randomly initialised (no download): ``--size base`` is T5.1.1-Base's
shape (the paper's), ``--size small`` a 4-layer d_model 256 model that runs quickly on a CPU.

    PYTHONPATH=. python benchmarks/translate_step.py --size small --batch 16 --frames 100 --repeats 10

``run()`` returns the figures as records (``benchmarks/common.py``); ``--json OUT`` writes them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, rss_peaks, write_json
from signmusketeers.translate import TranslationModule
from signmusketeers.translate.datamodule import FeatureCollator

SIZES = {
    # T5.1.1-Base, with its 32128-entry output layer (the byte-level labels use only the first 384 ids)
    "base": {"d_model": 768, "d_ff": 2048, "num_layers": 12, "num_heads": 12, "d_kv": 64, "vocab_size": 32128},
    "small": {"d_model": 256, "d_ff": 512, "num_layers": 4, "num_heads": 4, "d_kv": 64},
}
GOAL = goal("<=", 1.05)  # our step costs at most 5% more than the bare HF T5 step
SENTENCE = "And then I went to the store to buy some bread and a bottle of milk for breakfast."


def records(batch: int, frames: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {
            "face": rng.standard_normal((frames - k, 384)).astype(np.float16),
            "left": rng.standard_normal((frames - k, 384)).astype(np.float16),
            "right": rng.standard_normal((frames - k, 384)).astype(np.float16),
            "pose": rng.random((frames - k, 14)).astype(np.float32),
            "text": SENTENCE[: 40 + 2 * k],
            "clip_id": f"c{k}",
        }
        for k in range(batch)
    ]


def timed(step, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TranslateBench:
    """A randomly initialised TranslationModule, a padded feature batch and the two training steps."""

    module: TranslationModule
    batch: dict
    ours: Callable[[], None]
    bare: Callable[[], None]
    config: dict


def build(
    size: str = "small", batch_size: int = 16, frames: int = 100, device: torch.device | None = None
) -> TranslateBench:
    device = device or _device()
    config = {**SIZES[size], "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "dropout_rate": 0.0}
    torch.manual_seed(0)
    module = TranslationModule(t5=config, tokenizer="byt5").to(device).train()
    batch = FeatureCollator(module.tokenizer)(records(batch_size, frames))
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    ours_optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def ours() -> None:
        loss = module(batch)
        loss.backward()
        ours_optimizer.step()
        ours_optimizer.zero_grad(set_to_none=True)

    bare_t5 = module.t5  # the same network: the difference is only what we add around it
    embeds = torch.randn(batch_size, batch["attention_mask"].shape[1], config["d_model"], device=device)
    bare_optimizer = torch.optim.AdamW(bare_t5.parameters(), lr=1e-4)

    def bare() -> None:
        loss = bare_t5(inputs_embeds=embeds, attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
        loss.backward()
        bare_optimizer.step()
        bare_optimizer.zero_grad(set_to_none=True)

    return TranslateBench(module, batch, ours, bare, config)


def memory_side(side: str, size: str, batch_size: int, frames: int) -> Callable[[], None]:
    """Memory probe (CPU): build, and return one step of ``side`` ("floor" or "ours")."""
    bench = build(size, batch_size, frames, torch.device("cpu"))
    return bench.bare if side == "floor" else bench.ours


def run(
    size: str = "small", batch_size: int = 16, frames: int = 100, repeats: int = 10, memory: bool = True
) -> list[dict]:
    """Median ms/step of ours and the bare HF step, interleaved (one warm-up each)."""
    device = _device()
    bench = build(size, batch_size, frames, device)
    ours_times: list[float] = []
    bare_times: list[float] = []
    for _ in range(repeats):
        bare_times += timed(bench.bare, 1, warmup=1 if not bare_times else 0)
        ours_times += timed(bench.ours, 1, warmup=1 if not ours_times else 0)
    ours_s, bare_s = statistics.median(ours_times), statistics.median(bare_times)
    if device.type == "cuda":
        from benchmarks.common import cuda_peak_mib

        peaks = {"ours": cuda_peak_mib(bench.ours), "floor": cuda_peak_mib(bench.bare)}
        note = "torch.cuda.max_memory_allocated during one step"
    elif memory:
        peaks, note = rss_peaks(
            "benchmarks.translate_step:memory_side",
            "the work: one step (the first)",
            size=size,
            batch_size=batch_size,
            frames=frames,
        )
    else:
        peaks, note = None, ""
    config = bench.config
    return [
        result(
            "TranslationModule step",
            ours_s * 1000,
            bare_s * 1000,
            "ms/step",
            GOAL,
            settings={
                "T5": f"{size}: d_model {config['d_model']}, {config['num_layers']}+{config['num_layers']} layers, "
                "random weights",
                "batch": f"{batch_size} clips x up to {frames} frames",
                "label tokens": int(bench.batch["labels"].shape[1]),
                "device": str(device),
                "threads": torch.get_num_threads(),
                "repeats (median)": repeats,
            },
            peak_mib=peaks,
            memory_note=note,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-memory", action="store_true", help="skip the CPU peak-memory probes")
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()
    results = run(args.size, args.batch, args.frames, args.repeats, not args.no_memory)
    print(f"settings: {results[0]['settings']}")
    print_results(results)
    write_json(results, args.json)


if __name__ == "__main__":
    main()
