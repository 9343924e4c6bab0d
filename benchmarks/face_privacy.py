"""What masking faces (``parse``'s default, paper §3.2) costs the parser.

The clip's MediaPipe Holistic landmarks are computed once and replayed (``PrecomputedLandmarks``), so both sides time
the same decoding, boxes, three 224-px crops and pose per frame; MediaPipe's own time per frame is measured on the
way and reported beside them.

* **Parser without MediaPipe.** Ours: ``FrameParser(face_privacy=True)``, which also greys all but the eyes and mouth
  of each face crop and blurs it. Floor: ``FrameParser(face_privacy=False)``. Alternating runs, medians, ms per
  frame. Goal: ≤ 1.25× the floor.
* **Whole parse.** The same two plus MediaPipe's measured time per frame (what ``parse`` spends per frame).
  Goal: ≤ 1.05×.

    PYTHONPATH=. python benchmarks/face_privacy.py [--clip PATH] [--seconds 2] [--repeats 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, goal, print_results, result, write_json
from signmusketeers.parsing import FrameParser

PARSER_GOAL = goal("<=", 1.25)
PARSE_GOAL = goal("<=", 1.05)
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "clips" / "signer_blue_screen.mp4"


def run(clip: str, seconds: float, repeats: int) -> list[dict]:
    started = time.perf_counter()
    parsed = FrameParser(keep_landmarks=True).parse_video(clip, end=seconds)  # MediaPipe Holistic, once
    mediapipe_ms = 1000 * (time.perf_counter() - started) / len(parsed)
    found = parsed.landmarks
    times: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "landmarks.npz"
        np.savez(npz, pose=found.pose, face=found.face, left_hand=found.left_hand, right_hand=found.right_hand,
                 **{f"present_{part}": mask for part, mask in found.present.items()})  # fmt: skip
        parsers = {private: FrameParser(keep_landmarks=False, face_privacy=private) for private in (True, False)}
        for private in (False, True):  # warm-up
            parsers[private].parse_video(clip, landmarks=npz, end=seconds)
        for _ in range(repeats):
            for private in (False, True):
                begin = time.perf_counter()
                again = parsers[private].parse_video(clip, landmarks=npz, end=seconds)
                times[private].append(1000 * (time.perf_counter() - begin) / len(again))
    ours, floor = statistics.median(times[True]), statistics.median(times[False])
    settings = {
        "clip": Path(clip).name,
        "seconds": seconds,
        "frames": len(parsed),
        "repeats": repeats,
        "crop_size": 224,
        "stride": 1,
    }
    details = {"mask_ms_per_frame": ours - floor, "mediapipe_ms_per_frame": mediapipe_ms}
    return [
        result(
            "face privacy: parser without MediaPipe (ms/frame)",
            ours,
            floor,
            "ms/frame",
            PARSER_GOAL,
            settings,
            details=details,
        ),
        result(
            "face privacy: whole parse incl. MediaPipe (ms/frame)",
            ours + mediapipe_ms,
            floor + mediapipe_ms,
            "ms/frame",
            PARSE_GOAL,
            settings,
            details=details,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(DEFAULT_CLIP), help="a signing video")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of the clip to parse")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs of each side")
    parser.add_argument("--json", help="also write the result records to this file")
    args = parser.parse_args()
    results = run(args.clip, args.seconds, args.repeats)
    print_results(results)
    for r in results[:1]:
        print(
            f"  mask: {r['details']['mask_ms_per_frame']:.2f} ms per frame; MediaPipe Holistic: "
            f"{r['details']['mediapipe_ms_per_frame']:.1f} ms per frame"
        )
    write_json(results, args.json)


if __name__ == "__main__":
    main()
