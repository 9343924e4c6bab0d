"""Frame-parsing throughput against its floors, measured in the same run on this machine.

1. Single process: ``FrameParser.parse_video`` (decode + MediaPipe Holistic + boxes + crops + pose), and the same
   plus the clip-shard record (JPEG encoding) the ``parse`` command writes, against bare MediaPipe Holistic
   (``mp.solutions.holistic``, model_complexity=1, video mode) on the same frames, decoded in advance.
   Goal: ≥ 0.90× bare MediaPipe.
2. Scaling from 1 to N worker processes: the ``parse`` command on a small corpus with ``--workers 1`` and
   ``--workers N``, against how a pure-CPU Python loop scales from 1 to N processes here (the ceiling on shared
   cores). Goal: parse speed-up ≥ 0.9 of the ceiling.

Run: ``PYTHONPATH=. python benchmarks/parse.py [--clips PATH...] [--repeats 3] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

CLIPS = Path(__file__).resolve().parents[1] / "../shared/data/clips"


def bare_mediapipe(frames) -> float:
    import mediapipe as mp

    with mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1) as holistic:
        holistic.process(frames[0])  # graph start-up is not throughput
        holistic.reset()
        started = time.perf_counter()
        for frame in frames:
            holistic.process(frame)
        return len(frames) / (time.perf_counter() - started)


def frame_parser(path: str, with_record: bool) -> float:
    from signmusketeers.parsing import FrameParser
    from signmusketeers.parsing.command import clip_record

    parser = FrameParser(keep_landmarks=False)
    parser.landmark_source._holistic()  # graph start-up is not throughput (as for the bare run)
    started = time.perf_counter()
    clip = parser.parse_video(path)
    if with_record:
        clip_record(clip)
    seconds = time.perf_counter() - started
    parser.close()
    return len(clip) / seconds


def cpu_loop(iterations: int) -> float:
    total = 0.0
    for i in range(iterations):
        total += (i % 7) * 0.5
    return total


def loop_rate(processes: int, iterations: int) -> float:
    """Loops per second with ``processes`` copies running at once."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        pool.map(cpu_loop, [1000] * processes)  # start-up
        started = time.perf_counter()
        pool.map(cpu_loop, [iterations] * processes)
        return processes / (time.perf_counter() - started)


def parse_command(clip: str, copies: int, workers: int, out: Path) -> float:
    """Frames per second of ``signmusketeers parse`` (stride 1) on ``copies`` copies of ``clip``."""
    from signmusketeers.cli import main

    manifest = out / f"manifest-{workers}.jsonl"
    manifest.write_text("".join(json.dumps({"clip_id": f"c{i}", "video": clip}) + "\n" for i in range(copies)))
    frames = 0
    from signmusketeers.parsing.video import probe_video

    frames = probe_video(clip).frames * copies
    started = time.perf_counter()
    code = main(["parse", str(manifest), "--out", str(out / f"clips-{workers}"), "--stride", "1", "--workers", str(workers)])
    if code != 0:
        raise RuntimeError(f"parse exited with {code}")
    return frames / (time.perf_counter() - started)


def single_process(clip: str, repeats: int) -> None:
    from signmusketeers.parsing.video import read_frames

    frames = [f.image for f in read_frames(clip)]
    print(f"\n{Path(clip).name}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, single process "
          f"(median of {repeats} interleaved runs)")  # fmt: skip
    # Interleave the runs so that load from other processes on the shared cores hits all of them alike.
    results = {"bare MediaPipe Holistic": [], "FrameParser.parse_video": [], "parse_video + clip record (JPEG)": []}
    for _ in range(repeats):
        results["bare MediaPipe Holistic"].append(bare_mediapipe(frames))
        results["FrameParser.parse_video"].append(frame_parser(clip, with_record=False))
        results["parse_video + clip record (JPEG)"].append(frame_parser(clip, with_record=True))
    floor = statistics.median(results["bare MediaPipe Holistic"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:<34} {median:6.1f} frames/s  {median / floor:5.2f}x bare  (runs {min(values):.1f}-{max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=[str((CLIPS / name).resolve()) for name in
                        ("signer_blue_screen.mp4", "signer_and_tv_speaker.mp4")])  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=4, help="copies of the first clip in the scaling corpus")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")  # fmt: skip
    for clip in args.clips:
        single_process(clip, args.repeats)

    iterations = 20_000_000
    one, many = loop_rate(1, iterations), loop_rate(args.workers, iterations)
    ceiling = many / one
    with tempfile.TemporaryDirectory() as tmp:
        single = parse_command(args.clips[0], args.copies, 1, Path(tmp))
        parallel = parse_command(args.clips[0], args.copies, args.workers, Path(tmp))
    speedup = parallel / single
    print(f"\nscaling 1 -> {args.workers} processes ({args.copies} copies of {Path(args.clips[0]).name}, stride 1)")
    print(f"  pure-CPU loop ceiling              {ceiling:5.2f}x")
    print(f"  parse command                      {single:6.1f} -> {parallel:6.1f} frames/s = {speedup:5.2f}x"
          f" = {speedup / ceiling:4.2f} of the ceiling")  # fmt: skip


if __name__ == "__main__":
    main()
