"""Frame-parsing throughput against its floors, measured in the same run on this machine.

1. Single process: ``FrameParser.parse_video`` (decode + MediaPipe Holistic + boxes + crops + pose), and the same
   plus the clip-shard record (JPEG encoding) the ``parse`` command writes, against bare MediaPipe Holistic
   (``mp.solutions.holistic``, model_complexity=1, video mode) on the same frames, decoded in advance.
   Goal: ≥ 0.90× bare MediaPipe.
2. Scaling from 1 to N worker processes: the ``parse`` command on a small corpus with ``--workers 1`` and
   ``--workers N``, against how a pure-CPU Python loop scales from 1 to N processes here (the ceiling on shared
   cores). Goal: parse speed-up ≥ 0.9 of the ceiling.

Run: ``PYTHONPATH=. python benchmarks/parse.py [--clips PATH...] [--repeats 3] [--workers 2] [--json OUT]``;
``run()`` returns the same figures as records (``benchmarks/common.py``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, rss_peaks, write_json

CLIPS = Path(__file__).resolve().parents[1] / "../shared/data/clips"
DEFAULT_CLIPS = [str((CLIPS / name).resolve()) for name in ("signer_blue_screen.mp4", "signer_and_tv_speaker.mp4")]
SINGLE_PROCESS_GOAL = goal(">=", 0.90)  # ≥ 0.90× bare MediaPipe Holistic, single process
SCALING_GOAL = goal(">=", 0.90)  # speed-up ≥ 0.9 of the pure-CPU ceiling


def bare_mediapipe(frames) -> float:
    import mediapipe as mp

    with mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1) as holistic:
        holistic.process(frames[0])  # graph start-up is not throughput
        holistic.reset()
        started = time.perf_counter()
        for frame in frames:
            holistic.process(frame)
        return len(frames) / (time.perf_counter() - started)


def frame_parser(path: str, with_record: bool, seconds: float | None = None) -> float:
    from signmusketeers.formats.records import clip_record
    from signmusketeers.parsing import FrameParser
    from signmusketeers.parsing.video import read_frames

    parser = FrameParser(keep_landmarks=False)
    # Graph start-up and the first inference are not throughput (as for the bare run); parse_video then resets the
    # graph's tracking state for the clip, as bare MediaPipe's reset() does.
    parser.landmark_source(next(iter(read_frames(path))).image, 0)
    started = time.perf_counter()
    clip = parser.parse_video(path, end=seconds)
    if with_record:
        clip_record(clip)
    elapsed = time.perf_counter() - started
    parser.close()
    return len(clip) / elapsed


def parser_overhead(path: str, seconds: float | None = None) -> tuple[float, float]:
    """Milliseconds per frame the parser spends besides landmark detection (decoding, boxes, crops, pose), without
    and with the JPEG clip record: the same clip parsed from its MediaPipe landmarks saved beforehand."""
    import numpy as np

    from signmusketeers.formats.records import clip_record
    from signmusketeers.parsing import FrameParser

    clip = FrameParser(keep_landmarks=True).parse_video(path, end=seconds)
    found = clip.landmarks
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "landmarks.npz"
        np.savez(npz, pose=found.pose, face=found.face, left_hand=found.left_hand, right_hand=found.right_hand,
                 **{f"present_{part}": mask for part, mask in found.present.items()})  # fmt: skip
        parser = FrameParser(keep_landmarks=False)
        started = time.perf_counter()
        again = parser.parse_video(path, landmarks=npz, end=seconds)
        parse_seconds = time.perf_counter() - started
        clip_record(again)
        total_seconds = time.perf_counter() - started
    return 1000 * parse_seconds / len(again), 1000 * total_seconds / len(again)


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
    code = main(
        ["parse", str(manifest), "--out", str(out / f"clips-{workers}"), "--stride", "1", "--workers", str(workers)]
    )
    if code != 0:
        raise RuntimeError(f"parse exited with {code}")
    return frames / (time.perf_counter() - started)


def memory_side(side: str, clip: str, seconds: float | None = None):
    """Memory probe: set up one side, return its work. Floor: bare MediaPipe Holistic on the clip's frames, decoded
    one at a time; ours: ``parse_video`` and the clip-shard record, as the ``parse`` command does."""
    if side == "floor":
        import mediapipe as mp

        from signmusketeers.parsing.video import read_frames

        holistic = mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1)

        def work() -> None:
            for frame in read_frames(clip, end=seconds):
                holistic.process(frame.image)

        return work
    from signmusketeers.formats.records import clip_record
    from signmusketeers.parsing import FrameParser

    parser = FrameParser(keep_landmarks=False)
    parser.landmark_source._holistic()
    return lambda: clip_record(parser.parse_video(clip, end=seconds))


def single_process(
    clip: str, repeats: int, overhead: bool = True, memory: bool = True, seconds: float | None = None
) -> dict:
    """``parse_video`` vs bare MediaPipe Holistic on one clip (frames/s, medians of interleaved runs)."""
    from signmusketeers.parsing.video import read_frames

    frames = [f.image for f in read_frames(clip, end=seconds)]
    size = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
    # Interleave the runs so that load from other processes on the shared cores hits all of them alike.
    runs: dict[str, list[float]] = {"bare": [], "ours": [], "ours_record": []}
    for _ in range(repeats):
        runs["bare"].append(bare_mediapipe(frames))
        runs["ours"].append(frame_parser(clip, with_record=False, seconds=seconds))
        runs["ours_record"].append(frame_parser(clip, with_record=True, seconds=seconds))
    n_frames = len(frames)
    del frames
    floor, ours, ours_record = (statistics.median(runs[k]) for k in ("bare", "ours", "ours_record"))
    details = {
        "frames/s with the JPEG clip record": ours_record,
        "ratio with the JPEG clip record": ours_record / floor,
        "runs (frames/s)": runs,
    }
    if overhead:
        parse_ms, record_ms = parser_overhead(clip, seconds)
        details["ms/frame besides MediaPipe"] = parse_ms
        details["ms/frame besides MediaPipe, with the JPEG record"] = record_ms
    peaks, note = rss_peaks("benchmarks.parse:memory_side", clip=clip, seconds=seconds) if memory else (None, "")
    return result(
        f"FrameParser.parse_video, {Path(clip).name}",
        ours,
        floor,
        "frames/s",
        SINGLE_PROCESS_GOAL,
        settings={
            "clip": Path(clip).name,
            "frames": n_frames if seconds is None else f"{n_frames} (first {seconds:g} s)",
            "size": size,
            "repeats (median)": repeats,
            "MediaPipe": "Holistic, model_complexity=1, video mode",
        },
        peak_mib=peaks,
        memory_note=note,
        details=details,
    )


def scaling(clip: str, workers: int, copies: int) -> dict:
    """Speed-up of the ``parse`` command from 1 to ``workers`` processes against the pure-CPU ceiling."""
    iterations = 20_000_000
    one, many = loop_rate(1, iterations), loop_rate(workers, iterations)
    ceiling = many / one
    with tempfile.TemporaryDirectory() as tmp:
        single = parse_command(clip, copies, 1, Path(tmp))
        parallel = parse_command(clip, copies, workers, Path(tmp))
    return result(
        f"parse --workers {workers} speed-up vs pure-CPU ceiling",
        parallel / single,
        ceiling,
        "x speed-up",
        SCALING_GOAL,
        settings={
            "clip": Path(clip).name,
            "copies": copies,
            "workers": f"1 -> {workers}",
            "stride": 1,
            "ceiling": f"pure-Python loop of {iterations:,} iterations per process",
        },
        details={
            "parse frames/s, 1 process": single,
            f"parse frames/s, {workers} processes": parallel,
            "loops/s, 1 process": one,
            f"loops/s, {workers} processes": many,
        },
    )


def run(
    clips: list[str] | None = None,
    repeats: int = 3,
    workers: int = 2,
    copies: int = 4,
    with_scaling: bool = True,
    overhead: bool = True,
    memory: bool = True,
    seconds: float | None = None,
) -> list[dict]:
    """Every comparison of this benchmark, as :func:`benchmarks.common.result` records."""
    clips = [str(Path(clip).resolve()) for clip in clips or DEFAULT_CLIPS]
    missing = [c for c in clips if not Path(c).is_file()]
    if missing:
        raise FileNotFoundError(f"benchmarks/parse.py: {missing[0]}: no such clip (the shared clips folder)")
    results = [single_process(clip, repeats, overhead, memory, seconds) for clip in clips]
    if with_scaling:
        results.append(scaling(clips[0], workers, copies))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=DEFAULT_CLIPS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=4, help="copies of the first clip in the scaling corpus")
    parser.add_argument("--no-scaling", action="store_true", help="only the single-process comparison")
    parser.add_argument("--no-overhead", action="store_true", help="skip the parse-from-saved-landmarks timing")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="single-process comparison on the first SECONDS of each clip (default: whole clips)",
    )
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")  # fmt: skip
    results = run(
        args.clips,
        args.repeats,
        args.workers,
        args.copies,
        not args.no_scaling,
        not args.no_overhead,
        not args.no_memory,
        args.seconds,
    )
    print_results(results)
    for r in results:
        for key, value in r["details"].items():
            if isinstance(value, float):
                print(f"  {key}: {value:.2f}")
    write_json(results, args.json)


if __name__ == "__main__":
    main()
