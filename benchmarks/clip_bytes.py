"""Bytes per clip of full and boxes-only clip shards, and what cropping at extract time costs instead.

Parses one video once (``FrameParser``, paper defaults: MediaPipe Holistic, 224-px crops, stride 2), writes its clip
record both ways through ``ShardWriter`` (what ``signmusketeers parse --clip-records full|boxes`` writes) and
measures the chunk bytes on disk.

* **Bytes per clip**, full and boxes-only records. Ours: the chunk files of the clip shard. Floor: the bytes of the
  record's fields themselves (JPEG crops at quality 95 in full records; boxes, pose, provenance, frame indices, times,
  text and the video path in both). Goal: ratio ≤ 1.1 (LitData's framing adds little).
* **Crops at extract time.** Ours, full: decoding a record's JPEG crops as ``extract`` does. Ours, boxes-only:
  decoding the source video with PyAV and cutting the boxes (``record_crops``). Floor of the latter: PyAV decoding of
  the same frames alone, as the parser decodes (``read_frames``); goal ratio ≤ 1.5 (cropping and resizing three
  boxes per kept frame, and reading the header once more, on top of decoding).
  Time per kept frame; medians of ``--runs`` alternating runs.

Then the boxes-only / full ratios and the projection to a corpus (``--clips`` clips of ``--seconds-per-clip`` at
``--fps``; defaults: YouTube-ASL, 984 h in about 610k clips = 5.8 s per clip, 30 fps assumed), from the measured
bytes per kept frame.

    PYTHONPATH=. python benchmarks/clip_bytes.py ../shared/data/clips/signer_blue_screen.mp4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import goal, print_results, result, write_json
from signmusketeers.data.shards import ShardWriter, open_dataset
from signmusketeers.formats.records import (
    clip_record,
    unpack_clip_crops,
)
from signmusketeers.parsing import FrameParser, read_frames
from signmusketeers.parsing.recrop import record_crops
from signmusketeers.parsing.video import probe_video

BYTES_GOAL = goal("<=", 1.1)
RECROP_GOAL = goal("<=", 1.5)
YOUTUBE_ASL_CLIPS = 600_000  # issue 8: "YouTube-ASL scale (600k clips)"
YOUTUBE_ASL_SECONDS_PER_CLIP = 984 * 3600 / 610_193  # YouTube-ASL: 984 hours of video, 610,193 captions (≈ 5.8 s)


def chunk_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("chunk-*.bin"))


def write_shard(folder: Path, record: dict[str, Any], kind: str) -> int:
    with ShardWriter(folder, "clips", {"command": "benchmarks/clip_bytes.py", "clip_records": kind}) as writer:
        writer.write(str(record["clip_id"]), [record])
        writer.finish()
    return chunk_bytes(folder)


def payload_bytes(record: dict[str, Any]) -> float:
    """The bytes of a record's fields themselves: array bytes and UTF-8 text."""
    return float(sum(v.nbytes if isinstance(v, np.ndarray) else len(v.encode()) for v in record.values()))


def decode_frames_only(video: str, frames: np.ndarray) -> int:
    """The floor of re-cropping: decoding the video as the parser does (``read_frames``) up to the last kept frame."""
    wanted, found = {int(f) for f in frames}, 0
    for frame in read_frames(video):
        found += frame.index in wanted
        if found == len(wanted):
            break
    return found


def seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def run(
    video: str,
    stride: int = 2,
    crop_size: int = 224,
    end: float | None = None,
    runs: int = 3,
    clips: int = YOUTUBE_ASL_CLIPS,
    seconds_per_clip: float = YOUTUBE_ASL_SECONDS_PER_CLIP,
    fps: float = 30.0,
) -> list[dict[str, Any]]:
    parser = FrameParser(crop_size=crop_size, stride=stride, keep_landmarks=False)
    parsed = parser.parse_video(video, end=end)
    parser.close()
    frames = len(parsed)
    info = probe_video(video)
    settings = {
        "video": Path(video).name,
        "frame_size": f"{info.width}x{info.height}",
        "kept_frames": frames,
        "stride": stride,
        "crop_size": crop_size,
    }
    full = clip_record(parsed, "a sentence of text", "train")
    boxes = clip_record(parsed, "a sentence of text", "train", records="boxes", video=video, video_frames=info.frames)
    with tempfile.TemporaryDirectory() as tmp:
        full_bytes = write_shard(Path(tmp) / "full", full, "full")
        boxes_bytes = write_shard(Path(tmp) / "boxes", boxes, "boxes")
        (full_read,) = list(open_dataset(Path(tmp) / "full", "clips"))
        (boxes_read,) = list(open_dataset(Path(tmp) / "boxes", "clips"))
        jpeg_seconds, recrop_seconds, decode_seconds = [], [], []
        for _ in range(runs):  # interleaved, so load from other processes hits all three alike
            jpeg_seconds.append(seconds(lambda: unpack_clip_crops(full_read)))
            recrop_seconds.append(seconds(lambda: record_crops(boxes_read)))
            decode_seconds.append(seconds(lambda: decode_frames_only(video, parsed.frame_index)))
    full_floor, boxes_floor = payload_bytes(full), payload_bytes(boxes)
    per_frame = {
        key: statistics.median(values) / frames * 1e3
        for key, values in (("jpeg", jpeg_seconds), ("recrop", recrop_seconds), ("decode", decode_seconds))
    }
    results = [
        result(
            "full clip record, bytes per clip",
            full_bytes,
            full_floor,
            "bytes",
            BYTES_GOAL,
            settings,
            details={"bytes_per_frame": full_bytes / frames},
        ),
        result(
            "boxes-only clip record, bytes per clip",
            boxes_bytes,
            boxes_floor,
            "bytes",
            BYTES_GOAL,
            settings,
            details={"bytes_per_frame": boxes_bytes / frames},
        ),
        result(
            "boxes-only crops at extract time (decode + crop), per kept frame",
            per_frame["recrop"],
            per_frame["decode"],
            "ms",
            RECROP_GOAL,
            settings,
            details={"full_jpeg_ms": per_frame["jpeg"]},
        ),
    ]
    print_results(results)
    kept = seconds_per_clip * fps / stride
    print(f"{video}: {info.width}x{info.height}, {frames} kept frames (stride {stride}), crops {crop_size} px")
    print(
        f"bytes per clip:  full {full_bytes:,}  boxes-only {boxes_bytes:,}  (boxes-only / full = "
        f"{boxes_bytes / full_bytes:.4f}, 1/{full_bytes / boxes_bytes:.0f})"
    )
    print(f"bytes per kept frame:  full {full_bytes / frames:,.0f}  boxes-only {boxes_bytes / frames:,.0f}")
    print(
        f"crops per kept frame at extract time:  full (JPEG decode) {per_frame['jpeg']:.2f} ms  boxes-only "
        f"(PyAV decode + crop) {per_frame['recrop']:.2f} ms  ({per_frame['recrop'] / per_frame['jpeg']:.1f}x)"
    )
    print(
        f"projection: {clips:,} clips x {seconds_per_clip:.1f} s x {fps:g} fps / stride {stride} = "
        f"{kept:.0f} kept frames per clip:  full {full_bytes / frames * kept * clips / 1e12:.2f} TB  boxes-only "
        f"{boxes_bytes / frames * kept * clips / 1e9:.1f} GB"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "video",
        nargs="?",
        default=str(Path(__file__).resolve().parents[1] / "../shared/data/clips/signer_blue_screen.mp4"),
    )
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--end", type=float, default=None, help="parse only the first END seconds")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", type=int, default=YOUTUBE_ASL_CLIPS)
    parser.add_argument("--seconds-per-clip", type=float, default=YOUTUBE_ASL_SECONDS_PER_CLIP)
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate assumed for the projection")
    parser.add_argument("--json", default=None, help="write the result records here")
    args = parser.parse_args()
    write_json(
        run(args.video, args.stride, args.crop_size, args.end, args.runs, args.clips, args.seconds_per_clip, args.fps),
        args.json,
    )


if __name__ == "__main__":
    main()
