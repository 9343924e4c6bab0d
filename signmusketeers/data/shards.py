"""Shard folders: LitData datasets plus our own ``manifest.json`` and ``failures.jsonl``.

Every stage meets the next through a shard folder (``../DESIGN.md`` §3): crop shards (pre-training), clip shards
(per-clip crops + pose) and feature shards (cached encoder outputs). LitData writes and streams them; this module
adds what LitData leaves to us:

* records hold only str and numpy arrays of at least one dimension (LitData would silently pickle numpy scalars,
  0-d arrays and ``None``), and a dataset whose index lists the ``pickle`` serializer is refused on opening;
* a folder counts as written only once its ``index.json`` exists (writers fill a temporary folder and rename it);
* JPEG bytes travel as ``uint8`` arrays (LitData hands ``bytes`` back as ``memoryview``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"
INDEX = "index.json"
JPEG_QUALITY = 95


class ShardError(ValueError):
    """A shard folder that cannot be read as the stage expects; the message names the folder and the problem."""


# --------------------------------------------------------------------------------------------- images


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """RGB ``uint8 (H, W, 3)`` → JPEG bytes as a 1-d ``uint8`` array."""
    import cv2

    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not JPEG-encode an image of shape {image.shape}")
    return buffer.reshape(-1)


def decode_jpeg(buffer: np.ndarray | bytes | memoryview) -> np.ndarray:
    """JPEG bytes (array, bytes or memoryview) → RGB ``uint8 (H, W, 3)``."""
    import cv2

    array = np.frombuffer(buffer, dtype=np.uint8) if not isinstance(buffer, np.ndarray) else buffer
    image = cv2.imdecode(array, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("corrupted JPEG record")
    return image[..., ::-1].copy()


def pack_jpegs(images: Sequence[np.ndarray], quality: int = JPEG_QUALITY) -> tuple[np.ndarray, np.ndarray]:
    """Encode images and concatenate them: ``(data uint8 (N,), offsets int64 (len(images) + 1,))``."""
    encoded = [encode_jpeg(image, quality) for image in images]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    data = np.concatenate(encoded) if encoded else np.zeros(0, dtype=np.uint8)
    return data, offsets


def unpack_jpegs(data: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Inverse of :func:`pack_jpegs`: the decoded RGB images, in order."""
    return [decode_jpeg(data[offsets[i] : offsets[i + 1]]) for i in range(len(offsets) - 1)]


# --------------------------------------------------------------------------------------------- records


def check_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``record`` if every value is a str or an at-least-1-d numpy array; raise naming the field otherwise."""
    for key, value in record.items():
        if isinstance(value, str):
            continue
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype != object:
            continue
        raise TypeError(
            f"shard field {key!r} is {type(value).__name__}"
            + (f" with {value.ndim} dims" if isinstance(value, np.ndarray) else "")
            + ": only str and numpy arrays of at least one dimension are stored (no pickle)"
        )
    return dict(record)


# --------------------------------------------------------------------------------------------- folders


@dataclass
class ShardManifest:
    """Our ``manifest.json``: what a shard folder holds and what made it."""

    kind: str  # "crops" | "clips" | "features"
    records: int
    made_by: dict[str, Any]
    format_version: int = FORMAT_VERSION

    def write(self, folder: str | os.PathLike) -> None:
        payload = {
            "format_version": self.format_version,
            "kind": self.kind,
            "records": self.records,
            "made_by": self.made_by,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        path = Path(folder) / MANIFEST
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, folder: str | os.PathLike) -> ShardManifest:
        path = Path(folder) / MANIFEST
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError:
            raise ShardError(f"{folder}: no {MANIFEST}; not a signmusketeers shard folder, or not finished") from None
        except json.JSONDecodeError as error:
            raise ShardError(f"{path}: not valid JSON ({error.msg})") from None
        if payload.get("format_version") != FORMAT_VERSION:
            raise ShardError(
                f"{path}: shard format version {payload.get('format_version')!r}, this library reads {FORMAT_VERSION}"
            )
        return cls(
            kind=payload["kind"],
            records=int(payload["records"]),
            made_by=payload.get("made_by", {}),
            format_version=payload["format_version"],
        )


def append_failures(folder: str | os.PathLike, failures: Iterable[Mapping[str, Any]]) -> int:
    """Append ``{"input", "reason", ...}`` lines to the folder's ``failures.jsonl``; returns how many."""
    lines = [json.dumps(dict(f)) for f in failures]
    if lines:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with open(Path(folder) / FAILURES, "a") as handle:
            handle.write("\n".join(lines) + "\n")
    return len(lines)


def read_failures(folder: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(folder) / FAILURES
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_dataset_folder(folder: str | os.PathLike, kind: str | None = None) -> ShardManifest | None:
    """Check that ``folder`` is a finished LitData dataset with no pickled fields.

    Returns our manifest when present (it is absent from datasets other tools wrote), and raises
    :class:`ShardError` with a one-line reason otherwise.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ShardError(f"{folder}: no such shard folder")
    index_path = folder / INDEX
    if not index_path.exists():
        raise ShardError(f"{folder}: no {INDEX}: the shard folder was never finished (rerun the command that writes it)")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as error:
        raise ShardError(f"{index_path}: not valid JSON ({error.msg})") from None
    data_format = index.get("config", {}).get("data_format", [])
    if any(str(f).startswith("pickle") for f in data_format):
        raise ShardError(f"{folder}: a field is stored with pickle ({data_format}); refusing to unpickle shard data")
    manifest = ShardManifest.read(folder) if (folder / MANIFEST).exists() else None
    if manifest is not None and kind is not None and manifest.kind != kind:
        raise ShardError(f"{folder}: holds {manifest.kind} shards, expected {kind}")
    return manifest


def open_dataset(folder: str | os.PathLike, kind: str | None = None, **kwargs: Any):
    """A checked ``litdata.StreamingDataset`` over a shard folder (kwargs go to StreamingDataset)."""
    from litdata import StreamingDataset

    check_dataset_folder(folder, kind)
    return StreamingDataset(str(Path(folder).resolve()), **kwargs)
