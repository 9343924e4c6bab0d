"""Reading caption files: ``.vtt``, ``.srt`` and ``.json3`` → :class:`Cue` lists (which library does what).

:mod:`signmusketeers.data.captions` filters the cues and writes them as a clip manifest.

* WebVTT (``.vtt``): ``webvtt-py`` reads the cues (header, ``NOTE`` blocks, cue settings such as
  ``align:start position:0%``, inline ``<c>``/timestamp/voice tags, which it strips). YouTube's automatic captions
  roll: each cue repeats the line before it under the new one, and 10 ms cues repeat what is already shown. In a
  file with inline timestamp tags (the mark of that style), lines already shown by the cue before are removed; a cue
  with nothing new left reads as :data:`ROLLING` (dropped as ``rolling repeat``).
* SubRip (``.srt``): ``srt`` reads the cues (index lines, comma decimals, CRLF); the file is decoded as UTF-8 with
  a byte-order mark allowed. Formatting tags (``<i>``, ``{\\an8}``) are removed when the text is cleaned.
* YouTube ``json3``: read here (plain JSON): ``events`` with ``tStartMs``, ``dDurationMs`` and ``segs[].utf8``;
  events without ``segs`` (window definitions) and newline-only append events are layout, not cues; an append event
  with words extends the cue before it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from signmusketeers.errors import InputError

CAPTION_SUFFIXES = (".vtt", ".srt", ".json3")
ROLLING = "\0rolling"  # the text of an automatic-caption cue that only repeats lines already shown
_TIMESTAMP_TAG = re.compile(r"<\d{2}:\d{2}(?::\d{2})?\.\d{3}>")


class CaptionError(InputError):
    """A caption file that cannot be read; the message is one line: ``path: reason``."""


@dataclass
class Cue:
    """One caption cue: its 1-based position in the file, start and end in seconds, text as read."""

    number: int
    start: float
    end: float
    text: str


def read_vtt(path: str | os.PathLike) -> list[Cue]:
    """Cues of a WebVTT file (webvtt-py), with YouTube's rolling repeats removed (module doc)."""
    import webvtt
    from webvtt.errors import MalformedFileError

    try:
        captions = webvtt.read(str(path))
    except MalformedFileError as error:
        raise CaptionError(f"{path}: not a WebVTT file ({error})") from None
    except UnicodeDecodeError as error:
        raise CaptionError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    rolling = any(_TIMESTAMP_TAG.search(c.raw_text) for c in captions)
    cues, shown = [], []
    for number, caption in enumerate(captions, start=1):
        lines = [line for line in caption.text.splitlines() if line.strip()]
        if rolling:
            # The lines at the top of a rolling cue are the ones the cue before ended with.
            while lines and shown and lines[0].strip() in shown:
                lines.pop(0)
            shown = [line.strip() for line in caption.text.splitlines() if line.strip()] or shown
        cues.append(
            Cue(
                number,
                caption.start_time.in_milliseconds() / 1000,
                caption.end_time.in_milliseconds() / 1000,
                "\n".join(lines) if lines or not rolling else ROLLING,
            )
        )
    return cues


def read_srt(path: str | os.PathLike) -> list[Cue]:
    """Cues of a SubRip file (``srt``); a UTF-8 byte-order mark and CRLF line ends are fine."""
    import srt

    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
        subtitles = list(srt.parse(text))
    except UnicodeDecodeError as error:
        raise CaptionError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except srt.SRTParseError as error:
        raise CaptionError(f"{path}: not a SubRip file ({str(error).splitlines()[0][:120]})") from None
    if not subtitles and text.strip():
        raise CaptionError(f"{path}: not a SubRip file (no cues found)")
    return [
        Cue(number, s.start.total_seconds(), s.end.total_seconds(), s.content)
        for number, s in enumerate(subtitles, start=1)
    ]


def read_json3(path: str | os.PathLike) -> list[Cue]:
    """Cues of a YouTube ``json3`` caption file (module doc)."""
    try:
        payload = json.loads(Path(path).read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise CaptionError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise CaptionError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise CaptionError(f"{path}: not a json3 caption file (no 'events' list)")
    cues: list[Cue] = []
    for number, event in enumerate(events, start=1):
        if not isinstance(event, dict) or not isinstance(event.get("segs"), list):
            continue  # a window or style definition
        try:
            start = int(event["tStartMs"]) / 1000
            end = start + int(event.get("dDurationMs", 0)) / 1000
            text = "".join(str(seg.get("utf8", "")) for seg in event["segs"] if isinstance(seg, dict))
        except (KeyError, TypeError, ValueError):
            raise CaptionError(f"{path}: event {number} has no valid tStartMs/dDurationMs") from None
        if event.get("aAppend"):
            if text.strip() and cues:  # words appended to the cue on screen
                cues[-1].text += text
                cues[-1].end = max(cues[-1].end, end)
            continue  # a newline-only append is layout
        cues.append(Cue(len(cues) + 1, start, end, text))
    return cues


READERS = {".vtt": read_vtt, ".srt": read_srt, ".json3": read_json3}


def read_captions(path: str | os.PathLike) -> list[Cue]:
    """Cues of a ``.vtt``, ``.srt`` or ``.json3`` file; raises :class:`CaptionError` (one line) if unreadable."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise CaptionError(f"{path}: not a caption file ({', '.join(CAPTION_SUFFIXES)})")
    try:
        return reader(path)
    except OSError as error:
        raise CaptionError(f"{path}: cannot be read ({error.strerror or error})") from None
