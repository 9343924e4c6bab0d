"""``signmusketeers parse INPUT... --out DIR [--crops-out DIR] [--stride 2] [--workers N] [--clip-records full|boxes]``:
videos → clip shards (for translation) and crop shards (for pre-training), by
:func:`~signmusketeers.data.corpus.parse_corpus`. Inputs that cannot be parsed are reported one line each, logged in
each output's ``failures.jsonl``, and make the exit code 1 after everything else is written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signmusketeers.commands.inputs import add_input_options, read_input_options
from signmusketeers.constants import CROP_SIZE, PAPER_STRIDE
from signmusketeers.errors import InputError
from signmusketeers.formats.records import CLIP_RECORDS


def register(parser: argparse.ArgumentParser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders of videos, or manifests")
    parser.add_argument("--out", required=True, type=Path, help="clip shard folder (for translation)")
    parser.add_argument("--crops-out", type=Path, help="crop shard folder (face and hand crops for pre-training)")
    add_input_options(parser)
    _add_frame_options(parser)
    _add_crop_sample_options(parser)
    _add_landmark_options(parser)
    _add_job_options(parser)
    return run


def _add_frame_options(parser: argparse.ArgumentParser) -> None:
    """Which frames are kept, their crops' size, and what a clip record holds."""
    parser.add_argument("--stride", type=int, default=PAPER_STRIDE, help="keep every N-th frame (paper: 2)")
    parser.add_argument("--crop-size", type=int, default=CROP_SIZE, help="crop side in pixels (paper: 224)")
    parser.add_argument(
        "--clip-records", choices=CLIP_RECORDS, default="full",
        help="full: JPEG crops of every kept frame (extract needs only the shards); boxes: boxes, pose and the source "
             "video's path, no crops (extract decodes the source videos again, which must then still be there)",
    )  # fmt: skip


def _add_crop_sample_options(parser: argparse.ArgumentParser) -> None:
    """Which frames give the crop shards: a few of every clip, or a seeded sample over the corpus."""
    parser.add_argument(
        "--crops-per-clip",
        type=int,
        default=None,
        help="frames of every clip for crop shards (16; without --face-crops/--hand-crops)",
    )
    parser.add_argument(
        "--face-crops",
        type=int,
        default=None,
        metavar="N",
        help="face crops of a seeded random sample over the whole corpus (paper: 1000000)",
    )
    parser.add_argument(
        "--hand-crops",
        type=int,
        default=None,
        metavar="N",
        help="hand crops (left and right together) of that sample, a budget of their own (paper: 1000000)",
    )
    parser.add_argument("--crop-seed", type=int, default=0, help="seed of the corpus-wide crop sample")
    parser.add_argument(
        "--crop-budget", type=int, default=None, metavar="N", help="the same as --face-crops N --hand-crops N"
    )


def _add_landmark_options(parser: argparse.ArgumentParser) -> None:
    """Where the signer is, how landmarks are found, face privacy, and the pictures and poses written beside."""
    parser.add_argument(
        "--roi", type=_region, default=None, metavar="X0,Y0,X1,Y1",
        help="region of interest holding the signer, as fractions of the frame (e.g. 0,0,0.5,1 = left half)",
    )  # fmt: skip
    parser.add_argument(
        "--face-privacy",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="grey out all but the eyes and mouth of face crops, then blur, as in the paper (default); "
        "--no-face-privacy keeps whole faces",
    )
    parser.add_argument("--preview", action="store_true", help="write OUT/previews/CLIP.png with the boxes drawn")
    parser.add_argument(
        "--poses-out",
        type=Path,
        metavar="DIR",
        help="also write each clip's landmarks as DIR/CLIP.pose (pose-format, MediaPipe Holistic layout)",
    )


def _add_job_options(parser: argparse.ArgumentParser) -> None:
    """Parallel workers, how often finished clips are made durable, and this job's part of the inputs."""
    parser.add_argument("--workers", type=int, default=1, help="parallel processes, one MediaPipe graph each")
    parser.add_argument(
        "--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
        help="make finished clips durable at least this often (an interrupted run loses at most this much work); "
             "inf: every 256 MB of records only, so that the chunk layout, and the bytes, do not depend on the "
             "machine's speed",
    )  # fmt: skip
    parser.add_argument("--shard-index", type=int, default=0, help="this job's part of the inputs (job arrays)")
    parser.add_argument("--num-shards", type=int, default=1, help="how many jobs split the inputs")


def _region(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected four numbers x0,y0,x1,y1") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: expected four numbers x0,y0,x1,y1")
    return values


def run(args: argparse.Namespace) -> int:
    from signmusketeers.data.corpus import parse_corpus
    from signmusketeers.data.corpus_jobs import DEFAULT_CROPS_PER_CLIP, json_value

    if args.crop_budget is not None:
        args.face_crops = args.crop_budget if args.face_crops is None else args.face_crops
        args.hand_crops = args.crop_budget if args.hand_crops is None else args.hand_crops
    try:
        clips = read_input_options(args)
    except OSError as error:
        raise InputError(str(error)) from None
    arguments = {key: json_value(value) for key, value in vars(args).items() if key != "verbose"}  # logs change nothing
    if arguments["crops_per_clip"] is None:
        arguments["crops_per_clip"] = DEFAULT_CROPS_PER_CLIP  # recorded so; a corpus-wide sample does not use it
    report = parse_corpus(
        clips,
        args.out,
        crops_out=args.crops_out,
        clip_records=args.clip_records,
        stride=args.stride,
        crop_size=args.crop_size,
        crops_per_clip=args.crops_per_clip,
        face_crops=args.face_crops,
        hand_crops=args.hand_crops,
        crop_seed=args.crop_seed,
        roi=args.roi,
        landmarks_model=args.landmarks_model,
        verbose=args.verbose,
        face_privacy=args.face_privacy,
        preview=args.preview,
        poses_out=args.poses_out,
        workers=args.workers,
        checkpoint_every=args.checkpoint_every,
        shard_index=args.shard_index,
        num_shards=args.num_shards,
        arguments=arguments,
        log=_say,
    )
    for line in report.lines():
        _say(line)
    return report.exit_code


def _say(line: str) -> None:
    print(f"signmusketeers parse: {line}", file=sys.stderr)
