"""The work of :func:`~signmusketeers.data.corpus.parse_corpus`: one clip parsed in a worker process
(:func:`parse_one`), the worker pool that hands the results back in input order (:func:`run_in_order`), and their
writing into the shard folders (:class:`ResultWriter`).

Results are written in the order of the inputs whatever the workers' timing, so ``--workers 1`` and ``--workers N``
write byte-identical folders. A result that finished early waits for the earlier ones; at most two clips per worker
are parsed or waiting at any time (bounded memory).
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from signmusketeers.data.crop_sample import CropPlan, SampleTally, crop_records, pick_crops
from signmusketeers.data.manifests import InputClip
from signmusketeers.data.shards import ShardWriter
from signmusketeers.formats.records import clip_record
from signmusketeers.parsing.encoded import encode_clip
from signmusketeers.parsing.parser import FrameParser, ParseError
from signmusketeers.parsing.video import probe_video

_PARSER: FrameParser | None = None  # one per worker process: one MediaPipe graph each


def _init_worker(parser_kwargs: dict[str, Any]) -> None:
    global _PARSER
    _PARSER = FrameParser(**parser_kwargs)


def _records_of(job: dict[str, Any], parsed: Any, clip: InputClip, result: dict[str, Any]) -> None:
    """Add the clip record and crop records ``job`` wants to ``result``."""
    records = job.get("clip_records", "full")
    info = probe_video(clip.video, fps=clip.fps) if clip.end is not None or job["want_clip"] else None
    if clip.end is not None and info.duration and clip.end > info.duration:
        result["clamped"] = info.duration  # the segment ends past the video's end: cut at its end, counted
    if job["want_clip"]:
        announced = info.frames if records == "boxes" else 0
        result["clip_record"] = clip_record(
            parsed, clip.text, clip.split, records=records, video=clip.video, video_frames=announced
        )
    if job["want_crops"]:  # possibly none (no part detected): the clip still counts as done for the crop shards
        quota = job.get("quota")
        picks = (
            None
            if quota is None
            else pick_crops(clip.clip_id, parsed.found, parsed.provenance, *quota, seed=job["crop_seed"])
        )
        result["crop_records"] = crop_records(parsed, job["crop_frames"], picks)


def _side_files(job: dict[str, Any], parsed: Any, clip: InputClip) -> None:
    """Write the clip's ``.pose`` file and preview image where ``job`` asks for them."""
    if job.get("pose_file"):  # the clip's landmarks as a .pose (pose-format), at the rate of the kept frames
        from signmusketeers.parsing.posefile import write_pose_file

        height, width = parsed.size
        write_pose_file(job["pose_file"], parsed.landmarks, width, height, parsed.fps / _PARSER.stride)
    if job["preview_dir"]:
        from signmusketeers.parsing.preview import render_preview, write_preview

        image = render_preview(clip.video, parsed, region_of_interest=_PARSER.region_of_interest)
        target = Path(job["preview_dir"]) / f"{clip.clip_id.replace('/', '__')}.png"
        write_preview(target, image)


def parse_one(job: dict[str, Any]) -> dict[str, Any]:
    """Parse one clip in a worker; returns its records or the one-line failure reason (never raises for bad input)."""
    clip: InputClip = job["clip"]
    if clip.problem:  # found while reading the manifest (e.g. a missing video): a failure like any other
        return {"clip": clip, "error": f"{clip.video}: {clip.problem}"}
    try:
        # Frame by frame: each frame's crops are JPEG-encoded as it arrives and only the encoded ones are kept
        # (which crops: what the wanted records take), so a clip holds ~35 KB per kept 224-px frame, not ~450 KB.
        records = job.get("clip_records", "full")
        jpegs = (
            "all"
            if job["want_clip"] and records == "full" or job["preview_dir"]
            else "usable"
            if job["want_crops"]
            else "none"
        )
        parsed = encode_clip(
            _PARSER,
            clip.video,
            clip_id=clip.clip_id,
            jpegs=jpegs,
            keep_landmarks=bool(job.get("pose_file")),
            landmarks=clip.landmarks,
            start=clip.start,
            end=clip.end,
            fps=clip.fps,
        )
        result = {"clip": clip, "frames": len(parsed)}
        _records_of(job, parsed, clip, result)
        _side_files(job, parsed, clip)
        return result
    except (ParseError, ValueError) as error:
        message = str(error)
        return {"clip": clip, "error": message if message.startswith(clip.video) else f"{clip.video}: {message}"}
    except Exception as error:  # noqa: BLE001 - one bad input must not stop a corpus: reported like the others
        first = str(error).splitlines()[0] if str(error) else ""
        return {"clip": clip, "error": f"{clip.video}: {type(error).__name__}: {first}"}


def run_in_order(
    jobs: Sequence[dict[str, Any]],
    workers: int,
    parser_kwargs: dict[str, Any],
    handle: Callable[[dict[str, Any]], None],
) -> None:
    """Parse ``jobs`` (:func:`parse_one`) in ``workers`` processes and hand each result to ``handle`` in the jobs'
    order. Raises ``concurrent.futures.process.BrokenProcessPool`` when a worker dies."""
    if workers == 1:
        _init_worker(parser_kwargs)
        for job in jobs:
            handle(parse_one(job))
        return
    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(parser_kwargs,)
    ) as pool:
        running: dict[futures.Future, int] = {}
        ready: dict[int, dict[str, Any]] = {}  # finished ahead of an earlier clip: waiting for it
        queue, next_out, limit = iter(enumerate(jobs)), 0, 2 * workers
        while True:
            # two clips per worker parsed or waiting: bounded memory, no idle worker while the order allows
            while len(running) + len(ready) < limit and (item := next(queue, None)) is not None:
                running[pool.submit(parse_one, item[1])] = item[0]
            if not running:
                return
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                ready[running.pop(future)] = future.result()
            while next_out in ready:
                handle(ready.pop(next_out))
                next_out += 1


class ResultWriter:
    """Writes each parsed clip's records into the clip and crop shard folders and counts what was done;
    a failed clip is logged in both folders' ``failures.jsonl`` and reported through ``log``."""

    def __init__(
        self,
        clip_writer: ShardWriter,
        crop_writer: ShardWriter | None,
        plan: CropPlan | None,
        tally: SampleTally | None,
        log: Callable[[str], None],
        total: int,
    ) -> None:
        self.clip_writer, self.crop_writer, self.plan, self.tally, self.log = clip_writer, crop_writer, plan, tally, log
        self.writers = [w for w in (clip_writer, crop_writer) if w is not None]
        self.frames = self.parsed = self.clamped = 0
        self.failed: list[InputClip] = []
        self.started = time.monotonic()
        self._progress = _Progress(total)

    def __call__(self, result: dict[str, Any]) -> None:
        clip = result["clip"]
        if "error" in result:
            self.log(result["error"])
            self.failed.append(clip)
            for writer in self.writers:
                writer.fail(clip.clip_id, result["error"].split(": ", 1)[-1], input=clip.video)
        else:
            self.frames += result["frames"]
            self.parsed += 1
            self.clamped += "clamped" in result
            if "clip_record" in result:
                self.clip_writer.write(clip.clip_id, [result["clip_record"]])
            crops = self.crop_writer
            if "crop_records" in result and crops is not None and not crops.is_done(clip.clip_id):
                crops.write(clip.clip_id, result["crop_records"])
                if self.plan is not None:
                    self.tally.add(clip.clip_id, result["crop_records"])
        self._progress.advance(self.frames / max(time.monotonic() - self.started, 1e-9))

    def close(self) -> None:
        self._progress.close()


class _Progress:
    """A progress bar on a terminal (nothing otherwise)."""

    def __init__(self, total: int) -> None:
        import sys

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (
            TextColumn("parse"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[fps]}"),
        )
        self.bar = Progress(*columns, transient=False, disable=not sys.stderr.isatty())
        self.bar.start()
        self.task = self.bar.add_task("parse", total=total, fps="")

    def advance(self, fps: float) -> None:
        self.bar.update(self.task, advance=1, fps=f"{fps:.1f} frames/s")

    def close(self) -> None:
        self.bar.stop()
