"""Run every benchmark and rewrite BENCHMARKS.md from the results of this one run.

    PYTHONPATH=. python benchmarks/run_all.py [--out BENCHMARKS.md] [--only parse extract ...] [--json ALL.json]
                                              [--gpu-json GPU.json]

Each benchmark runs in its own process (``benchmarks/<name>.py --json``) with the thread setting it is measured
with, at settings sized so that the whole run takes about 10 minutes on a 2-core CPU. With a CUDA device the GPU
figures (``benchmarks/gpu.py``) and the projected GPU-hours of the paper's recipe are added; without one the file
says so and gives the projection's formula and inputs; ``--gpu-json`` takes instead the figures that
``benchmarks/gpu.py --json`` wrote on a GPU host (the file names that machine, the time and the command). Nothing
in the written file is typed by hand: every figure comes from this run, and the prose around it is fixed text of
this script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, machine
from benchmarks.projection import PAPER_GPU_HOURS, Recipe, formula
from benchmarks.suite import SUITE, Benchmark

COMMAND = "PYTHONPATH=. python benchmarks/run_all.py"


def run_benchmark(benchmark: Benchmark, logs: Path) -> tuple[Any, float, str | None]:
    """Run one benchmark script in its own process; (records, seconds, error or None)."""
    out = logs / f"{benchmark.name}.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    if benchmark.threads is None:
        env.pop("OMP_NUM_THREADS", None)
    else:
        env["OMP_NUM_THREADS"] = benchmark.threads
    command = [sys.executable, str(ROOT / "benchmarks" / f"{benchmark.name}.py"), *benchmark.args, "--json", str(out)]
    print(f"\n== {benchmark.title}: {' '.join(command[1:-2])}", flush=True)
    started = time.perf_counter()
    with open(logs / f"{benchmark.name}.stderr", "w") as stderr:
        completed = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    seconds = time.perf_counter() - started
    print(completed.stdout, end="", flush=True)
    if completed.returncode != 0 or not out.exists():
        lines = (logs / f"{benchmark.name}.stderr").read_text().strip().splitlines()
        return None, seconds, (lines[-1] if lines else f"exit status {completed.returncode}")
    return json.loads(out.read_text()), seconds, None


# ---- rendering -------------------------------------------------------------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def goal_text(goal: dict[str, Any]) -> str:
    return f"{'≥' if goal['op'] == '>=' else '≤'} {goal['value']:.2f}"


def settings_text(settings: dict[str, Any]) -> str:
    return "; ".join(f"{key}: {value}" for key, value in settings.items())


def result_table(records: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| comparison | ours | floor | ratio ours/floor | goal | peak memory ours / floor | settings |",
        "| --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in records:
        peaks = r["peak_mib"]
        memory = "–" if peaks.get("ours") is None else f"{peaks['ours']:,.0f} / {peaks['floor']:,.0f} MiB"
        verdict = "met" if r["met"] else "**missed**"
        lines.append(
            f"| {r['name']} | {number(r['ours'])} {r['unit']} | {number(r['floor'])} {r['unit']} | "
            f"**{r['ratio']:.3f}** | {goal_text(r['goal'])}: {verdict} | {memory} | "
            f"{settings_text(r['settings'])} |"
        )
    return lines


def details_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in records:
        if r.get("memory_note"):
            lines.append(f"- {r['name']}, memory: {r['memory_note']}.")
        shown = {k: v for k, v in r["details"].items() if isinstance(v, (int, float))}
        if shown:
            lines.append(
                f"- {r['name']}, also measured: " + "; ".join(f"{k} {number(v)}" for k, v in shown.items()) + "."
            )
    return lines


def machine_lines(info: dict[str, Any], load_end: Any) -> list[str]:
    versions = info["versions"]
    gpus = ", ".join(info["gpus"]) if info["gpus"] else "none (torch.cuda.is_available() is False)"
    threads = "; ".join(
        f"{b.title}: "
        + (
            f"OMP_NUM_THREADS={b.threads}"
            if b.threads
            else "OMP_NUM_THREADS unset (MediaPipe and PyAV pick their own threads)"
        )
        for b in SUITE
    )
    load = lambda values: ", ".join(f"{v:.2f}" for v in values) if values else "unknown"  # noqa: E731
    return [
        "| | |",
        "| --- | --- |",
        f"| CPU | {info['cpu']} ({info['arch']}), {info['logical_cores']} logical cores |",
        f"| RAM | {info['ram_gib']:.1f} GiB |" if info["ram_gib"] else "| RAM | unknown |",
        f"| GPU | {gpus} |",
        f"| OS | {info['os']} |",
        f"| Python | {info['python']} |",
        "| libraries | " + ", ".join(f"{name} {version}" for name, version in versions.items()) + " |",
        f"| threads | {threads} |",
        f"| load average (1, 5, 15 min) | at start {load(info['load_average'])}; at end {load(load_end)} "
        "(other jobs share these cores) |",
    ]


def projection_assumptions(recipe: Recipe) -> list[str]:
    table7_images = 100 * 100 * 128 * 8
    return [
        f"- Pre-training: {recipe.encoders} encoders × {recipe.pretrain_effective_epochs:g} effective epochs × "
        f"{recipe.pretrain_crops_per_encoder:,} crops (the paper's pre-training sample); one image = one crop seen "
        "as 2 global (224 px) + 8 local (98 px) views, as the pre-training images/s counts them. Where the GPU "
        "figures have it, the rate is the end-to-end one: steps fed by the crop loader (shard read, JPEG decode, "
        'views built on the GPU, `augment_on="device"`, 4 loader workers) rather than steps on tensors already on '
        "the GPU; the k-NN probe callback is not counted (off in the paper configs). Table 7's schedule as "
        f"configured (100 epochs × 100 iterations × batch 128 × 8 GPUs = {table7_images:,} images per encoder) is "
        f"{table7_images / (recipe.pretrain_crops_per_encoder * recipe.pretrain_effective_epochs):.2f}× the "
        "5 effective epochs; the projection follows the 5 effective epochs, so with Table 7's schedule its "
        "pre-training term grows by that factor.",
        "- Extraction: every frame of "
        + " and ".join(f"{name} ({hours:g} h)" for name, hours in recipe.video_hours.items())
        + f" at {recipe.fps:g} fps (assumed), stride {recipe.frame_stride}, {recipe.crops_per_frame} crops a "
        'frame. The hours are not in the paper: 984 h for YouTube-ASL (Uthus et al., 2023) and "more than 80 '
        'hours" for How2Sign (Duarte et al., 2021); only the frozen encoders count (JPEG decoding and shard I/O '
        "run in loader workers beside the GPU).",
        f"- Translation: {' + '.join(str(s) for s in recipe.translation_steps)} steps (Table 8: YT, then "
        f"+5000 on How2Sign) × {recipe.translation_gpus} GPUs at batch 16 per GPU, fp32.",
        f"- Validation: every {recipe.validate_every} steps of both stages ({recipe.validations} validations), beam "
        f"search (5 beams) over How2Sign's {recipe.validation_clips:,} validation clips (Duarte et al., 2021), each "
        "hypothesis generated to the full 128 tokens (an upper bound: real hypotheses stop earlier), at batch 16 "
        "on one GPU; the validation loss pass is not counted (one forward, small beside beam search). Counted "
        "only where the GPU figures include it.",
        "- GPU-hours = work / per-GPU throughput: multi-GPU scaling is taken as linear. Parsing (MediaPipe on "
        f"CPUs) is not GPU work and is not counted. The paper's {PAPER_GPU_HOURS:.0f} GPU-hours is a total "
        "(as the paper reports it); what it includes is not broken down.",
    ]


def gpu_section(gpu: dict[str, Any] | None, error: str | None, info: dict[str, Any]) -> list[str]:
    recipe = Recipe()
    lines = ["## GPU figures and the projected cost of the paper's recipe", ""]
    if gpu is None:
        if info["gpus"]:
            lines += [f"The GPU benchmark failed on {', '.join(info['gpus'])}: `{error}`.", ""]
        else:
            lines += [
                "No GPU was available on this machine (`torch.cuda.is_available()` is False), so this run "
                "measured no GPU figure. With a CUDA device the same command runs `benchmarks/gpu.py`: "
                "pre-training images/s (`DinoV2PretrainModule` step, ViT-S/14-reg4 with Table 7's heads at "
                "224 px, bf16 autocast, Table 7's batch of 128 per GPU or the largest half of it that fits), "
                "extraction crops/s (frozen ViT-S/14-reg4 at 224 px, bf16) and a T5.1.1-Base translation "
                "step (batch 16, fp32), each against its floor, and projects the GPU-hours of YT→H2S "
                f"(paper: {PAPER_GPU_HOURS:.0f}) from them with `benchmarks/projection.py`:",
                "",
            ]
        lines += ["```", *formula(recipe), "```", "", "Assumptions:", "", *projection_assumptions(recipe)]
        return lines
    hours = gpu["projection"]
    inputs = hours["inputs"]
    if "machine" in gpu:  # measured on a GPU host by its own run of benchmarks/gpu.py
        host = gpu["machine"]
        libraries = ", ".join(
            f"{name} {version}" for name, version in host["versions"].items() if version != "not installed"
        )
        lines += [
            f"Measured on another machine than the CPU figures above: {gpu['device']} with "
            f"{host['logical_cores']} logical cores ({host['cpu']}), {libraries}; `{gpu['command']}` on "
            f"{gpu['started'][:16].replace('T', ' ')} UTC.",
            "",
        ]
    lines += [
        f"Device: {gpu['device']}.",
        "",
        *result_table(gpu["results"]),
        "",
        *details_lines(gpu["results"]),
        "",
        "Projected GPU-hours of the paper's YT→H2S recipe from our throughputs on this GPU "
        "(`benchmarks/projection.py`):",
        "",
        "| stage | work | our throughput on one GPU | GPU-hours |",
        "| --- | ---: | ---: | ---: |",
        f"| pre-training | {inputs['pretrain_images']:,.0f} images | {number(inputs['pretrain_images_per_s'])} "
        f"images/s | {number(hours['pretrain'])} |",
        f"| extraction | {inputs['extraction_crops']:,.0f} crops | {number(inputs['extract_crops_per_s'])} "
        f"crops/s | {number(hours['extract'])} |",
        f"| translation | {inputs['translation_gpu_steps']:,} GPU-steps | "
        f"{number(inputs['translate_step_s'])} s/step | {number(hours['translate'])} |",
        *(
            [
                f"| validation | {inputs['validation_clip_generations']:,} clips | "
                f"{number(inputs['validate_clip_s'])} s/clip | {number(hours['validate'])} |"
            ]
            if hours.get("validate") is not None
            else []
        ),
        f"| **total** | | | **{number(hours['total'])}** (paper: {hours['paper']:.0f}; "
        f"{hours['total_vs_paper']:.2f}× of it) |",
        "",
        "Assumptions:",
        "",
        *projection_assumptions(recipe),
    ]
    return lines


def render(
    info: dict[str, Any],
    sections: list[tuple[Benchmark, Any, float, str | None]],
    gpu_part: list[str],
    started: datetime.datetime,
    seconds: float,
    load_end: Any,
    command: str,
) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC; the run took {seconds / 60:.1f} min. Every "
        "figure in this file comes from that run; rerun the command to rewrite the file.",
        "",
        "Each benchmark compares **ours** (what the library does) with its **floor** (the bare library call doing "
        "the same essential work), both measured in the same run and interleaved, so that load from other "
        "processes on shared cores hits both alike: on a busy machine absolute speeds move, the ratios are the "
        "figures to read. Ratio = ours / floor in the row's unit; the goal is on that ratio.",
        "",
        "## Machine",
        "",
        *machine_lines(info, load_end),
        "",
        "## Summary",
        "",
        "| benchmark | comparison | ratio ours/floor | goal |",
        "| --- | --- | ---: | --- |",
    ]
    for benchmark, records, _, error in sections:
        if records is None:
            lines.append(f"| {benchmark.title} | failed: {error} | – | – |")
            continue
        for r in records:
            verdict = "met" if r["met"] else "**missed**"
            lines.append(f"| {benchmark.title} | {r['name']} | {r['ratio']:.3f} | {goal_text(r['goal'])}: {verdict} |")
    for benchmark, records, bench_seconds, error in sections:
        script_args = " ".join(benchmark.args)
        threads = f"OMP_NUM_THREADS={benchmark.threads} " if benchmark.threads else ""
        lines += [
            "",
            f"## {benchmark.title}",
            "",
            benchmark.prose,
            "",
            f"Alone: `{threads}PYTHONPATH=. python benchmarks/{benchmark.name}.py {script_args}` "
            f"({bench_seconds:.0f} s in this run).",
            "",
        ]
        if records is None:
            lines += [f"This benchmark failed in this run: `{error}`."]
            continue
        lines += [*result_table(records), "", *details_lines(records)]
    lines += ["", *gpu_part, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in SUITE], help="run only these (CPU) benchmarks")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU benchmark even where CUDA is available")
    parser.add_argument("--json", type=Path, help="also write every record of the run to this file")
    parser.add_argument(
        "--gpu-json",
        type=Path,
        help="GPU figures written by `benchmarks/gpu.py --json` on a GPU host, used instead of running it",
    )
    args = parser.parse_args()

    import torch

    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.perf_counter()
    info = machine()
    suite = [b for b in SUITE if not args.only or b.name in args.only]
    sections = []
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as tmp:
        logs = Path(tmp)
        for benchmark in suite:
            records, seconds, error = run_benchmark(benchmark, logs)
            sections.append((benchmark, records, seconds, error))
        gpu, gpu_error = None, None
        if args.gpu_json:
            gpu = json.loads(args.gpu_json.read_text())
        elif torch.cuda.is_available() and not args.no_gpu:
            gpu_benchmark = Benchmark("gpu", "GPU", [], None, "")
            gpu, _, gpu_error = run_benchmark(gpu_benchmark, logs)
    seconds = time.perf_counter() - started
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    command = COMMAND + "".join(f" {a}" for a in sys.argv[1:])
    text = render(info, sections, gpu_section(gpu, gpu_error, info), started_at, seconds, load_end, command)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "started": started_at.isoformat(),
                    "seconds": seconds,
                    "benchmarks": {b.name: r for b, r, _, _ in sections},
                    "gpu": gpu,
                },
                indent=1,
            )
        )
    failed = [b.name for b, r, _, _ in sections if r is None] + (["gpu"] if gpu_error else [])
    print(f"\nwrote {args.out} ({seconds / 60:.1f} min)" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
