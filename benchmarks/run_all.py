"""Run every benchmark and rewrite BENCHMARKS.md from the results of this one run.

    PYTHONPATH=. python benchmarks/run_all.py [--out BENCHMARKS.md] [--only parse extract ...] [--json ALL.json]
                                              [--gpu-json GPU.json]

Each benchmark runs in its own process (``benchmarks/<name>.py --json``) with the thread setting it is measured
with, at settings sized so that the whole run takes about 10 minutes on a 2-core CPU. With a CUDA device the GPU
figures (``benchmarks/gpu.py``) and the projected GPU-hours of the paper's recipe are added; without one the file
says so and gives the projection's formula and inputs; ``--gpu-json`` takes instead the figures that
``benchmarks/gpu.py --json`` wrote on a GPU host (the file names that machine, the time and the command). Nothing in the written file is typed by hand: every figure
comes from this run, and the prose around it is fixed text of this script.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, machine  # noqa: E402
from benchmarks.projection import PAPER_GPU_HOURS, Recipe, formula  # noqa: E402

COMMAND = "PYTHONPATH=. python benchmarks/run_all.py"


@dataclass(frozen=True)
class Benchmark:
    name: str  # benchmarks/<name>.py
    title: str
    args: list[str]
    threads: str | None  # OMP_NUM_THREADS for its process; None: unset (the library picks)
    prose: str
    extra: list[str] = field(default_factory=list)


SUITE = [
    Benchmark(
        "parse", "Parsing",
        ["--repeats", "3", "--seconds", "3", "--copies", "4", "--workers", "2", "--no-overhead"],
        None,
        "**Ours:** `FrameParser.parse_video` on a clip of `../shared/data/clips`: PyAV decoding (in a prefetch "
        "thread), MediaPipe Holistic, boxes, three 224-px crops and the pose vector per frame. **Floor:** bare "
        "MediaPipe Holistic (`mp.solutions.holistic`, model_complexity=1, video mode) on the same frames, decoded "
        "beforehand. Runs alternate (bare, ours, ours + the JPEG clip record the `parse` command writes); medians. "
        "Goal: ≥ 0.90× the bare frames/s.\n\n"
        "**Scaling:** `signmusketeers parse --workers 2` against `--workers 1` on copies of a clip (stride 1, clip "
        "shards written), against how a pure-Python CPU loop scales from 1 to 2 processes on the same cores (the "
        "ceiling of this machine at this moment). Ratio = our speed-up / the ceiling; goal ≥ 0.9.",
    ),
    Benchmark(
        "pretrain_step", "Pre-training step",
        ["--steps", "6", "--pieces"],
        "1",
        "**Ours:** one `DinoV2PretrainModule` training step: masking, teacher forward, Sinkhorn-Knopp targets, "
        "DINO + iBOT + KoLeo losses, backward, per-module gradient clipping, the scheduled AdamW step and the EMA "
        "teacher update. **Floor:** the same student and teacher modules called bare: student forward on the "
        "masked global and the local crops, the head on CLS and masked-patch tokens, backward of a plain sum, "
        "teacher forward on the global crops, one AdamW step. Ours and floor alternate in a shuffled order each "
        "iteration (one warm-up); medians. Goal: ≤ 1.10× the floor's time. The pieces below time, one by one at "
        "the step's sizes, the work a step adds to the floor.",
    ),
    Benchmark(
        "input_pipeline", "Pre-training input pipeline",
        ["--steps", "4"],
        "1",
        "**Ours:** `DinoV2PretrainModule` training steps fed by `CropShardDataModule(part=\"face\")` from a crop "
        "shard folder (224-px JPEG crops cut from `../shared/data/clips`): shard read, JPEG decode, the 2 × 224 + "
        "8 × 98 multi-crop views (`augment_on=\"cpu\"`: in one loader worker; `augment_on=\"device\"`: "
        "parameters drawn in the worker, views built after the transfer), collation, transfer. **Floor:** the same "
        "step on one batch already on the device. Floor and both paths alternate, two rounds; medians. Goal: ≥ "
        "0.95× the floor's images/s. The model is a small ViT (64 wide, 2 deep) at Table 7's crop sizes, so that "
        "on this CPU the input pipeline, not the network, sets the pace; the GPU command is in the script's "
        "docstring. **Loader CPU per image:** each input stage timed alone on one thread (CPU time, medians); the "
        "device path's loader work against the CPU path's, goal ≤ 0.1. **Resume position:** "
        "`EndlessPartStream.position` after 10M crops of a part on a synthetic index of 2M crops (no data files) "
        "against re-reading the records as the former resume did (extrapolated from the measured read time per "
        "record, page cache warm: a lower bound); goal < 1 s.",
    ),
    Benchmark(
        "translate_step", "Translation training step",
        ["--size", "small", "--batch", "16", "--frames", "100", "--repeats", "12"],
        "1",
        "**Ours:** `TranslationModule` on a padded batch of cached float16 features (`FeatureCollator`): stream "
        "fusion → T5 with `inputs_embeds` → label-smoothed cross-entropy, backward, AdamW step. **Floor:** "
        "`T5ForConditionalGeneration(inputs_embeds=..., attention_mask=..., labels=...)` + backward + AdamW on the "
        "same network with random embeddings of the same shape. Alternating; medians. Goal: ≤ 1.05× the floor's "
        "time. The T5 is a small random one (T5.1.1-Base's step takes minutes on this CPU; the GPU section "
        "measures it); the fusion's four projections, which the floor does not run, are a larger share of this "
        "small T5's step than of T5.1.1-Base's.",
    ),
    Benchmark(
        "extract", "Feature extraction",
        ["--clips", "3", "--frames", "16", "--frames-per-batch", "16", "--workers", "1", "--runs", "2"],
        "1",
        "**Ours:** the whole `signmusketeers extract` command on a clip shard folder: shard reading, JPEG decoding "
        "in a loader worker, the face encoder on face crops and the hand encoder on both hand crops, feature-shard "
        "writing. **Floor:** timm `forward_features(x)[:, 0]` of the same ViT-S/14-reg4 (224 px, random weights) "
        "on the same crops, already decoded and normalised in memory, in batches of the same size. Alternating, "
        "best of the runs. Goal: ≥ 0.95× the floor's crops/s.",
    ),
    Benchmark(
        "clip_bytes", "Clip shard storage",
        ["--runs", "3"],
        None,
        "`../shared/data/clips/signer_blue_screen.mp4` parsed once with the paper's defaults (MediaPipe Holistic, "
        "224-px crops, stride 2) and its clip record written both ways through `ShardWriter`, as `signmusketeers "
        "parse --clip-records full | boxes` writes it. **Bytes per clip:** ours = the chunk files on disk, floor = "
        "the bytes of the record's fields themselves (JPEG crops at quality 95 in full records; boxes, pose, "
        "provenance, frame indices and times, text and the video path in both); goal ≤ 1.1. **Crops at extract "
        "time**, per kept frame: full records decode their JPEGs; boxes-only records decode the source video with "
        "PyAV and cut the boxes again (`record_crops`), against bare PyAV decoding of the same frames (floor; goal "
        "≤ 1.5). Then the boxes-only / full ratios and the projection to YouTube-ASL (984 h in about 610k clips, "
        "30 fps assumed).",
    ),
    Benchmark(
        "seek", "Segments of long videos",
        ["--repeats", "7"],
        None,
        "A 10-minute H.264 video (320x180, 25 fps, B-frames, the shared clips looped) synthesised in the run, once "
        "with a keyframe every 2 s and once every 10 s (x264's default interval). **Ours:** `read_frames` on 5 s "
        "segments near the end, starting on a keyframe and a quarter, half and three quarters of the way to the "
        "next (mean of the four): it seeks to the keyframe before the start and counts frame indices from the "
        "container's index. **Floor:** bare PyAV decoding (to RGB) of the video's first 5 s. Goal ≤ 1.2; what is "
        "left above 1 is the decoding from the keyframe before the start, which grows with the keyframe interval, "
        "not the offset. Times are CPU seconds of the process (decoding threads included), the least of 7 alternating "
        "runs. Printed beside: the same "
        "four starts one keyframe interval into the video, and the end segment decoded from the first frame (as "
        "before seeking).",
    ),
    Benchmark(
        "memory_scale", "Memory at scale",
        ["--parallel", "3"],
        "1",
        "Peak resident memory (RSS) of one full pass over a shard folder and over a folder with ten times the "
        "records, each pass alone in a fresh process with loader workers off (all reading in the measured "
        "process). **Crop reader:** `CropShardDataModule(part=\"hand\")` as the pre-training configs use it "
        "(LitData streaming, shuffled, filtered to hand crops), every hand crop JPEG-decoded by the module's "
        "record transform; the multi-crop augmentation is replaced by a plain `to_tensor` (3-7 ms a crop on this "
        "CPU, and it keeps nothing from one crop to the next). **Feature reader:** `ClipFeatureDataModule` train "
        "loader (padding collator, ByT5 tokenisation of the references). **Extract:** the whole `signmusketeers "
        "extract` command with tiny random ViT encoders (embed 32, depth 1, 28 px), writing feature shards. "
        "Records are tiny (16-28 px JPEG crops, 32-d features) and chunks are sized to hold about as many records "
        "as a 64 MB chunk of real ones, so the larger folder has ten times the chunks. In this section's table "
        "*ours* is the peak on the larger folder and *floor* the peak on the smaller one: ratio = growth, goal "
        "≤ 1.05 (ten times the data for at most 5% more memory). The bare `litdata.StreamingDataset` pass over "
        "the same folders (every record read, nothing else) and the RSS before the pass (interpreter and imports) "
        "are given below each row to read the absolute peaks; bytes per added record scale the growth to a "
        "corpus of any size. `extract`'s output chunks are scaled the same way: its writer holds the chunk it is "
        "filling in memory (64 MB, ~400 real feature records, but ~100k of these tiny ones) and writes it out "
        "when full.",
    ),
    Benchmark(
        "posefile", ".pose files",
        ["--repeats", "3", "--frames", "3000"],
        None,
        "**Read:** every frame of a 3000-frame `.pose` (pose-format, MediaPipe Holistic layout) from the landmark "
        "source the parse uses (`PoseFileLandmarks`: header and layout checks, frames read in windows of 1024, each "
        "frame's parts as our landmarks) against pose-format's `Pose.read` of the whole file with each frame's "
        "found parts sliced out by hand. **Write:** `write_pose_file` "
        "against the same arrays assembled by hand with numpy and written by `Pose.write`. Goal for both: ≤ 1.5× "
        "the floor's time. **Parse:** `FrameParser.parse_video(video, landmarks=FILE.pose)` against the bare "
        "libraries doing the same work: PyAV decoding, pose-format reading and OpenCV cutting the same three 224-px "
        "crops per frame. Goal: ≥ 0.8× the floor's frames/s. The landmarks are MediaPipe's on a clip of "
        "`../shared/data/clips` (repeated to 3000 frames for the file benchmarks); the details give that MediaPipe "
        "parse's speed, for the speed-up a `.pose` brings.",
    ),
    Benchmark(
        "face_privacy", "Face privacy",
        ["--seconds", "2", "--repeats", "5"],
        None,
        "**Ours:** `FrameParser(face_privacy=True)` (what `parse` does by default: all but the eyes and mouth of "
        "each face crop greyed, then blurred) on the first 2 s of a clip of `../shared/data/clips`, its MediaPipe "
        "Holistic landmarks computed once and replayed, so that decoding, boxes, crops and pose are timed alone. "
        "**Floor:** the same with `face_privacy=False`. Alternating runs; medians. Goal: ≤ 1.25× the floor's time "
        "per frame. The second row adds MediaPipe's measured time per frame to both: the whole parse, goal ≤ 1.05×.",
    ),
    Benchmark(
        "stream_memory", "Memory of long-video translation and parsing",
        [],
        "1",
        "Peak resident memory of `Translator.translate(video, segments=SegmentOptions())` (what `signmusketeers "
        "translate VIDEO --srt OUT.srt` runs) on a 10-minute and a 1-minute video, each alone in a fresh process: "
        "PyAV decoding (H.264, 25 fps), boxes and three 224-px crops per kept frame (stride 2), encoding in batches "
        "of 32 frames into 384-d float16 features, activity segmentation and one T5 generation per segment. To fit "
        "in a few minutes on 2 cores the video is 128 × 96 px, the landmarks come from a cheap "
        "synthetic source (6 s signing / 3 s rest) instead of MediaPipe, and the encoders are random 384-wide ViTs "
        "with one block and 56-px patches (see the script's docstring). In this section's table *ours* is the peak "
        "on the 10-minute video and *floor* the peak on the 1-minute one: ratio = growth, goal ≤ 1.1. Bare PyAV "
        "decoding of the 10-minute video, and the whole-clip path (parse every crop, then encode) on the 1-minute "
        "video, are given below the row to read the absolute peaks. The second row is `signmusketeers parse VIDEO "
        "--out … --crops-out … --crops-per-clip 16` (one worker, full clip records, face privacy on, the same "
        "synthetic landmarks) on the same two videos: it streams the frames but keeps each kept frame's crops as "
        "JPEG bytes until the clip record is written, so its peak grows with those bytes (given in the details "
        "per frame), not with the raw crops; goal ≤ 2 (holding the raw crops: ≈ 10×).",
    ),
]


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
    lines = ["| comparison | ours | floor | ratio ours/floor | goal | peak memory ours / floor | settings |",
             "| --- | ---: | ---: | ---: | --- | --- | --- |"]
    for r in records:
        peaks = r["peak_mib"]
        memory = "–" if peaks.get("ours") is None else f"{peaks['ours']:,.0f} / {peaks['floor']:,.0f} MiB"
        verdict = "met" if r["met"] else "**missed**"
        lines.append(f"| {r['name']} | {number(r['ours'])} {r['unit']} | {number(r['floor'])} {r['unit']} | "
                     f"**{r['ratio']:.3f}** | {goal_text(r['goal'])}: {verdict} | {memory} | "
                     f"{settings_text(r['settings'])} |")
    return lines


def details_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in records:
        if r.get("memory_note"):
            lines.append(f"- {r['name']}, memory: {r['memory_note']}.")
        shown = {k: v for k, v in r["details"].items() if isinstance(v, (int, float))}
        if shown:
            lines.append(f"- {r['name']}, also measured: " + "; ".join(f"{k} {number(v)}" for k, v in shown.items())
                         + ".")
    return lines


def machine_lines(info: dict[str, Any], load_end: Any) -> list[str]:
    versions = info["versions"]
    gpus = ", ".join(info["gpus"]) if info["gpus"] else "none (torch.cuda.is_available() is False)"
    threads = "; ".join(f"{b.title}: " + (f"OMP_NUM_THREADS={b.threads}" if b.threads else
                        "OMP_NUM_THREADS unset (MediaPipe and PyAV pick their own threads)") for b in SUITE)
    load = lambda values: ", ".join(f"{v:.2f}" for v in values) if values else "unknown"  # noqa: E731
    return [
        "| | |", "| --- | --- |",
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
        f"{recipe.pretrain_crops_per_encoder:,} crops (the paper's pre-training sample); one image = one crop seen as 2 global "
        "(224 px) + 8 local (98 px) views, as the pre-training images/s counts them. Where the GPU figures have "
        "it, the rate is the end-to-end one: steps fed by the crop loader (shard read, JPEG decode, views built on "
        "the GPU, `augment_on=\"device\"`, 4 loader workers) rather than steps on tensors already on the GPU; "
        "the k-NN probe callback is not counted (off in the paper configs). Table 7's schedule as "
        f"configured (100 epochs × 100 iterations × batch 128 × 8 GPUs = {table7_images:,} images per encoder) is "
        f"{table7_images / (recipe.pretrain_crops_per_encoder * recipe.pretrain_effective_epochs):.2f}× the "
        "5 effective epochs; the projection follows the 5 effective epochs, so with Table 7's schedule its "
        "pre-training term grows by that factor.",
        "- Extraction: every frame of " + " and ".join(f"{name} ({hours:g} h)" for name, hours in
                                                    recipe.video_hours.items())
        + f" at {recipe.fps:g} fps (assumed), stride {recipe.frame_stride}, {recipe.crops_per_frame} crops a "
        "frame. The hours are not in the paper: 984 h for YouTube-ASL (Uthus et al., 2023) and \"more than 80 "
        "hours\" for How2Sign (Duarte et al., 2021); only the frozen encoders count (JPEG decoding and shard I/O "
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
            lines += ["No GPU was available on this machine (`torch.cuda.is_available()` is False), so this run "
                      "measured no GPU figure. With a CUDA device the same command runs `benchmarks/gpu.py`: "
                      "pre-training images/s (`DinoV2PretrainModule` step, ViT-S/14-reg4 with Table 7's heads at "
                      "224 px, bf16 autocast, Table 7's batch of 128 per GPU or the largest half of it that fits), "
                      "extraction crops/s (frozen ViT-S/14-reg4 at 224 px, bf16) and a T5.1.1-Base translation "
                      "step (batch 16, fp32), each against its floor, and projects the GPU-hours of YT→H2S "
                      f"(paper: {PAPER_GPU_HOURS:.0f}) from them with `benchmarks/projection.py`:", ""]
        lines += ["```", *formula(recipe), "```", "", "Assumptions:", "", *projection_assumptions(recipe)]
        return lines
    hours = gpu["projection"]
    inputs = hours["inputs"]
    if "machine" in gpu:  # measured on a GPU host by its own run of benchmarks/gpu.py
        host = gpu["machine"]
        libraries = ", ".join(f"{name} {version}" for name, version in host["versions"].items()
                              if version != "not installed")
        lines += [f"Measured on another machine than the CPU figures above: {gpu['device']} with "
                  f"{host['logical_cores']} logical cores ({host['cpu']}), {libraries}; `{gpu['command']}` on "
                  f"{gpu['started'][:16].replace('T', ' ')} UTC.", ""]
    lines += [f"Device: {gpu['device']}.", "", *result_table(gpu["results"]), "", *details_lines(gpu["results"]), "",
              "Projected GPU-hours of the paper's YT→H2S recipe from our throughputs on this GPU "
              f"(`benchmarks/projection.py`):", "",
              "| stage | work | our throughput on one GPU | GPU-hours |", "| --- | ---: | ---: | ---: |",
              f"| pre-training | {inputs['pretrain_images']:,.0f} images | {number(inputs['pretrain_images_per_s'])} "
              f"images/s | {number(hours['pretrain'])} |",
              f"| extraction | {inputs['extraction_crops']:,.0f} crops | {number(inputs['extract_crops_per_s'])} "
              f"crops/s | {number(hours['extract'])} |",
              f"| translation | {inputs['translation_gpu_steps']:,} GPU-steps | "
              f"{number(inputs['translate_step_s'])} s/step | {number(hours['translate'])} |",
              *([f"| validation | {inputs['validation_clip_generations']:,} clips | "
                 f"{number(inputs['validate_clip_s'])} s/clip | {number(hours['validate'])} |"]
                if hours.get("validate") is not None else []),
              f"| **total** | | | **{number(hours['total'])}** (paper: {hours['paper']:.0f}; "
              f"{hours['total_vs_paper']:.2f}× of it) |", "", "Assumptions:", "", *projection_assumptions(recipe)]
    return lines


def render(info: dict[str, Any], sections: list[tuple[Benchmark, Any, float, str | None]], gpu_part: list[str],
           started: datetime.datetime, seconds: float, load_end: Any, command: str) -> str:
    lines = [
        "# Benchmarks", "",
        f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC; the run took {seconds / 60:.1f} min. Every "
        "figure in this file comes from that run; rerun the command to rewrite the file.", "",
        "Each benchmark compares **ours** (what the library does) with its **floor** (the bare library call doing "
        "the same essential work), both measured in the same run and interleaved, so that load from other "
        "processes on shared cores hits both alike: on a busy machine absolute speeds move, the ratios are the "
        "figures to read. Ratio = ours / floor in the row's unit; the goal is on that ratio.", "",
        "## Machine", "", *machine_lines(info, load_end), "",
        "## Summary", "",
        "| benchmark | comparison | ratio ours/floor | goal |", "| --- | --- | ---: | --- |",
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
        lines += ["", f"## {benchmark.title}", "", benchmark.prose, "",
                  f"Alone: `{threads}PYTHONPATH=. python benchmarks/{benchmark.name}.py {script_args}` "
                  f"({bench_seconds:.0f} s in this run).", ""]
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
    parser.add_argument("--gpu-json", type=Path,
                        help="GPU figures written by `benchmarks/gpu.py --json` on a GPU host, used instead of running it")
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
        args.json.write_text(json.dumps({"machine": info, "started": started_at.isoformat(), "seconds": seconds,
                                         "benchmarks": {b.name: r for b, r, _, _ in sections}, "gpu": gpu}, indent=1))
    failed = [b.name for b, r, _, _ in sections if r is None] + (["gpu"] if gpu_error else [])
    print(f"\nwrote {args.out} ({seconds / 60:.1f} min)" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
