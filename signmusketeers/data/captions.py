"""``signmusketeers captions INPUT... --out MANIFEST.jsonl``: videos + their caption files → a clip manifest.

Corpora released as lists of YouTube ids (YouTube-ASL, YouTube-SL-25) come to the user as downloaded videos and
English caption files of the same stem: ``ID.mp4`` beside ``ID.en.vtt`` (yt-dlp's names), ``ID.srt`` or
``ID.en.json3``. Every caption cue becomes one clip of the manifest (the columns of
:mod:`signmusketeers.data.manifests`: ``clip_id, video, start, end, text, split``) that ``signmusketeers parse``
reads as any other manifest.

The caption files are read by :mod:`signmusketeers.data.caption_files` (its module doc says which library does what).

Text: HTML entities are decoded, whitespace collapsed, sound tags in square brackets (``[Music]``, ``[Applause]``)
and music notes removed. Filters, each counted by reason and every dropped cue listed in ``MANIFEST.dropped.jsonl``:

* ``empty``: no text at all; ``non-speech``: only sound tags or music notes (``[Music]``, ``♪♪``);
* ``rolling repeat``: an automatic-caption cue that only repeats lines already shown;
* ``too short`` / ``too long``: shorter than ``--min-seconds`` (0.2) or longer than ``--max-seconds`` (60); these
  bounds are ours (a fifth of a second holds no sign; a minute is well past one caption's sentence);
* ``too many characters``: more than ``--max-chars`` (300) characters, ours as well (past T5's 128 target tokens);
* ``overlap``: with ``--overlap trim`` (default) a cue that starts before the previous kept one ends cuts that one's
  end to its own start (rolling captions overlap by design), and a cue left too short by the cut is dropped under
  this reason; ``--overlap drop`` drops a cue that overlaps the previous kept one; ``--overlap keep`` keeps both.

Clip ids are ``VIDEOID.NNNN`` with ``NNNN`` the cue's position in its caption file (1-based, before filtering), so
they stay the same when filters change. Unreadable caption files, videos without captions and captions without a
video are named one line each; the command writes everything else and exits 1.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from signmusketeers.data.caption_files import CAPTION_SUFFIXES, ROLLING, CaptionError, Cue, read_captions
from signmusketeers.data.manifests import VIDEO_SUFFIXES

MIN_SECONDS = 0.2
MAX_SECONDS = 60.0
MAX_CHARS = 300
OVERLAP_POLICIES = ("trim", "drop", "keep")
# A caption file is VIDEO[.LANG].EXT; LANG as YouTube/yt-dlp write it: en, en-US, en-orig, pt-BR, ...
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*$")
_SOUND_TAG = re.compile(r"\[[^\]]*\]")
_MUSIC = re.compile(r"[♪♫♬♩]")
_MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


@dataclass
class Dropped:
    """A cue left out of the manifest and why."""

    clip_id: str
    reason: str
    start: float
    end: float
    text: str


# ------------------------------------------------------------------------------------------------ text


def clean_text(text: str) -> str:
    """Caption text as a sentence: markup and sound tags removed, entities decoded, whitespace collapsed."""
    text = html.unescape(_MARKUP.sub("", text))
    text = _MUSIC.sub(" ", _SOUND_TAG.sub(" ", text))
    return " ".join(text.split())


def _is_sound_only(text: str) -> bool:
    stripped = _MUSIC.sub("", _SOUND_TAG.sub("", html.unescape(_MARKUP.sub("", text))))
    return not stripped.strip() and bool(text.strip())


# ------------------------------------------------------------------------------------------------ filtering


def select_cues(
    video_id: str,
    cues: Sequence[Cue],
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
    max_chars: int = MAX_CHARS,
    overlap: str = "trim",
) -> tuple[list[tuple[str, float, float, str]], list[Dropped]]:
    """Kept ``(clip_id, start, end, text)`` and dropped cues of one video (filters of the module doc)."""
    if overlap not in OVERLAP_POLICIES:
        raise ValueError(f"overlap policy is one of {OVERLAP_POLICIES}, got {overlap!r}")
    kept: list[list] = []
    dropped: list[Dropped] = []

    def drop(cue: Cue, clip_id: str, reason: str, text: str) -> None:
        dropped.append(Dropped(clip_id, reason, round(cue.start, 3), round(cue.end, 3), text))

    for cue in sorted(cues, key=lambda c: (c.start, c.number)):
        clip_id = f"{video_id}.{cue.number:04d}"
        if cue.text == ROLLING:
            drop(cue, clip_id, "rolling repeat", "")
            continue
        text = clean_text(cue.text)
        if not text:
            drop(cue, clip_id, "non-speech" if _is_sound_only(cue.text) else "empty", cue.text.strip())
            continue
        if len(text) > max_chars:
            drop(cue, clip_id, "too many characters", text)
            continue
        start, end = cue.start, cue.end
        if kept and start < kept[-1][2] and overlap == "drop":
            drop(cue, clip_id, "overlap", text)
            continue
        if end - start < min_seconds:
            drop(cue, clip_id, "too short", text)
            continue
        if end - start > max_seconds:
            drop(cue, clip_id, "too long", text)
            continue
        if kept and start < kept[-1][2] and overlap == "trim":
            previous = kept[-1]
            previous[2] = start
            if previous[2] - previous[1] < min_seconds:
                kept.pop()
                dropped.append(
                    Dropped(previous[0], "overlap", round(previous[1], 3), round(previous[4], 3), previous[3])
                )
        kept.append([clip_id, start, end, text, end])  # the last item: the cue's own end, before any trim
    return [(c, round(s, 3), round(e, 3), t) for c, s, e, t, _ in kept], dropped


# ------------------------------------------------------------------------------------------------ pairing


def caption_stem(path: Path, lang: str) -> tuple[str, int] | None:
    """``(video stem, preference)`` of a caption file named ``STEM[.LANG].EXT``, or None for another language.

    Preference (lower is better): the exact language tag, no tag, then regional/other variants of ``lang``.
    """
    stem = path.name[: -len(path.suffix)]
    head, dot, tag = stem.rpartition(".")
    if dot and _LANGUAGE.match(tag):
        if tag.lower() == lang.lower():
            return head, 0
        if tag.lower().startswith(lang.lower() + "-") or tag.lower().startswith(lang.lower() + "_"):
            return head, 2
        return None
    return stem, 1


def _files(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise CaptionError(f"{path}: no such file or folder")
    return files


def pair_videos(files: Sequence[Path], lang: str = "en") -> tuple[dict[Path, list[Path]], list[Path]]:
    """``{video: caption files (best first)}`` for videos and caption files of the same stem in the same folder,
    and the caption files with no video."""
    videos = {(p.parent, p.stem): p for p in files if p.suffix.lower() in VIDEO_SUFFIXES}
    pairs: dict[Path, list[tuple[int, str, Path]]] = {video: [] for video in videos.values()}
    orphans = []
    format_order = {suffix: rank for rank, suffix in enumerate(CAPTION_SUFFIXES)}
    for path in files:
        if path.suffix.lower() not in CAPTION_SUFFIXES:
            continue
        named = caption_stem(path, lang)
        if named is None:
            continue  # another language's captions
        video = videos.get((path.parent, named[0]))
        if video is None:
            orphans.append(path)
        else:
            pairs[video].append((named[1], format_order[path.suffix.lower()], path))
    return {video: [p for *_, p in sorted(found)] for video, found in sorted(pairs.items())}, orphans


def video_split(video_id: str, fractions: dict[str, float], seed: int) -> str:
    """A split name drawn for a whole video from a hash of (seed, id): the same on every machine and run."""
    draw = int.from_bytes(hashlib.sha256(f"{seed}:{video_id}".encode()).digest()[:8], "big") / 2**64
    for name, fraction in fractions.items():
        if draw < fraction:
            return name
        draw -= fraction
    return ""


# ------------------------------------------------------------------------------------------------ command


@dataclass
class CaptionReport:
    """What :func:`caption_manifest` did: counts of videos, caption files, cues and clips, the drop reasons."""

    out: Path
    dropped_path: Path
    videos: int = 0
    caption_files: int = 0
    cues: int = 0
    splits: Counter = field(default_factory=Counter)  # clips kept per split name ("no split")
    reasons: Counter = field(default_factory=Counter)  # dropped cues per reason
    problems: int = 0  # videos without captions, unreadable caption files, captions without a video

    def lines(self) -> list[str]:
        """The report as ``signmusketeers captions`` prints it."""
        kept = sum(self.splits.values())
        dropped = ", ".join(f"{reason} {count}" for reason, count in sorted(self.reasons.items())) or "none"
        splits = ", ".join(f"{name} {count}" for name, count in sorted(self.splits.items())) or "none"
        return [
            f"{self.videos} videos, {self.caption_files} caption files read, {self.cues} cues: {kept} clips kept "
            f"({splits}); dropped: {dropped} (listed in {self.dropped_path}); {self.problems} "
            f"problem{'s' if self.problems != 1 else ''}",
            f"wrote {self.out}",
        ]


def caption_manifest(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    lang: str = "en",
    split: str = "",
    split_videos: dict[str, float] | None = None,
    seed: int = 0,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
    max_chars: int = MAX_CHARS,
    overlap: str = "trim",
    log: Callable[[str], None] | None = None,
) -> CaptionReport:
    """Write the clip manifest ``out`` (JSON lines) of the videos in ``inputs`` and their caption files (module
    doc), and ``OUT.dropped.jsonl`` listing every dropped cue; the keywords are ``signmusketeers captions``'s
    options. ``log`` receives one line per video left out or caption file problem. Raises
    :class:`CaptionError` (one line) when ``out`` is not ``.jsonl`` or no video is found."""
    out, log = Path(out), log or (lambda line: None)
    if out.suffix.lower() != ".jsonl":
        raise CaptionError(f"{out}: the manifest is written as JSON lines; name it .jsonl")
    pairs, orphans = pair_videos(_files(inputs), lang)
    if not pairs and not orphans:
        raise CaptionError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) found in {', '.join(map(str, inputs))}")
    report = CaptionReport(out, out.with_suffix(".dropped.jsonl"), videos=len(pairs), problems=len(orphans))
    for path in orphans:
        log(f"{path}: caption file without a video of the same stem (left out)")
    rows, dropped_rows, base = [], [], out.parent.resolve()
    for video, captions in pairs.items():
        cues = _video_cues(video, captions, lang, log)
        if cues is None:
            report.problems += 1
            continue
        report.caption_files += 1
        report.cues += len(cues)
        kept, dropped = select_cues(
            video.stem, cues, min_seconds=min_seconds, max_seconds=max_seconds, max_chars=max_chars, overlap=overlap
        )
        video_split_name = (video_split(video.stem, split_videos, seed) or split) if split_videos else split
        rows += _clip_rows(kept, os.path.relpath(video.resolve(), base), video_split_name)
        dropped_rows += _dropped_rows(dropped, captions[0], report.reasons)
    _write_jsonl(out, rows)
    _write_jsonl(report.dropped_path, dropped_rows)
    report.splits = Counter(row["split"] or "no split" for row in rows)
    return report


def _clip_rows(kept: list[tuple[str, float, float, str]], video: str, split: str) -> list[dict]:
    """The manifest rows of one video's kept cues (``video``: its path relative to the manifest's folder)."""
    return [
        {"clip_id": clip_id, "video": video, "start": start, "end": end, "text": text, "split": split}
        for clip_id, start, end, text in kept
    ]


def _dropped_rows(dropped: list[Dropped], captions: Path, reasons: Counter) -> list[dict]:
    """The ``.dropped.jsonl`` rows of one video's dropped cues, each counted in ``reasons``."""
    rows = []
    for item in dropped:
        reasons[item.reason] += 1
        rows.append(
            {
                "clip_id": item.clip_id,
                "reason": item.reason,
                "start": item.start,
                "end": item.end,
                "text": item.text,
                "captions": str(captions),
            }
        )
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    """``rows`` as JSON lines in ``path``, written beside it first and moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    tmp.replace(path)


def _video_cues(video: Path, captions: list[Path], lang: str, log: Callable[[str], None]) -> list[Cue] | None:
    """The cues of ``video``'s first caption file, or None (logged) when it has none or it cannot be read."""
    if not captions:
        log(f"{video}: no {lang} caption file ({video.stem}[.{lang}]{'|'.join(CAPTION_SUFFIXES)}) beside it (left out)")
        return None
    if len(captions) > 1:
        log(f"{video}: several caption files, using {captions[0].name} (not {', '.join(p.name for p in captions[1:])})")
    try:
        return read_captions(captions[0])
    except CaptionError as error:
        log(str(error))
        return None
