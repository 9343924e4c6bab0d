"""``signmusketeers parse INPUT... --out DIR [--crops-out DIR] [--stride 2] [--workers N] [--clip-records full|boxes]``.

Parses videos into clip shards (per clip: every ``stride``-th frame's three crops, the pose vectors, the box
provenance, the text; for translation; with ``--clip-records boxes`` the boxes and the source video's path instead
of the crops, which ``extract`` cuts again from the video) and optionally crop shards (sampled face and hand crops; for
pre-training), as resumable LitData shard folders (:class:`~signmusketeers.data.shards.ShardWriter`). Inputs that
cannot be parsed are reported one line each, logged in each output's ``failures.jsonl``, and make the exit code 1
after everything else is written.
"""

from __future__ import annotations

import argparse
import json
import concurrent.futures as futures
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.manifests import InputClip, ManifestError, read_inputs
from ..data.shards import LEDGER, ShardError, ShardManifest, ShardWriter, pack_jpegs
from .boxes import LANDMARKS, PART_NAMES, SHIFTED
from .landmarks import check_region
from .parser import FrameParser, ParsedClip, ParseError
from .video import probe_video

PAPER_STRIDE = 2  # paper §4: translation uses every second frame
PAPER_CROP_SIZE = 224  # paper §3.1
CLIP_RECORDS = ("full", "boxes")  # --clip-records: JPEG crops of every kept frame, or boxes + source video only


def clip_record(clip: ParsedClip, text: str = "", split: str = "", *, records: str = "full",
                video: str | None = None, video_frames: int = 0) -> dict[str, Any]:
    """The clip-shard record of DESIGN §3.

    ``records="full"``: the crops as JPEGs packed in one array + offsets. ``records="boxes"``: no crops; instead the
    source ``video`` (its absolute path), the
    frame count its header announced (``video_frames``, 0 = unknown) and the ``crop_size``, from which extraction
    cuts the same crops again (:mod:`signmusketeers.parsing.recrop`). Both kinds hold the boxes, pose, provenance,
    decoded frame indices, timestamps, fps and frame size.
    """
    record: dict[str, Any] = {}
    if records == "full":
        record["crops"], record["offsets"] = pack_jpegs(list(clip.crops.reshape(-1, *clip.crops.shape[2:])))
    elif records == "boxes":
        if video is None:
            raise ValueError("a boxes-only clip record needs its source video path")
        record.update(video=str(Path(video).resolve()), video_frames=np.array([video_frames], dtype=np.int64),
                      crop_size=np.array([clip.crops.shape[2]], dtype=np.int64))
    else:
        raise ValueError(f"clip records are one of {CLIP_RECORDS}, got {records!r}")
    return record | {
        "pose": clip.pose,
        "provenance": clip.provenance,
        "boxes": clip.boxes,
        "frames": clip.frame_index,
        "timestamps": clip.timestamps,
        "fps": np.array([clip.fps], dtype=np.float32),
        "size": np.array(clip.size, dtype=np.int64),
        "text": text,
        "split": split,
        "clip_id": clip.clip_id,
    }


def crop_records(clip: ParsedClip, frames_per_clip: int) -> list[dict[str, Any]]:
    """Crop-shard records for ``frames_per_clip`` evenly spaced frames (the middles of equal segments): the face and both hands (``part`` "face" or
    "hand", ``side`` "face"/"left"/"right"). Only crops whose box came from the part's own landmarks in that frame
    (possibly shifted into the frame) are kept: a fallback box may not hold the hand at all, which would teach the
    encoder noise."""
    if frames_per_clip <= 0:
        return []
    # The middles of equal segments of the clip: never just its first and last frames, where signers tend to rest.
    count = min(frames_per_clip, len(clip))
    positions = np.unique(((np.arange(count) + 0.5) * len(clip) / count).astype(int))
    records = []
    for position in positions:
        for part, side in enumerate(PART_NAMES):
            if not clip.found[position, part] or clip.provenance[position, part] not in (LANDMARKS, SHIFTED):
                continue
            data, _ = pack_jpegs([clip.crops[position, part]])
            records.append(
                {
                    "image": data,
                    "part": "face" if side == "face" else "hand",
                    "side": side,
                    "clip_id": clip.clip_id,
                    "frame": np.array([clip.frame_index[position]], dtype=np.int64),
                    "provenance": clip.provenance[position, part : part + 1].copy(),
                }
            )
    return records


# ------------------------------------------------------------------------------------------ work per clip

_PARSER: FrameParser | None = None


def _init_worker(parser_kwargs: dict[str, Any]) -> None:
    global _PARSER
    _PARSER = FrameParser(**parser_kwargs)


def parse_one(job: dict[str, Any]) -> dict[str, Any]:
    """Parse one clip in a worker; returns its records or the one-line failure reason (never raises for bad input)."""
    clip: InputClip = job["clip"]
    try:
        parsed = _PARSER.parse_video(
            clip.video, clip_id=clip.clip_id, landmarks=clip.landmarks, start=clip.start, end=clip.end
        )
        result = {"clip": clip, "frames": len(parsed)}
        if job["want_clip"]:
            records = job.get("clip_records", "full")
            announced = probe_video(clip.video).frames if records == "boxes" else 0
            result["clip_record"] = clip_record(parsed, clip.text, clip.split, records=records, video=clip.video,
                                                video_frames=announced)
        if job["want_crops"]:  # possibly none (budget spent): the clip still counts as done for the crop shards
            result["crop_records"] = crop_records(parsed, job["crop_frames"])
        if job["preview_dir"]:
            from .preview import render_preview, write_preview

            image = render_preview(clip.video, parsed, region_of_interest=_PARSER.region_of_interest)
            target = Path(job["preview_dir"]) / f"{clip.clip_id.replace('/', '__')}.png"
            write_preview(target, image)
        return result
    except (ParseError, ValueError) as error:
        message = str(error)
        return {"clip": clip, "error": message if message.startswith(clip.video) else f"{clip.video}: {message}"}
    except Exception as error:  # one bad input must not stop a corpus: report it like the others
        return {"clip": clip, "error": f"{clip.video}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}


# ------------------------------------------------------------------------------------------ command


def _region(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected four numbers x0,y0,x1,y1") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: expected four numbers x0,y0,x1,y1")
    return values


def _existing_clip_records(folder: Path) -> str | None:
    """The clip-record kind of an earlier run into ``folder``: from its manifest once finished, else from the field
    names of the segments an interrupted run made durable (LitData's ``data_spec`` in our ledgers)."""
    try:
        made_by = ShardManifest.read(folder).made_by
        if made_by.get("command") == "signmusketeers parse":
            return made_by.get("clip_records", "full")  # folders written before boxes-only records existed
    except ShardError:
        pass
    for ledger in sorted((folder / LEDGER).glob("[0-9]*-[0-9]*.json")):
        try:
            spec = json.loads(json.loads(ledger.read_text())["config"]["data_spec"])
            fields = json.loads(spec[1]["context"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue
        return "full" if "crops" in fields else "boxes" if "video" in fields else None
    return None


def register(parser: argparse.ArgumentParser):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders of videos, or manifests")
    parser.add_argument("--out", required=True, type=Path, help="clip shard folder (for translation)")
    parser.add_argument("--crops-out", type=Path, help="crop shard folder (face and hand crops for pre-training)")
    parser.add_argument("--stride", type=int, default=PAPER_STRIDE, help="keep every N-th frame (paper: 2)")
    parser.add_argument("--crop-size", type=int, default=PAPER_CROP_SIZE, help="crop side in pixels (paper: 224)")
    parser.add_argument(
        "--clip-records", choices=CLIP_RECORDS, default="full",
        help="full: JPEG crops of every kept frame (extract needs only the shards); boxes: boxes, pose and the source "
             "video's path, no crops (extract decodes the source videos again, which must then still be there)",
    )  # fmt: skip
    parser.add_argument("--crops-per-clip", type=int, default=16, help="frames per clip sampled for crop shards")
    parser.add_argument(
        "--crop-budget", type=int, default=None,
        help="stop adding to crop shards after about this many sampled frames in total (paper: 1M crops per encoder)"
    )
    parser.add_argument(
        "--roi", type=_region, default=None, metavar="X0,Y0,X1,Y1",
        help="region of interest holding the signer, as fractions of the frame (e.g. 0,0,0.5,1 = left half)",
    )  # fmt: skip
    parser.add_argument("--landmarks-model", type=Path, metavar="FILE.task",
                        help="MediaPipe Tasks HolisticLandmarker model file, instead of the Holistic models bundled "
                             "with mediapipe 0.10.21 (needs mediapipe >= 1.2, e.g. on Python 3.13)")
    parser.add_argument("--face-privacy", action="store_true", help="grey out all but eyes and mouth, then blur")
    parser.add_argument("--preview", action="store_true", help="write OUT/previews/CLIP.png with the boxes drawn")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes, one MediaPipe graph each")
    parser.add_argument(
        "--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
        help="make finished clips durable at least this often (an interrupted run loses at most this much work)",
    )  # fmt: skip
    parser.add_argument("--shard-index", type=int, default=0, help="this job's part of the inputs (job arrays)")
    parser.add_argument("--num-shards", type=int, default=1, help="how many jobs split the inputs")
    return run


def run(args: argparse.Namespace) -> int:
    def fail_line(text: str) -> None:
        print(f"signmusketeers parse: {text}", file=sys.stderr)

    if not 0 <= args.shard_index < args.num_shards:
        fail_line(f"--shard-index {args.shard_index} is not in [0, --num-shards {args.num_shards})")
        return 2
    if args.workers < 1 or args.stride < 1:
        fail_line("--workers and --stride must be at least 1")
        return 2
    try:
        clips = read_inputs(args.inputs)
    except (ManifestError, OSError) as error:
        fail_line(str(error))
        return 2
    clips = sorted(clips, key=lambda c: c.clip_id)[args.shard_index :: args.num_shards]

    parser_kwargs = {
        "crop_size": args.crop_size,
        "stride": args.stride,
        "region_of_interest": args.roi,
        "face_privacy": args.face_privacy,
        "keep_landmarks": False,
    }
    try:
        check_region(args.roi)
    except ValueError as error:
        fail_line(f"--roi: {error}")
        return 2
    if args.crops_out is not None and args.crops_out.resolve() == args.out.resolve():
        fail_line(f"{args.out}: --out and --crops-out must be different folders")
        return 2
    if args.clip_records == "boxes" and args.face_privacy:
        # The face landmarks that place the privacy mask are not kept; extraction could only cut the bare face.
        fail_line("--face-privacy needs --clip-records full (boxes-only records are cropped again from the "
                  "unmasked source video at extract time)")
        return 2
    existing = _existing_clip_records(args.out)
    if existing is not None and existing != args.clip_records:
        fail_line(f"{args.out}: holds {existing} clip records, cannot add --clip-records {args.clip_records} "
                  "(use another --out)")
        return 2
    arguments = {key: value if isinstance(value, (int, float, bool, type(None))) else str(value)
                 for key, value in vars(args).items()}  # fmt: skip
    made_by = {"command": "signmusketeers parse", "arguments": arguments, "config": {**parser_kwargs},
               "clip_records": args.clip_records}  # read by extract and by people: which kind of clip record
    made_by["config"].update(
        crops_per_clip=args.crops_per_clip,
        crop_budget=args.crop_budget,
        landmarks="the manifest's landmark files where given, else MediaPipe Holistic (model_complexity=1)",
    )
    if args.landmarks_model is not None:  # after made_by: the source object is not JSON, its path is
        from .landmarks import MediaPipeTasksHolistic

        made_by["config"]["landmarks"] = f"MediaPipe Tasks HolisticLandmarker ({args.landmarks_model.resolve()})"
        try:
            parser_kwargs["landmark_source"] = MediaPipeTasksHolistic(args.landmarks_model, region_of_interest=args.roi)
        except ValueError as error:
            fail_line(str(error))
            return 2
    split = {"shard_index": args.shard_index, "num_shards": args.num_shards, "segment_seconds": args.checkpoint_every}
    try:
        clip_writer = ShardWriter(args.out, "clips", made_by, **split)
        crop_writer = ShardWriter(args.crops_out, "crops", made_by, **split) if args.crops_out else None
    except (ShardError, OSError) as error:
        fail_line(str(error))
        return 2
    writers = [w for w in (clip_writer, crop_writer) if w is not None]
    preview_dir = None
    if args.preview:
        preview_dir = args.out / "previews"
        preview_dir.mkdir(parents=True, exist_ok=True)

    for clip in clips:  # not a failure: the crops still serve pre-training, the text may come from a text manifest
        if clip.split and not clip.text.strip():
            fail_line(f"{clip.video}: clip {clip.clip_id!r} of split {clip.split!r} has an empty transcript (kept; "
                      "give its text in the manifest, or to training with a text manifest)")
    failed = [c for c in clips if any(c.clip_id in w.failed_keys for w in writers)]
    for clip in failed:
        fail_line(f"{clip.video}: failed in an earlier run (see failures.jsonl; delete its line to retry)")

    def crop_frames() -> int:
        if crop_writer is None:
            return 0
        if args.crop_budget is None:
            return args.crops_per_clip
        faces_written = crop_writer.records // 3  # about one face and two hands per sampled frame
        return max(0, min(args.crops_per_clip, args.crop_budget - faces_written))

    jobs = []
    failed_before = {clip.clip_id for clip in failed}
    for clip in clips:
        if clip.clip_id in failed_before:
            continue
        want_clip = not clip_writer.is_done(clip.clip_id)
        want_crops = crop_writer is not None and not crop_writer.is_done(clip.clip_id)
        if want_clip or want_crops:
            jobs.append({"clip": clip, "want_clip": want_clip, "want_crops": want_crops, "preview_dir": preview_dir,
                         "clip_records": args.clip_records})

    started, frames, parsed = time.monotonic(), 0, 0

    def consume(result: dict[str, Any]) -> None:
        nonlocal frames, parsed
        clip = result["clip"]
        if "error" in result:
            fail_line(result["error"])
            failed.append(clip)
            for writer in writers:
                writer.fail(clip.clip_id, result["error"].split(": ", 1)[-1], input=clip.video)
            return
        frames += result["frames"]
        parsed += 1
        if "clip_record" in result:
            clip_writer.write(clip.clip_id, [result["clip_record"]])
        if "crop_records" in result and crop_writer is not None and not crop_writer.is_done(clip.clip_id):
            crop_writer.write(clip.clip_id, result["crop_records"])

    def with_crop_frames(job: dict[str, Any]) -> dict[str, Any]:
        return {**job, "crop_frames": crop_frames() if job["want_crops"] else 0}

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("parse"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[fps]}"))
    try:
        with Progress(*columns, transient=False, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("parse", total=len(jobs), fps="")

            def advance() -> None:
                progress.update(task, advance=1, fps=f"{frames / max(time.monotonic() - started, 1e-9):.1f} frames/s")

            if args.workers == 1:
                _init_worker(parser_kwargs)
                for job in jobs:
                    consume(parse_one(with_crop_frames(job)))
                    advance()
            else:
                context = multiprocessing.get_context("spawn")
                with futures.ProcessPoolExecutor(
                    args.workers, mp_context=context, initializer=_init_worker, initargs=(parser_kwargs,)
                ) as pool:
                    pending: set[futures.Future] = set()
                    queue = iter(jobs)
                    for job in queue:  # keep two clips per worker in flight: bounded memory, no idle worker
                        pending.add(pool.submit(parse_one, with_crop_frames(job)))
                        if len(pending) >= 2 * args.workers:
                            done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                            for future in done:
                                consume(future.result())
                                advance()
                    for future in futures.as_completed(pending):
                        consume(future.result())
                        advance()
    except futures.process.BrokenProcessPool:
        # A worker died (killed, out of memory, a crash inside MediaPipe): keep what is done, let a rerun redo the rest.
        fail_line("a worker process died; finished clips are kept, run the same command again to do the rest")
        return 1  # after the flush below
    finally:
        for writer in writers:
            writer.flush()  # what is complete stays written, even on Ctrl-C; a rerun does the rest
    for writer in writers:
        manifest = writer.finish()
        state = f"{manifest.records} records" if manifest else "waiting for the other --shard-index jobs"
        print(f"signmusketeers parse: {writer.folder}: {state}", file=sys.stderr)
    seconds = time.monotonic() - started
    print(
        f"signmusketeers parse: {parsed} clips parsed, {frames} frames in {seconds:.1f} s "
        f"({frames / max(seconds, 1e-9):.1f} frames/s), {len(failed)} failed",
        file=sys.stderr,
    )
    return 1 if failed else 0
