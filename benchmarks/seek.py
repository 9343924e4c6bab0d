"""A segment near the end of a long video costs about what a segment at its start costs: ``read_frames`` seeks.

Synthesises a long H.264 video (default: 10 minutes, 320x180, 25 fps, B-frames; the picture is the shared signing
clips looped where they are, else a moving pattern) once per keyframe interval measured (default: every 50 frames =
2 s, and every 250 frames = 10 s, x264's default), then times 5-second segments with ``read_frames`` (PyAV decoding,
RGB frames):

* **Ours:** 5 s segments near the end, starting at four points spread over one keyframe interval (on a keyframe, a
  quarter, half and three quarters of the way to the next), so that the decoding from the keyframe before the start
  counts as it falls for segments anywhere; the mean of the four.
* **Floor:** bare PyAV (``container.decode`` + ``to_ndarray("rgb24")``) of the first 5 s of the same file: the
  segment at the video's start, where nothing precedes it.
* Goal: ratio ≤ 1.2. Also printed: ``read_frames`` on the first 5 s, the worst of the four starts, the same four
  starts one keyframe interval into the video (the cost does not depend on the offset), and the end segment decoded
  from the first frame (``seek=False``: what every segment cost before seeking).

What remains above 1 is the decoding from the keyframe before ``start``: on average half a keyframe interval of
frames, decoded without colour conversion and skipping frames no other frame refers to. It grows with the keyframe
interval, not with the offset.

Times are CPU seconds of the process (decoding threads included): on shared cores wall time mostly measures the other
jobs. Runs alternate (floor, ours) ``--repeats`` times; each figure is the least of its runs (the run least disturbed
by other jobs: these times are 50-100 ms, where medians of busy shared cores still wander by a third).

    PYTHONPATH=. python benchmarks/seek.py [--minutes 10] [--segment 5] [--gops 50 250] [--repeats 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, write_json
from signmusketeers.parsing.video import probe_video, read_frames

CLIPS = Path(__file__).resolve().parents[1] / "../shared/data/clips"
GOAL = goal("<=", 1.2)


def pictures(width: int, height: int) -> list[np.ndarray]:
    """Frames to loop: the shared signing clips where present, else a moving pattern (compresses like video)."""
    import av

    frames = []
    for name in ("signer_blue_screen.mp4", "signer_and_tv_speaker.mp4"):
        path = CLIPS / name
        if path.exists():
            with av.open(str(path)) as container:
                frames += [f.to_ndarray(format="rgb24", width=width, height=height) for f in container.decode(video=0)]
    if frames:
        return frames
    y, x = np.mgrid[0:height, 0:width]
    return [
        np.stack([(x + 3 * t) % 256, (y + 2 * t) % 256, ((x + y) // 2 + t) % 256], -1).astype(np.uint8)
        for t in range(250)
    ]


def synthesise(path: Path, minutes: float, width: int, height: int, fps: int, gop: int) -> None:
    import av

    frames = pictures(width, height)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=fps, options={"g": str(gop), "bf": "2", "preset": "ultrafast", "x264-params": "scenecut=0"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for number in range(int(minutes * 60 * fps)):
            frame = av.VideoFrame.from_ndarray(frames[number % len(frames)], format="rgb24")
            frame.pts, frame.time_base = number, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def bare_pyav(path: Path, seconds: float) -> int:
    import av

    count = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time >= seconds:
                break
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def timed(function) -> tuple[float, Any]:
    """CPU seconds of this process (all its threads): decoding is CPU work, and on shared cores the wall clock
    mostly measures the other jobs."""
    started = time.process_time()
    value = function()
    return time.process_time() - started, value


def run(
    minutes: float = 10.0,
    segment: float = 5.0,
    repeats: int = 7,
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    gops: tuple[int, ...] = (50, 250),
) -> list[dict[str, Any]]:
    results = []
    for gop in gops:
        results += run_one(minutes, segment, repeats, width, height, fps, gop)
    return results


def run_one(
    minutes: float, segment: float, repeats: int, width: int, height: int, fps: int, gop: int
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.mp4"
        made, _ = timed(lambda: synthesise(path, minutes, width, height, fps, gop))
        info = probe_video(path)
        print(
            f"synthesised {info.duration:.0f} s at {width}x{height}, {fps} fps, keyframe every {gop} frames "
            f"({path.stat().st_size / 1e6:.1f} MB) in {made:.1f} s"
        )
        interval = gop / fps
        last_keyframe = (int((info.duration - segment - interval) // interval)) * interval
        starts = [last_keyframe + fraction * interval for fraction in (0.0, 0.25, 0.5, 0.75)]
        early = [interval + fraction * interval for fraction in (0.0, 0.25, 0.5, 0.75)]  # same places, 2nd interval
        floor_times, start_times, end_times = [], [], {s: [] for s in starts}
        early_times = {s: [] for s in early}
        for _ in range(repeats):
            seconds, count = timed(lambda: bare_pyav(path, segment))
            floor_times.append(seconds)
            seconds, frames = timed(lambda: list(read_frames(path, start=0.0, end=segment)))
            assert len(frames) == count, (len(frames), count)
            start_times.append(seconds)
            for start in starts:
                seconds, frames = timed(lambda start=start: list(read_frames(path, start=start, end=start + segment)))
                assert len(frames) == count, (start, len(frames), count)
                end_times[start].append(seconds)
            for start in early:
                seconds, frames = timed(lambda start=start: list(read_frames(path, start=start, end=start + segment)))
                early_times[start].append(seconds)
        from_zero, _ = timed(lambda: list(read_frames(path, start=starts[2], end=starts[2] + segment, seek=False)))
    floor = min(floor_times)
    per_start = {s: min(t) for s, t in end_times.items()}
    ours = statistics.mean(per_start.values())
    worst = max(per_start, key=per_start.get)
    near_start = statistics.mean(min(t) for t in early_times.values())
    settings = {
        "minutes": minutes,
        "segment_s": segment,
        "size": f"{width}x{height}",
        "fps": fps,
        "gop": gop,
        "repeats": repeats,
        "starts_s": [round(s, 2) for s in starts],
    }
    details = {
        "read_frames_first_segment_s": min(start_times),
        "worst_start_s": round(worst, 2),
        "worst_ratio": per_start[worst] / floor,
        "per_start_s": {f"{s:.2f}": t for s, t in per_start.items()},
        "decoded_from_first_frame_s": from_zero,
        "decoded_from_first_frame_ratio": from_zero / floor,
        "same_starts_near_the_video_start_s": near_start,
        "end_over_near_start": ours / near_start,
    }
    name = (
        f"{segment:g} s segment near the end of a {minutes:g}-minute video, keyframe every {gop / fps:g} s "
        f"(mean of 4 starts) vs bare PyAV on its first {segment:g} s"
    )
    results = [result(name, ours, floor, "CPU s", GOAL, settings, details=details)]
    print_results(results)
    print(
        f"read_frames on the first {segment:g} s: {details['read_frames_first_segment_s']:.3f} s; worst start "
        f"({worst:.2f} s) {per_start[worst]:.3f} s = {details['worst_ratio']:.2f}x; the end segment decoded from "
        f"the first frame: {from_zero:.2f} s = {details['decoded_from_first_frame_ratio']:.1f}x; the same four "
        f"starts one keyframe interval into the video: {near_start:.3f} s (end / there = {ours / near_start:.2f})"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--segment", type=float, default=5.0, help="segment length in seconds")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--gops",
        type=int,
        nargs="+",
        default=[50, 250],
        help="frames between keyframes, one video each (x264's default: 250)",
    )
    parser.add_argument("--json", default=None, help="write the result records here")
    args = parser.parse_args()
    write_json(run(args.minutes, args.segment, args.repeats, gops=tuple(args.gops)), args.json)


if __name__ == "__main__":
    main()
