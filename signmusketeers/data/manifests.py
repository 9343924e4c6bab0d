"""Input manifests: which videos to process, with their text and split.

Accepted inputs (any mix, see :func:`read_inputs`):

* a single video file (mp4, webm, mov, mkv, avi, gif, ... anything FFmpeg reads);
* a folder: its ``manifest.jsonl`` if it has one (a SynthSign folder), else every video file under it;
* a JSON-lines manifest: one object per clip with ``clip_id``, ``video`` and optionally ``start``, ``end``
  (seconds), ``text``, ``split``, ``fps`` (folders of frames) and ``landmarks`` (SynthSign's precomputed landmark
  file, or a ``.pose`` file of the whole video; ``pose`` is accepted as the column's name too); relative paths are
  relative to the manifest's folder;
* a CSV/TSV manifest with the same columns;
* How2Sign's tab-separated translation files (``VIDEO_ID, VIDEO_NAME, SENTENCE_ID, SENTENCE_NAME,
  START_REALIGNED, END_REALIGNED, SENTENCE``, e.g. ``how2sign_realigned_test.csv``): a clip is the **full** video
  ``VIDEO_NAME.*`` cut at ``START_REALIGNED``/``END_REALIGNED`` (the re-aligned times belong to the full videos; the
  pre-cut clips download is not aligned with them, see :data:`PRECUT_CLIPS_WARNING`). The full videos are looked
  for in ``videos=`` folders if given, else where the official download script puts them
  (``How2Sign/video_level/<split>/rgb_front/raw_videos/`` beside the CSV's ``How2Sign/sentence_level/...`` folder),
  then beside the CSV and in its ``raw_videos/``. Pre-cut clips ``SENTENCE_NAME.*`` are used only from a folder
  named by ``how2sign_clips=``. Quotes in sentences are kept as written (the file is read without CSV quoting:
  How2Sign sentences hold unbalanced quotes that would otherwise swallow the tabs and lines after them);
* RWTH-PHOENIX-Weather 2014T's ``|``-separated corpus files (``name|video|start|end|speaker|orth|translation``,
  e.g. ``PHOENIX-2014-T.dev.corpus.csv``): a clip is the folder of frames ``video`` names (25 fps), under
  ``videos=`` if given, else ``features/fullFrame-210x260px/<split>/`` of the release; its text is the German
  ``translation`` (the gloss ``orth`` is not used); split ``dev`` is read as ``val``;
* a folder of frames (PNG/JPEG) is one clip, played at ``frame_rate`` frames per second.

A row whose video cannot be found is kept with a one-line :attr:`InputClip.problem`, which the commands report as
that clip's failure (the other clips go on).

A clip without a landmark file whose video has a ``.pose`` beside it (``VIDEO.pose``, pose-format's MediaPipe
Holistic layout, as ``video_to_pose`` writes it) takes its landmarks from there instead of running MediaPipe.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from signmusketeers.data.tables import TableError, read_fields, read_rows
from signmusketeers.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")
MANIFEST_SUFFIXES = (".jsonl", ".csv", ".tsv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PHOENIX_FPS = 25.0  # RWTH-PHOENIX-Weather 2014(T) frames are 25 per second
PRECUT_CLIPS_WARNING = (
    "using How2Sign's pre-cut sentence clips: they were cut at the original How2 times and are not aligned with the "
    "re-aligned translations (SSVP-SLT's dataset notes report much worse results with them); the default cuts the "
    "full videos at START_REALIGNED/END_REALIGNED"
)


class ManifestError(InputError):
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
    fps: float | None = None  # frame rate of a folder of frames (video files carry their own)
    problem: str = ""  # one line; non-empty: this clip cannot be processed (e.g. its video is missing)


def read_inputs(
    inputs: Iterable[str | os.PathLike],
    *,
    videos: Sequence[str | os.PathLike] | None = None,
    how2sign_clips: str | os.PathLike | None = None,
    frame_rate: float | None = None,
) -> list[InputClip]:
    """All clips named by ``inputs`` (files, folders, manifests), in order; clip ids must be unique.

    Args:
        videos: folders holding the videos (or frame folders) that How2Sign / PHOENIX manifests name.
        how2sign_clips: use How2Sign's pre-cut clips ``SENTENCE_NAME.*`` from this folder instead of cutting the
            full videos (not recommended: :data:`PRECUT_CLIPS_WARNING`).
        frame_rate: frames per second of folders of frames given directly or in a manifest without ``fps``.
    """
    clips: list[InputClip] = []
    options = {"videos": videos, "how2sign_clips": how2sign_clips, "frame_rate": frame_rate}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            manifest = path / "manifest.jsonl"
            if manifest.exists():
                clips.extend(read_manifest(manifest, **options))
            elif _is_frame_folder(path):
                clips.append(InputClip(clip_id=path.name, video=str(path), fps=frame_rate))
            else:
                clips.extend(_folder(path, frame_rate))
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            clips.extend(read_manifest(path, **options))
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


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def pose_beside(video: str) -> str | None:
    """``VIDEO.pose`` (same folder, same stem) if it exists: the video's landmarks as a pose-format file."""
    candidate = Path(video).with_suffix(".pose")
    return str(candidate) if candidate.is_file() else None


def _folder(folder: Path, frame_rate: float | None = None) -> list[InputClip]:
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    clips = [InputClip(clip_id=p.relative_to(folder).with_suffix("").as_posix(), video=str(p)) for p in videos]
    # folders of frames below it are videos too (one clip each)
    frames = sorted(p for p in folder.rglob("*") if _is_frame_folder(p))
    clips += [InputClip(clip_id=p.relative_to(folder).as_posix(), video=str(p), fps=frame_rate) for p in frames]
    if not clips:
        raise ManifestError(
            f"{folder}: no video files ({', '.join(VIDEO_SUFFIXES)}), no folders of frames "
            f"({', '.join(IMAGE_SUFFIXES)}) and no manifest.jsonl"
        )
    return sorted(clips, key=lambda c: c.clip_id)


def _seconds(value, path: Path, line: int, field: str, unit: str = "seconds") -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{path}: line {line}: {field} {value!r} is not a number of {unit}") from None


def _resolve(base: Path, value: str | None) -> str | None:
    if not value:
        return None
    return str(Path(value) if Path(value).is_absolute() else base / value)


def read_manifest(
    path: str | os.PathLike,
    *,
    videos: Sequence[str | os.PathLike] | None = None,
    how2sign_clips: str | os.PathLike | None = None,
    frame_rate: float | None = None,
) -> list[InputClip]:
    """Read a ``.jsonl`` or ``.csv``/``.tsv`` manifest (our columns, How2Sign's or PHOENIX-2014T's); options as
    :func:`read_inputs`."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest")
    first_line = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    if path.suffix.lower() != ".jsonl" and "SENTENCE_NAME" in first_line:
        return _how2sign(path, videos, how2sign_clips)
    if path.suffix.lower() != ".jsonl" and first_line.count("|") >= 2 and "translation" in first_line.split("|"):
        return _phoenix(path, videos)
    try:
        rows = read_rows(path)
    except TableError as error:
        raise ManifestError(str(error)) from None
    clips = []
    for number, row in rows:
        if not isinstance(row, dict):
            raise ManifestError(f"{path}: line {number}: expected an object with clip_id and video")
        clips.append(_our_row(path, number, row, frame_rate))
    if not clips:
        raise ManifestError(f"{path}: the manifest lists no clips")
    return clips


def _our_row(path: Path, number: int, row: dict, frame_rate: float | None = None) -> InputClip:
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
        fps=_seconds(row.get("fps"), path, number, "fps", "frames per second") or frame_rate,
    )


def _find_video(folder: Path, stem: str) -> Path | None:
    for suffix in VIDEO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _rows(path: Path, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, fields)`` of a delimited file read without CSV quoting (one line, one row)."""
    try:
        header, rows = read_fields(path, delimiter)
    except TableError as error:
        raise ManifestError(str(error).replace("the file is empty", "the manifest lists no clips")) from None
    if not rows:
        raise ManifestError(f"{path}: the manifest lists no clips")
    return header, rows


def _split_of(path: Path) -> str:
    name = path.name.lower()
    for split, names in (("train", ("train",)), ("val", ("val", "dev")), ("test", ("test",))):
        if any(re.search(rf"(^|[^a-z]){n}([^a-z]|$)", name) for n in names):
            return split
    return ""


def how2sign_video_folders(manifest: Path, split: str) -> list[Path]:
    """Where the full How2Sign videos of ``manifest`` are looked for when no ``videos=`` folder is given."""
    folders = []
    for parent in manifest.resolve().parents:
        if parent.name == "sentence_level":  # the official script's How2Sign/sentence_level/<split>/text/...
            root = parent.parent / "video_level" / split / "rgb_front"
            folders += [root / "raw_videos", root]
            break
    return folders + [manifest.parent / "raw_videos", manifest.parent]


def _find_in(folders: Sequence[Path], stem: str) -> Path | None:
    for folder in folders:
        found = _find_video(folder, stem)
        if found is not None:
            return found
    return None


def _how2sign(path: Path, videos, how2sign_clips) -> list[InputClip]:
    header, rows = _rows(
        path, "\t" if path.suffix.lower() == ".tsv" or "\t" in path.read_text().split("\n", 1)[0] else ","
    )
    missing = [name for name in ("VIDEO_NAME", "SENTENCE_NAME", "SENTENCE") if name not in header]
    if missing:
        raise ManifestError(f"{path}: How2Sign columns missing: {', '.join(missing)}")
    split = _split_of(path)
    folders = [Path(v) for v in videos] if videos else how2sign_video_folders(path, split)
    start_key = "START_REALIGNED" if "START_REALIGNED" in header else "START"
    end_key = "END_REALIGNED" if "END_REALIGNED" in header else "END"
    clips = []
    for number, fields in rows:
        row = dict(zip(header, fields))
        sentence = row["SENTENCE_NAME"].strip()
        if not sentence:
            raise ManifestError(f"{path}: line {number}: empty SENTENCE_NAME")
        text = row["SENTENCE"].strip()
        if how2sign_clips is not None:
            clip = _find_video(Path(how2sign_clips), sentence)
            problem = (
                "" if clip else (f"pre-cut clip {sentence}.* not found in {how2sign_clips} ({path.name} line {number})")
            )
            clips.append(
                InputClip(
                    clip_id=sentence,
                    video=str(clip or Path(how2sign_clips) / f"{sentence}.mp4"),
                    text=text,
                    split=split,
                    problem=problem,
                )
            )
            continue
        video_name = row["VIDEO_NAME"].strip()
        start = _seconds(row.get(start_key), path, number, start_key)
        end = _seconds(row.get(end_key), path, number, end_key)
        if start is None or end is None:
            raise ManifestError(f"{path}: line {number}: {start_key} and {end_key} are needed to cut the full video")
        problem = ""
        if end <= start:
            problem = f"{path.name} line {number}: {end_key} {end} is not after {start_key} {start}"
        video = _find_in(folders, video_name)
        if video is None:
            problem = problem or (
                f"full video {video_name}.* not found in {', '.join(str(f) for f in folders)} "
                f"({path.name} line {number}; give its folder with --videos)"
            )
            video = folders[0] / f"{video_name}.mp4"
        clips.append(
            InputClip(clip_id=sentence, video=str(video), text=text, split=split, start=start, end=end, problem=problem)
        )
    return clips


def phoenix_frame_root(manifest: Path, split_folder: str) -> Path:
    """``PHOENIX-2014-T/features/fullFrame-210x260px/<split>`` of a corpus file in ``annotations/manual/``."""
    return manifest.resolve().parent.parent.parent / "features" / "fullFrame-210x260px" / split_folder


def _phoenix(path: Path, videos) -> list[InputClip]:
    header, rows = _rows(path, "|")
    missing = [name for name in ("name", "video", "translation") if name not in header]
    if missing:
        raise ManifestError(f"{path}: PHOENIX-2014T columns missing: {', '.join(missing)}")
    split = _split_of(path)
    folder_split = {"val": "dev"}.get(split, split)
    # --videos may name the split's folder itself or fullFrame-210x260px/ above the split folders
    roots = (
        [r for v in videos for r in (Path(v), Path(v) / folder_split)]
        if videos
        else [phoenix_frame_root(path, folder_split)]
    )
    clips = []
    for number, fields in rows:
        row = dict(zip(header, fields))
        name = row["name"].strip()
        if not name:
            raise ManifestError(f"{path}: line {number}: empty name")
        # ``video`` is a glob such as NAME/1/*.png; the 2014T release keeps the frames in NAME/ itself
        pattern = Path(row["video"].strip() or name)
        inside = [pattern.parent, Path(name)] if "*" in pattern.name else [pattern, Path(name)]
        candidates = [root / relative for root in roots for relative in inside]
        folder = next((c for c in candidates if c.is_dir()), None)
        problem = (
            ""
            if folder
            else (
                f"frame folder {inside[0]} not found in {', '.join(str(r) for r in roots)} "
                f"({path.name} line {number}; give the frames' folder with --videos)"
            )
        )
        clips.append(
            InputClip(
                clip_id=name,
                video=str(folder or candidates[0]),
                text=row["translation"].strip(),
                split=split,
                fps=PHOENIX_FPS,
                problem=problem,
            )
        )
    return clips
