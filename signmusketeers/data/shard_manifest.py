"""The small files of a shard folder beside LitData's chunks: our ``manifest.json`` (what the folder holds and what
made it) and ``failures.jsonl`` (inputs that failed, one line each), and the rule every record keeps: only str and
numpy arrays of at least one dimension (LitData would silently pickle numpy scalars, 0-d arrays and ``None``).

``manifest.json`` holds no time of writing: the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signmusketeers.data.tables import read_rows
from signmusketeers.errors import InputError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"
INDEX = "index.json"


class ShardError(InputError):
    """A shard folder that cannot be read as the stage expects; the message names the folder and the problem."""


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
    return [row for _, row in read_rows(path, jsonl=True)]


def check_existing_kind(folder: str | os.PathLike) -> str | None:
    """The kind recorded in an existing folder's manifest, or None when there is none yet."""
    try:
        return ShardManifest.read(folder).kind
    except ShardError:
        return None
