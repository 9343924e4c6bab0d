"""One DINOv2 pre-training step of DinoV2PretrainModule against its floor, measured in the same run.

Floor: the same student and teacher modules called bare — student backbone forward on the masked global crops and
the local crops, the head on CLS and masked patch tokens, backward of a plain sum, teacher forward (backbone +
head) on the global crops, one AdamW step. Ours: ``training_step`` (masking, Sinkhorn-Knopp targets, DINO + iBOT +
KoLeo losses), backward, per-module gradient clipping, the scheduled AdamW step and the EMA teacher update.
Floor and ours alternate, so a busy machine slows both alike; medians are reported.

    PYTHONPATH=. python benchmarks/pretrain_step.py                 # ViT-S/14-reg4, Table 7 heads, batch 2, CPU
    PYTHONPATH=. python benchmarks/pretrain_step.py --batch 64 --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time

import torch

from signmusketeers.pretrain import DinoV2PretrainModule


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def _median_ms(function, device: str, repeats: int = 5) -> float:
    function()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        function()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def time_pieces(module: DinoV2PretrainModule, optimizer, batch: dict, device: str) -> None:
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
    for name, function in pieces.items():
        print(f"  {name:<52} {_median_ms(function, device):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2, help="images per step (each: 2 global + 8 local crops)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each kind (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--tiny", action="store_true", help="a 64-wide, 2-deep ViT at 56 px (quick check)")
    parser.add_argument("--pieces", action="store_true", help="also time the step's extra pieces one by one")
    args = parser.parse_args()

    torch.manual_seed(0)
    if args.tiny:
        module = DinoV2PretrainModule(model_kwargs=dict(img_size=56, embed_dim=64, depth=2, num_heads=2),
                                      n_prototypes=4096, head_hidden_dim=256, head_bottleneck_dim=64)
        global_size, local_size = 56, 28
    else:  # Table 7: ViT-S/14 with 4 registers, heads 3 × 2048 → 256 → 65536 (random weights: same cost)
        module = DinoV2PretrainModule()
        global_size, local_size = 224, 98
    module = module.to(args.device)
    module.mask_rng.seed(0)
    batch = {
        "global_crops": torch.randn(2, args.batch, 3, global_size, global_size, device=args.device),
        "local_crops": torch.randn(8, args.batch, 3, local_size, local_size, device=args.device),
    }
    optimizer = module.configure_optimizers()
    module.schedules = module.build_schedules(args.batch)
    autocast = torch.autocast(device_type=args.device.split(":")[0], dtype=torch.bfloat16,
                              enabled=args.precision == "bf16")
    student, teacher = module.student, module.teacher

    def floor_step(i: int) -> None:
        global_crops = batch["global_crops"].flatten(0, 1)
        masks = module.sample_masks(global_crops).to(args.device)
        with autocast:
            with torch.no_grad():
                t = teacher["backbone"](global_crops)
                teacher["dino_head"](t["cls"])
                teacher["dino_head"](t["patch"].flatten(0, 1)[masks.flatten()])
            g = student["backbone"](global_crops, masks=masks)
            local = student["backbone"](batch["local_crops"].flatten(0, 1))
            loss = (student["dino_head"](g["cls"]).float().mean() + student["dino_head"](local["cls"]).float().mean()
                    + student["dino_head"](g["patch"].flatten(0, 1)[masks.flatten()]).float().mean())
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

    times: dict[str, list[float]] = {"floor": [], "ours": []}
    peaks: dict[str, float] = {}
    for i in range(args.steps + 1):
        order = [("floor", floor_step), ("ours", our_step)]
        random.Random(i).shuffle(order)
        for name, step in order:
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            _sync(args.device)
            start = time.perf_counter()
            step(i)
            _sync(args.device)
            if i > 0:
                times[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks.get(name, 0.0), _peak_mib(args.device))

    floor, ours = statistics.median(times["floor"]), statistics.median(times["ours"])
    model = "tiny ViT (64×2, 56 px)" if args.tiny else "ViT-S/14-reg4, 65536 prototypes"
    print(f"{model}, batch {args.batch} (2×{global_size} + 8×{local_size} px crops each), {args.device}, "
          f"{args.precision}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"floor  {floor * 1000:9.1f} ms/step   (median of {len(times['floor'])})")
    print(f"ours   {ours * 1000:9.1f} ms/step   ratio {ours / floor:.3f}")
    if args.pieces:
        time_pieces(module, optimizer, batch, args.device)
    unit = "peak allocated" if args.device.startswith("cuda") else "process peak RSS so far"
    print(f"memory ({unit}): floor {peaks['floor']:.0f} MiB, ours {peaks['ours']:.0f} MiB")


if __name__ == "__main__":
    main()
