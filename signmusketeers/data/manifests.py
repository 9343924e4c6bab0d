"""Input manifests: which videos to process, with their text and split (DESIGN §3).

Accepted inputs (any mix, see :func:`read_inputs`):

* a single video file (mp4, webm, mov, mkv, avi, gif, ... anything FFmpeg reads);
* a folder: its ``manifest.jsonl`` if it has one (a SynthSign folder), else every video file under it;
* a JSON-lines manifest: one object per clip with ``clip_id``, ``video`` and optionally ``start``, ``end``
  (seconds), ``text``, ``split`` and ``landmarks`` (SynthSign's precomputed landmark file, or a ``.pose`` file of
  the whole video; ``pose`` is accepted as the column's name too); relative paths are relative to the manifest's
  folder;
* a CSV/TSV manifest with the same columns, or How2Sign's columns (``VIDEO_NAME``, ``SENTENCE_NAME``,
  ``START_REALIGNED``, ``END_REALIGNED``, ``SENTENCE``): a clip is the video ``SENTENCE_NAME.*`` beside the
  CSV if it exists (How2Sign's pre-cut clips), else ``VIDEO_NAME.*`` between the start and end times.

A clip without a landmark file whose video has a ``.pose`` beside it (``VIDEO.pose``, pose-format's MediaPipe
Holistic layout, as ``video_to_pose`` writes it) takes its landmarks from there instead of running MediaPipe.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")
MANIFEST_SUFFIXES = (".jsonl", ".csv", ".tsv")


class ManifestError(ValueError):
    """A manifest that cannot be read; the message is one line: ``path: reason``."""


@dataclass(frozen=True)
class InputClip:
    """One clip to process. ``start``/``end`` in seconds (``None`` = whole video)."""

    clip_id: str
    video: str
    text: str = ""
    split: str = ""
    start: float | None = None
    end: float | None = None
    landmarks: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def read_inputs(inputs: Iterable[str | os.PathLike]) -> list[InputClip]:
    """All clips named by ``inputs`` (files, folders, manifests), in order; clip ids must be unique."""
    clips: list[InputClip] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            manifest = path / "manifest.jsonl"
            clips.extend(read_manifest(manifest) if manifest.exists() else _folder(path))
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            clips.extend(read_manifest(path))
        else:  # a single video; whether it really is one is found out when it is decoded
            clips.append(InputClip(clip_id=path.stem, video=str(path)))
    # A landmark file beside the video (VIDEO.pose, as pose-format's video_to_pose writes it) replaces MediaPipe.
    clips = [replace(c, landmarks=pose_beside(c.video)) if c.landmarks is None else c for c in clips]
    seen: dict[str, str] = {}
    for clip in clips:
        if clip.clip_id in seen:
            raise ManifestError(f"{clip.video}: clip id {clip.clip_id!r} is also used by {seen[clip.clip_id]}")
        seen[clip.clip_id] = clip.video
    return clips


def pose_beside(video: str) -> str | None:
    """``VIDEO.pose`` (same folder, same stem) if it exists: the video's landmarks as a pose-format file."""
    candidate = Path(video).with_suffix(".pose")
    return str(candidate) if candidate.is_file() else None


def _folder(folder: Path) -> list[InputClip]:
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise ManifestError(f"{folder}: no video files ({', '.join(VIDEO_SUFFIXES)}) and no manifest.jsonl")
    return [InputClip(clip_id=p.relative_to(folder).with_suffix("").as_posix(), video=str(p)) for p in videos]


def _seconds(value, path: Path, line: int, field: str) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{path}: line {line}: {field} {value!r} is not a number of seconds") from None


def _resolve(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    return str(Path(value) if Path(value).is_absolute() else base / value)


def read_manifest(path: str | os.PathLike) -> list[InputClip]:
    """Read a ``.jsonl`` or ``.csv``/``.tsv`` manifest (our columns or How2Sign's)."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest")
    if path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise ManifestError(f"{path}: line {number}: not valid JSON ({error.msg})") from None
    else:
        text = path.read_text()
        delimiter = "\t" if path.suffix.lower() == ".tsv" or text.split("\n", 1)[0].count("\t") else ","
        rows = [(number, row) for number, row in enumerate(csv.DictReader(text.splitlines(), delimiter=delimiter), 2)]
    clips = []
    for number, row in rows:
        if not isinstance(row, dict):
            raise ManifestError(f"{path}: line {number}: expected an object with clip_id and video")
        clips.append(_how2sign_row(path, number, row) if "SENTENCE_NAME" in row else _our_row(path, number, row))
    if not clips:
        raise ManifestError(f"{path}: the manifest lists no clips")
    return clips


def _our_row(path: Path, number: int, row: dict) -> InputClip:
    missing = [key for key in ("clip_id", "video") if not row.get(key)]
    if missing:
        raise ManifestError(f"{path}: line {number}: missing {', '.join(missing)}")
    return InputClip(
        clip_id=str(row["clip_id"]),
        video=_resolve(path.parent, str(row["video"])),
        text=str(row.get("text") or ""),
        split=str(row.get("split") or ""),
        start=_seconds(row.get("start"), path, number, "start"),
        end=_seconds(row.get("end"), path, number, "end"),
        landmarks=_resolve(path.parent, row.get("landmarks") or row.get("pose")),
    )


def _find_video(folder: Path, stem: str) -> Path | None:
    for suffix in VIDEO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _how2sign_row(path: Path, number: int, row: dict) -> InputClip:
    sentence = (row.get("SENTENCE_NAME") or "").strip()
    if not sentence:
        raise ManifestError(f"{path}: line {number}: empty SENTENCE_NAME")
    split = next((s for s in ("train", "val", "test") if s in path.stem.lower()), "")
    clip = _find_video(path.parent, sentence)
    if clip is not None:
        return InputClip(clip_id=sentence, video=str(clip), text=row.get("SENTENCE") or "", split=split)
    video_name = (row.get("VIDEO_NAME") or "").strip()
    video = _find_video(path.parent, video_name) or path.parent / f"{video_name}.mp4"
    return InputClip(
        clip_id=sentence,
        video=str(video),
        text=row.get("SENTENCE") or "",
        split=split,
        start=_seconds(row.get("START_REALIGNED") or row.get("START"), path, number, "START_REALIGNED"),
        end=_seconds(row.get("END_REALIGNED") or row.get("END"), path, number, "END_REALIGNED"),
    )
