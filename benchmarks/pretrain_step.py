"""One DINOv2 pre-training step of DinoV2PretrainModule against its floor, measured in the same run.

Floor: the same student and teacher modules called bare — student backbone forward on the masked global crops and
the local crops, the head on CLS and masked patch tokens, backward of a plain sum, teacher forward (backbone +
head) on the global crops, one AdamW step. Ours: ``training_step`` (masking, Sinkhorn-Knopp targets, DINO + iBOT +
KoLeo losses), backward, per-module gradient clipping, the scheduled AdamW step and the EMA teacher update.
Floor and ours alternate, so a busy machine slows both alike; medians are reported.

    PYTHONPATH=. python benchmarks/pretrain_step.py                 # ViT-S/14-reg4, Table 7 heads, batch 2, CPU
    PYTHONPATH=. python benchmarks/pretrain_step.py --batch 64 --device cuda --precision bf16

Goal: ours / floor ≤ 1.10. ``run()`` returns the figures as records (``benchmarks/common.py``); ``--json OUT``
writes them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, rss_peaks, sync, timed_seconds, write_json
from signmusketeers.pretrain import DinoV2PretrainModule

GOAL = goal("<=", 1.10)  # a DINOv2 step costs at most 10% more than its bare floor


def _peak_mib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**20


def _median_ms(function, device: str, repeats: int = 5) -> float:
    function()  # warm-up
    return statistics.median(timed_seconds(function, device, repeats)) * 1000


def time_pieces(module: DinoV2PretrainModule, optimizer, batch: dict, device: str) -> dict[str, float]:
    """The work a step adds to its floor, each piece alone at the step's sizes."""
    from signmusketeers.pretrain.losses import sinkhorn_knopp

    global_crops = batch["global_crops"].flatten(0, 1)
    n_masked = int(module.sample_masks(global_crops).sum())
    k = module.hparams.n_prototypes
    n_student = global_crops.shape[0] + batch["local_crops"].shape[0] * batch["local_crops"].shape[1] + n_masked
    teacher_logits = torch.randn(n_masked, k, device=device)
    student_logits = torch.randn(n_student, k, device=device, requires_grad=True)
    targets = torch.softmax(torch.randn(n_student, k, device=device), dim=-1)

    def cross_entropy() -> None:
        module.dino_loss([student_logits], [targets]).backward()

    for parameter in module.student.parameters():
        parameter.grad = torch.randn_like(parameter)
    pieces = {
        f"Sinkhorn-Knopp, {n_masked} masked patches x {k}": lambda: sinkhorn_knopp(teacher_logits, 0.04),
        f"cross-entropy fwd+bwd, {n_student} student rows x {k}": cross_entropy,
        "EMA teacher update": lambda: module.update_teacher(0.994),
        "per-module gradient clipping": lambda: module.configure_gradient_clipping(optimizer),
    }
    return {f"{name} (ms)": _median_ms(function, device) for name, function in pieces.items()}


@dataclass
class PretrainBench:
    """A ViT-S/14-reg4 (or tiny) DinoV2PretrainModule with an optimizer, a random batch and the two steps."""

    module: DinoV2PretrainModule
    optimizer: torch.optim.Optimizer
    batch: dict[str, torch.Tensor]
    floor_step: Callable[[int], None]
    our_step: Callable[[int], None]
    global_size: int
    local_size: int


def build(
    batch_size: int = 2, device: str = "cpu", precision: str = "fp32", tiny: bool = False, compile_losses: bool = False
) -> PretrainBench:
    """The module of Table 7 (or a tiny one), a batch of ``batch_size`` images (2 global + 8 local crops each),
    and the floor and our training steps on it."""
    torch.manual_seed(0)
    if tiny:
        module = DinoV2PretrainModule(
            model_kwargs=dict(img_size=56, embed_dim=64, depth=2, num_heads=2),
            n_prototypes=4096,
            head_hidden_dim=256,
            head_bottleneck_dim=64,
            compile_losses=compile_losses,
        )
        global_size, local_size = 56, 28
    else:  # Table 7: ViT-S/14 with 4 registers, heads 3 × 2048 → 256 → 65536 (random weights: same cost)
        module = DinoV2PretrainModule(compile_losses=compile_losses)
        global_size, local_size = 224, 98
    module = module.to(device)
    module.mask_rng.seed(0)
    batch = {
        "global_crops": torch.randn(2, batch_size, 3, global_size, global_size, device=device),
        "local_crops": torch.randn(8, batch_size, 3, local_size, local_size, device=device),
    }
    optimizer = module.configure_optimizers()
    module.schedules = module.build_schedules(batch_size)
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
    student, teacher = module.student, module.teacher

    def floor_step(i: int) -> None:
        global_crops = batch["global_crops"].flatten(0, 1)
        masks = module.sample_masks(global_crops).to(device)
        with autocast:
            with torch.no_grad():
                t = teacher["backbone"](global_crops)
                teacher["dino_head"](t["cls"])
                teacher["dino_head"](t["patch"].flatten(0, 1)[masks.flatten()])
            g = student["backbone"](global_crops, masks=masks)
            local = student["backbone"](batch["local_crops"].flatten(0, 1))
            loss = (
                student["dino_head"](g["cls"]).float().mean()
                + student["dino_head"](local["cls"]).float().mean()
                + student["dino_head"](g["patch"].flatten(0, 1)[masks.flatten()]).float().mean()
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def our_step(i: int) -> None:
        module.apply_optimizer_schedules(optimizer, i)
        with autocast:
            loss = module.training_step(batch, i)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        module.configure_gradient_clipping(optimizer)
        optimizer.step()
        module.update_teacher(module.schedules.momentum[i])

    return PretrainBench(module, optimizer, batch, floor_step, our_step, global_size, local_size)


def memory_side(side: str, batch_size: int, precision: str = "fp32", tiny: bool = False) -> Callable[[], None]:
    """Memory probe (CPU): build, and return one step of ``side`` ("floor" or "ours")."""
    bench = build(batch_size, "cpu", precision, tiny)
    step = bench.floor_step if side == "floor" else bench.our_step
    return lambda: step(0)


def run(
    batch_size: int = 2,
    steps: int = 5,
    device: str = "cpu",
    precision: str = "fp32",
    tiny: bool = False,
    pieces: bool = False,
    memory: bool = True,
) -> list[dict]:
    """Median ms/step of ours and the floor, interleaved in a shuffled order each iteration (one warm-up)."""
    bench = build(batch_size, device, precision, tiny)
    cuda = device.startswith("cuda")
    times: dict[str, list[float]] = {"floor": [], "ours": []}
    cuda_peaks: dict[str, float] = {}
    for i in range(steps + 1):
        order = [("floor", bench.floor_step), ("ours", bench.our_step)]
        random.Random(i).shuffle(order)
        for name, step in order:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            sync(device)
            start = time.perf_counter()
            step(i)
            sync(device)
            if i > 0:
                times[name].append(time.perf_counter() - start)
            if cuda:
                cuda_peaks[name] = max(cuda_peaks.get(name, 0.0), _peak_mib(device))

    floor, ours = statistics.median(times["floor"]), statistics.median(times["ours"])
    if cuda:
        peaks, note = cuda_peaks, "torch.cuda.max_memory_allocated during the step"
    elif memory:
        peaks, note = rss_peaks(
            "benchmarks.pretrain_step:memory_side",
            "the work: one step (the first)",
            batch_size=batch_size,
            precision=precision,
            tiny=tiny,
        )
    else:
        peaks, note = None, ""
    details = time_pieces(bench.module, bench.optimizer, bench.batch, device) if pieces else {}
    details["steps timed per side"] = len(times["floor"])
    model = "tiny ViT (64x2, 56 px)" if tiny else "ViT-S/14-reg4, Table 7 heads (65536 prototypes), random weights"
    return [
        result(
            "DinoV2PretrainModule step",
            ours * 1000,
            floor * 1000,
            "ms/step",
            GOAL,
            settings={
                "model": model,
                "batch": f"{batch_size} images = {2 * batch_size}x{bench.global_size} px + "
                f"{8 * batch_size}x{bench.local_size} px crops",
                "device": device,
                "precision": precision,
                "threads": torch.get_num_threads(),
                "timed steps (median)": steps,
            },
            peak_mib=peaks,
            memory_note=note,
            details=details,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2, help="images per step (each: 2 global + 8 local crops)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each kind (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--tiny", action="store_true", help="a 64-wide, 2-deep ViT at 56 px (quick check)")
    parser.add_argument("--pieces", action="store_true", help="also time the step's extra pieces one by one")
    parser.add_argument("--no-memory", action="store_true", help="skip the CPU peak-memory probes")
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()
    results = run(args.batch, args.steps, args.device, args.precision, args.tiny, args.pieces, not args.no_memory)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {results[0]['settings']}")
    print_results(results)
    for key, value in results[0]["details"].items():
        print(f"  {key}: {value:.1f}" if isinstance(value, float) else f"  {key}: {value}")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
