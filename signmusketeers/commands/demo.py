"""``signmusketeers demo``: SynthSign → parse → pre-train → export → extract → translate, with a summary."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the ``demo`` options to ``parser``; returns :func:`run`."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo_out"),
        help="output folder (default demo_out); an earlier demo's outputs in it are replaced",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, about half a minute on 2 CPU cores: every step runs, BLEU means nothing",
    )
    return run


def _terminal() -> Any:
    """A stream to the terminal that stays there while the steps' output (file descriptors 1 and 2) goes to logs."""
    try:
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    except (AttributeError, OSError, ValueError):  # no real file behind sys.stdout (e.g. captured in a notebook)
        return sys.stdout


def run(args: argparse.Namespace) -> int:
    """Run every stage of the demo into ``args.out`` and print its summary; a failing step is one line, exit 1."""
    from rich.console import Console

    from signmusketeers.demo import DEFAULT, QUICK, Demo, print_summary, run_demo

    console = Console(file=_terminal())
    demo = Demo(args.out, QUICK if args.quick else DEFAULT, console)
    try:
        summary = run_demo(demo)
    except (RuntimeError, FileNotFoundError) as error:
        console.print(f"signmusketeers demo: {error}", style="bold red", markup=False, soft_wrap=True)
        return 1
    print_summary(console, summary, args.out)
    return 0
