"""``signmusketeers synth``: render a SynthSign set (videos, landmark files, manifest) into a folder."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from signmusketeers.errors import InputError


def register(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the ``synth`` options to ``parser``; returns :func:`run`."""
    from signmusketeers.synthsign.render import SynthSignConfig

    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--clips", type=int, default=200, help="number of clips (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; equal seeds give byte-identical files")
    parser.add_argument("--width", type=int, default=SynthSignConfig.width)
    parser.add_argument("--height", type=int, default=SynthSignConfig.height)
    parser.add_argument("--fps", type=float, default=SynthSignConfig.fps)
    parser.add_argument("--preview", action="store_true", help="also write preview.png, a contact sheet of frames")
    parser.add_argument("--workers", type=int, default=1, help="render in this many processes (same files)")
    return run


def run(args: argparse.Namespace) -> int:
    """Check the options, render the set with a progress bar and say where it went."""
    from rich.progress import Progress

    from signmusketeers.synthsign.render import SynthSignConfig
    from signmusketeers.synthsign.write import generate

    if args.clips < 1:
        raise InputError("--clips must be at least 1")
    if args.width < 96 or args.height < 96:
        raise InputError("--width and --height must be at least 96 pixels")
    config = SynthSignConfig(width=args.width, height=args.height, fps=args.fps)
    with Progress(transient=True) as bar:
        task = bar.add_task("rendering SynthSign", total=args.clips)
        manifest = generate(
            args.out,
            args.clips,
            args.seed,
            config,
            preview=args.preview,
            progress=lambda done: bar.update(task, completed=done),
            workers=args.workers,
        )
    print(f"wrote {args.clips} clips to {args.out} (manifest {manifest})")
    if args.preview:
        print(f"preview: {Path(args.out) / 'preview.png'}")
    return 0
