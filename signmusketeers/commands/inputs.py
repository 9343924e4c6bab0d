"""Input options shared by the commands that read videos or corpus manifests (``parse``, ``translate``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signmusketeers.data.manifests import PRECUT_CLIPS_WARNING, InputClip, read_inputs


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The input options of ``parse`` and ``translate``: where corpus manifests' videos are (``--videos``,
    ``--how2sign-clips``, ``--frame-rate``), and how landmarks are found (``--landmarks-model``, ``--verbose``)."""
    parser.add_argument(
        "--videos",
        type=Path,
        action="append",
        metavar="DIR",
        help="folder of the videos a How2Sign (full videos, VIDEO_NAME.mp4) or PHOENIX-2014T (frame "
        "folders of the split) manifest names; repeatable. Default: the official download layout",
    )
    parser.add_argument(
        "--how2sign-clips",
        type=Path,
        metavar="DIR",
        help="use How2Sign's pre-cut clips SENTENCE_NAME.mp4 from DIR instead of cutting the full "
        "videos at the re-aligned times (not aligned with the re-aligned translations)",
    )
    parser.add_argument(
        "--frame-rate",
        type=float,
        metavar="FPS",
        help="frames per second of folders of frames (PNG/JPEG sequences) without an fps column",
    )
    parser.add_argument(
        "--landmarks-model",
        type=Path,
        metavar="FILE.task",
        help="MediaPipe Tasks HolisticLandmarker model file, instead of the Holistic models bundled "
        "with mediapipe 0.10.21 (needs mediapipe >= 1.2, e.g. on Python 3.13)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show the landmark models' own log lines (MediaPipe, TF-Lite), hidden by default",
    )


def read_input_options(args: argparse.Namespace, command: str = "parse") -> list[InputClip]:
    """The clips of ``args.inputs`` with the options of :func:`add_input_options` (warns about pre-cut clips)."""
    if getattr(args, "how2sign_clips", None) is not None:
        print(f"signmusketeers {command}: warning: {PRECUT_CLIPS_WARNING}", file=sys.stderr)
    return read_inputs(
        args.inputs,
        videos=getattr(args, "videos", None),
        how2sign_clips=getattr(args, "how2sign_clips", None),
        frame_rate=getattr(args, "frame_rate", None),
    )
