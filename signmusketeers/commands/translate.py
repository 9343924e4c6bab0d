"""``signmusketeers translate INPUT... --checkpoint CKPT``: videos (or manifests' clips) → English, printed or as
JSON lines, and timed subtitles of a long video (:class:`signmusketeers.inference.Translator`,
:func:`~signmusketeers.inference.translate_clips`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signmusketeers.commands.inputs import add_input_options, read_input_options
from signmusketeers.constants import PAPER_STRIDE
from signmusketeers.errors import InputError
from signmusketeers.subtitles import SegmentOptions


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add ``translate``'s options to ``parser``; returns :func:`run`."""
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="videos, folders of videos, or manifests (.jsonl/.csv as for parse; their text is printed "
        "as the reference and their landmark files replace MediaPipe)",
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="TranslationModule checkpoint")
    add_input_options(parser)  # --videos, --how2sign-clips, --frame-rate: as for parse
    _add_output_options(parser)
    _add_model_options(parser)
    _add_subtitle_options(parser)
    return run


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """Plain text or JSON lines, and a file for the latter."""
    parser.add_argument(
        "--json",
        action="store_true",
        help='one JSON line per video: {"video", "text", "seconds"} (+ "clip_id", "reference" from a manifest)',
    )
    parser.add_argument("--output", type=Path, help="also write the JSON lines to this file")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Where the model runs and how its inputs are made: frames, crops, face privacy, encoders, landmarks."""
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--stride", type=int, default=PAPER_STRIDE, help="use every N-th frame (as in training: 2)")
    parser.add_argument(
        "--crop-size",
        type=int,
        default=None,
        help="crop side in pixels (default: the encoders' input size, 224 for ViT-S/14)",
    )
    parser.add_argument(
        "--face-privacy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mask faces (default: as the checkpoint records; a mismatch is refused)",
    )
    parser.add_argument("--face-encoder", type=Path, help="face encoder export, instead of the checkpoint's")
    parser.add_argument("--hand-encoder", type=Path, help="hand encoder export, instead of the checkpoint's")


def _add_subtitle_options(parser: argparse.ArgumentParser) -> None:
    """Timed subtitles of a long video, and how it is cut into segments."""
    parser.add_argument("--srt", type=Path, help="long video: write timed subtitles of its segments (SubRip) here")
    parser.add_argument("--vtt", type=Path, help="long video: write timed subtitles of its segments (WebVTT) here")
    parser.add_argument(
        "--segment", choices=("activity", "window"), default=None,
        help="translate sentence-sized segments instead of the whole video: 'activity' (hands up and moving, by the "
             "landmarks; sliding windows where no pose is found) or 'window' (fixed windows); default 'activity' "
             "with --srt/--vtt, else none; --json then lists the segments with their times",
    )  # fmt: skip
    parser.add_argument(
        "--max-segment",
        type=float,
        default=SegmentOptions.max_length,
        metavar="SECONDS",
        help="cut longer signing stretches into equal parts (default %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=float,
        default=SegmentOptions.window,
        metavar="SECONDS",
        help="sliding-window length where the landmarks cannot tell (default %(default)s)",
    )


def _segments(args: argparse.Namespace) -> SegmentOptions | None:
    """The segment options the arguments ask for (None: the whole video at once); checks the subtitle names."""
    for target, suffix in ((args.srt, ".srt"), (args.vtt, ".vtt")):
        if target is not None and target.suffix.lower() != suffix:
            raise InputError(f"{target}: a {suffix[1:].upper()} file must end in {suffix}")
    if not (args.segment or args.srt or args.vtt):
        return None
    return SegmentOptions(
        method=args.segment or "activity",
        max_length=args.max_segment,
        window=args.window,
        min_length=min(SegmentOptions.min_length, args.max_segment),
    )


def run(args: argparse.Namespace) -> int:
    """Translate every input; exit 1 when one failed (each failure is one line on stderr, the others go on)."""
    from signmusketeers.inference import Translator, translate_clips

    try:
        segments = _segments(args)
    except ValueError as error:  # SegmentOptions checks its numbers
        raise InputError(str(error)) from None
    clips = read_input_options(args, "translate")
    if (args.srt or args.vtt) and len(clips) != 1:
        raise InputError(f"--srt/--vtt write the subtitles of one video; {len(clips)} inputs given")
    try:
        translator = Translator(
            args.checkpoint,
            args.device,
            face_encoder=args.face_encoder,
            hand_encoder=args.hand_encoder,
            stride=args.stride,
            crop_size=args.crop_size,
            face_privacy=args.face_privacy,
            landmarks_model=args.landmarks_model,
            verbose=args.verbose,
        )
    except ValueError as error:  # bad checkpoints and options: one line, as for the input errors
        raise InputError(str(error)) from None
    subtitles = tuple(target for target in (args.srt, args.vtt) if target is not None)
    report = translate_clips(
        translator,
        clips,
        segments=segments,
        subtitles=subtitles,
        output=args.output,
        on_result=lambda clip, result: _show(clip, result, args.json),
        say=_say,
        progress=_progress,
    )
    return 1 if report.failed else 0


def _say(line: str) -> None:
    print(f"signmusketeers translate: {line}", file=sys.stderr)


def _show(clip: Any, result: dict[str, Any], as_json: bool) -> None:
    """Print one result: its JSON line, or the text (segments with their times) and the reference."""
    if as_json:
        print(json.dumps(result), flush=True)
        return
    if "segments" in result:
        print(f"{clip.video}:", flush=True)
        for part in result["segments"]:
            print(f"  [{part['start']:8.2f} - {part['end']:8.2f}] {part['text']}", flush=True)
    else:
        print(f"{clip.video}: {result['text']}", flush=True)
    if result.get("reference"):
        print(f"  reference: {result['reference']}", flush=True)
    timing = ", ".join(f"{stage} {s:.2f}s" for stage, s in result["seconds"].items())
    print(f"  ({result['frames']} frames; {timing})", file=sys.stderr)


@contextlib.contextmanager
def _progress(video: str, total: int | None):
    """A rich progress bar over the frames of one video (on stderr, when it is a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn(f"translate {Path(video).name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("frames", total=total)
        yield lambda frames: progress.advance(task, frames)
