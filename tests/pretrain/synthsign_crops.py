"""Crop shards from SynthSign clips for the pre-training tests (the pipeline's own parser is `signmusketeers parse`).

Squares centred on each part's landmark box, side 1.2 × its larger side (as signmusketeers.parsing.boxes does),
padded with black at the frame border, resized to ``size`` px, written as crop records through the production
writer, :class:`signmusketeers.data.shards.ShardWriter` (one key per clip).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PART_POINTS = {"face": "face", "left": "left_hand", "right": "right_hand"}


def square_crop(frame: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    import cv2

    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.6 * max(x1 - x0, y1 - y0, 4.0)
    h, w = frame.shape[:2]
    padded = np.zeros((h + 2 * w, w * 3, 3), dtype=np.uint8)  # enough black border for any square inside 3 frames
    padded[w : w + h, w : 2 * w] = frame
    top, left = int(round(cy - half)) + w, int(round(cx - half)) + w
    side = max(int(round(2 * half)), 1)
    return cv2.resize(padded[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA)


def _records(item: dict) -> list[dict]:
    import av

    from signmusketeers.data.shard_manifest import check_record
    from signmusketeers.formats.records import encode_jpeg

    root = Path(item["root"])
    landmarks = np.load(root / item["landmarks"])
    records = []
    with av.open(str(root / item["video"])) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % item["stride"]:
                continue
            image = frame.to_ndarray(format="rgb24")
            for side in item["sides"]:
                if not landmarks[f"present_{PART_POINTS[side]}"][index]:
                    continue
                records.append(
                    check_record(
                        {
                            "image": encode_jpeg(square_crop(image, landmarks[PART_POINTS[side]][index], item["size"])),
                            "part": "face" if side == "face" else "hand",
                            "side": side,
                            "clip_id": item["clip_id"],
                            "frame": np.asarray([index], dtype=np.int64),
                        }
                    )
                )
    return records


def write_synthsign_crops(synthsign: Path, out: Path, part: str, size: int = 64, stride: int = 2) -> int:
    """Write the ``part`` ("face" | "hand") crops of every SynthSign clip to the shard folder ``out``."""
    from signmusketeers.data.shards import ShardWriter

    sides = ["face"] if part == "face" else ["left", "right"]
    clips = [json.loads(line) for line in (synthsign / "manifest.jsonl").read_text().splitlines() if line.strip()]
    made_by = {"command": "tests/pretrain/synthsign_crops.py", "synthsign": str(synthsign)}
    with ShardWriter(out, "crops", made_by, chunk_bytes="4MB") as writer:
        for clip in clips:
            writer.write(
                clip["clip_id"],
                _records({**clip, "root": str(synthsign), "sides": sides, "size": size, "stride": stride}),
            )
        manifest = writer.finish()
    return manifest.records
