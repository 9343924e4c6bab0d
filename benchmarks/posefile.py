""".pose files (pose-format) against the bare pose-format calls, and parsing from a .pose, measured in one run.

1. Reading: every frame of a ``.pose`` from the landmark source the parse uses
   (:class:`~signmusketeers.parsing.posefile.PoseFileLandmarks`: header and layout checks, frames read in windows,
   each frame's parts as our landmarks) against pose-format reading the whole file and each frame's found parts
   sliced out by hand with numpy. Goal: ≤ 1.5× its time. The details give
   :func:`~signmusketeers.parsing.posefile.read_pose_file` (every frame mapped at once).
2. Writing: :func:`~signmusketeers.parsing.posefile.write_pose_file` (building the Holistic header and body from our
   landmarks, then writing atomically) against the same arrays assembled by hand with numpy (x, y, z and a
   confidence per part, concatenated, NaN to 0) and written by pose-format's ``Pose.write``. Goal: ≤ 1.5× its time.
3. Parsing from a ``.pose``: ``FrameParser.parse_video(video, landmarks="clip.pose")`` (decode, landmarks from the
   file, boxes, three 224-px crops, pose vector) against the bare libraries doing the same essential work: PyAV
   decoding the same frames, pose-format reading the file and OpenCV resizing the same three boxes per frame to 224
   px (bicubic). Goal: ≥ 0.8× its frames/s. The details give MediaPipe's parse of the
   same clip, whose landmarks the ``.pose`` holds, for the speed-up a ``.pose`` brings.

Run: ``PYTHONPATH=. python benchmarks/posefile.py [--clip PATH] [--frames 3000] [--repeats 3] [--json OUT]``;
``run()`` returns the same figures as records (``benchmarks/common.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, write_json

CLIP = (Path(__file__).resolve().parents[1] / "../shared/data/clips/signer_blue_screen.mp4").resolve()
FILE_GOAL = goal("<=", 1.5)  # reading / writing: at most 1.5× the bare pose-format call
PARSE_GOAL = goal(">=", 0.8)  # parsing from a .pose: ≥ 0.8× decoding + reading the file + the bare crops


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def tiled(landmarks, frames: int):
    """The clip's landmarks repeated to ``frames`` frames (a long file, as a How2Sign video's .pose is)."""
    import numpy as np

    from signmusketeers.parsing.landmarks import ClipLandmarks

    index = np.arange(frames) % len(landmarks.pose)
    return ClipLandmarks(
        pose=landmarks.pose[index],
        face=landmarks.face[index],
        left_hand=landmarks.left_hand[index],
        right_hand=landmarks.right_hand[index],
        present={k: v[index] for k, v in landmarks.present.items()},
        depth={k: v[index] for k, v in landmarks.depth.items()} if landmarks.depth else None,
        pose_world=landmarks.pose_world[index] if landmarks.pose_world is not None else None,
    )


def bare_read(path: Path) -> None:
    """The read floor: pose-format reads the whole file; each frame's found parts sliced out by hand."""
    from pose_format import Pose

    pose = Pose.read(path.read_bytes())
    data, confidence = pose.body.data.data[:, 0], pose.body.confidence[:, 0]
    for t in range(len(data)):
        for first, count, width in ((0, 33, 3), (33, 468, 2), (501, 21, 2), (522, 21, 2)):
            if (confidence[t, first : first + count] > 0).any():
                data[t, first : first + count, :width].copy()


def ours_read(path: Path) -> None:
    """The landmark source the parse uses, asked for every frame."""
    from signmusketeers.parsing.posefile import PoseFileLandmarks

    source = PoseFileLandmarks(path)
    for t in range(source.frames):
        source(None, t)


def bare_write(path: Path, landmarks, header, info, fps: float) -> None:
    """The write floor: the same arrays assembled by hand with numpy, then pose-format's writer."""
    import numpy as np
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody

    parts = [landmarks.pose, landmarks.face, landmarks.left_hand, landmarks.right_hand]
    xyz = [
        np.dstack([p[..., :2], landmarks.depth[k]]) for p, k in zip(parts, ("pose", "face", "left_hand", "right_hand"))
    ]
    conf = [landmarks.pose[..., 2]] + [np.isfinite(p[..., 0]).astype(np.float32) for p in parts[1:]]
    world = landmarks.pose_world
    xyz.append(world[..., :3] * np.array([info.width, info.height, 1], np.float32))
    conf.append(world[..., 3])
    data = np.nan_to_num(np.concatenate(xyz, axis=1))[:, None]
    confidence = np.nan_to_num(np.concatenate(conf, axis=1))[:, None]
    pose = Pose(header, NumPyPoseBody(fps=fps, data=data, confidence=confidence))
    with open(path, "wb") as handle:
        pose.write(handle)


def file_results(tmp: Path, clip: str, parsed, info, frames: int, repeats: int) -> list[dict]:
    """Reading and writing a ``frames``-frame .pose of the clip's landmarks, ours against pose-format bare."""
    from signmusketeers.parsing.posefile import landmarks_to_pose, read_pose_file, write_pose_file

    long_landmarks = tiled(parsed.landmarks, frames)
    long_file = write_pose_file(tmp / "long.pose", long_landmarks, info.width, info.height, parsed.fps)
    built = landmarks_to_pose(long_landmarks, info.width, info.height, parsed.fps)
    runs: dict[str, list[float]] = {
        "read floor": [],
        "read ours": [],
        "write floor": [],
        "write ours": [],
        "read_pose_file": [],
    }
    for _ in range(repeats):  # interleaved, so that load from other processes hits both sides alike
        runs["read floor"].append(timed(lambda: bare_read(long_file)))
        runs["read ours"].append(timed(lambda: ours_read(long_file)))
        runs["read_pose_file"].append(timed(lambda: read_pose_file(long_file)))
        runs["write floor"].append(
            timed(lambda: bare_write(tmp / "bare.pose", long_landmarks, built.header, info, parsed.fps))
        )
        runs["write ours"].append(
            timed(lambda: write_pose_file(tmp / "ours.pose", long_landmarks, info.width, info.height, parsed.fps))
        )
    size = {"frames": frames, "points": 576, "MiB": round(long_file.stat().st_size / 2**20, 1)}
    results = []
    for kind in ("read", "write"):
        ours, floor = statistics.median(runs[f"{kind} ours"]), statistics.median(runs[f"{kind} floor"])
        name = "PoseFileLandmarks, every frame" if kind == "read" else "write_pose_file"
        bare = "pose-format's Pose.read + numpy slices" if kind == "read" else "numpy + pose-format's Pose.write"
        results.append(
            result(
                f"{name} vs {bare}",
                ours * 1000,
                floor * 1000,
                "ms",
                FILE_GOAL,
                settings={**size, "repeats (median)": repeats, "landmarks": f"{Path(clip).name}'s, repeated"},
                details={
                    "runs (s)": {"ours": runs[f"{kind} ours"], "floor": runs[f"{kind} floor"]},
                    **(
                        {"read_pose_file, every frame mapped (ms)": statistics.median(runs["read_pose_file"]) * 1000}
                        if kind == "read"
                        else {}
                    ),
                },
            )
        )
    return results


def parse_result(tmp: Path, clip: str, parsed, info, repeats: int, mediapipe_fps: float) -> dict:
    """``FrameParser.parse_video`` from a .pose against PyAV + pose-format + the same three OpenCV crops."""
    import cv2
    from pose_format import Pose

    from signmusketeers.parsing import FrameParser
    from signmusketeers.parsing.posefile import write_pose_file
    from signmusketeers.parsing.video import read_frames

    clip_file = write_pose_file(tmp / "clip.pose", parsed.landmarks, info.width, info.height, parsed.fps)
    parser = FrameParser(crop_size=224, stride=1, keep_landmarks=False)

    def floor_work() -> None:
        Pose.read(clip_file.read_bytes())
        for frame, boxes in zip(read_frames(clip), parsed.boxes):
            for x0, y0, x1, y1 in boxes.round().astype(int):  # the same three crops, bare OpenCV
                cv2.resize(frame.image[max(y0, 0) : y1, max(x0, 0) : x1], (224, 224), interpolation=cv2.INTER_CUBIC)

    parse_runs: dict[str, list[float]] = {"floor": [], "ours": []}
    for _ in range(repeats):
        parse_runs["floor"].append(len(parsed) / timed(floor_work))
        parse_runs["ours"].append(len(parsed) / timed(lambda: parser.parse_video(clip, landmarks=clip_file)))
    ours, floor = statistics.median(parse_runs["ours"]), statistics.median(parse_runs["floor"])
    return result(
        f"FrameParser.parse_video from a .pose, {Path(clip).name}",
        ours,
        floor,
        "frames/s",
        PARSE_GOAL,
        settings={
            "clip": Path(clip).name,
            "frames": len(parsed),
            "size": f"{info.width}x{info.height}",
            "crops": "3 x 224 px",
            "repeats (median)": repeats,
        },
        details={
            "MediaPipe parse of the same clip (frames/s, one run)": mediapipe_fps,
            "speed-up of a .pose over MediaPipe": ours / mediapipe_fps,
            "runs (frames/s)": parse_runs,
        },
    )


def run(clip: str = str(CLIP), frames: int = 3000, repeats: int = 3) -> list[dict]:
    from signmusketeers.parsing import FrameParser
    from signmusketeers.parsing.video import probe_video

    info = probe_video(clip)
    started = time.perf_counter()
    mediapipe_clip = FrameParser(crop_size=224, stride=1).parse_video(clip)  # the clip's real landmarks
    mediapipe_fps = len(mediapipe_clip) / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        results = file_results(Path(tmp), clip, mediapipe_clip, info, frames, repeats)
        results.append(parse_result(Path(tmp), clip, mediapipe_clip, info, repeats, mediapipe_fps))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(CLIP), help="a signing video (MediaPipe gives the .pose its landmarks)")
    parser.add_argument("--frames", type=int, default=3000, help="frames of the long .pose read and written")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args()
    if not Path(args.clip).exists():
        print(f"benchmarks/posefile.py: {args.clip}: no such clip (give --clip)", file=sys.stderr)
        return 2
    results = run(args.clip, args.frames, args.repeats)
    print_results(results)
    for r in results:
        for key, value in r["details"].items():
            if not isinstance(value, dict):
                print(f"  {key}: {value:.4g}")
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
