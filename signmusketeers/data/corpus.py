"""The corpus job: videos → clip shards and crop shards (``signmusketeers parse``, :func:`parse_corpus`).

Clip shards hold per clip every ``stride``-th frame's three crops, the pose vectors, the box provenance and the
text, for translation; with ``clip_records="boxes"`` the boxes and the source video's path instead of the crops,
which ``extract`` cuts again from the video. Crop shards hold sampled face and hand crops for pre-training:
``crops_per_clip`` frames of every clip, or a seeded corpus-wide sample with separate face and hand budgets
(:mod:`signmusketeers.data.crop_sample`). Both are resumable LitData shard folders
(:class:`~signmusketeers.data.shards.ShardWriter`), written in input order whatever the number of workers. Inputs
that cannot be parsed are reported one line each and logged in each output's ``failures.jsonl``.

Face crops are masked as in the paper's recipe (§3.2, :mod:`signmusketeers.parsing.privacy`) unless
``face_privacy=False``; both folders' ``manifest.json`` record which (``made_by.face_privacy``), and boxes-only clip
records keep the eye and mouth landmarks with which ``extract`` masks its crops again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from signmusketeers.constants import CROP_SIZE, PAPER_STRIDE
from signmusketeers.data.corpus_jobs import CorpusSettings, check_settings, made_by, plan_jobs, plan_sample
from signmusketeers.data.corpus_run import ResultWriter, run_in_order
from signmusketeers.data.crop_sample import SampleTally
from signmusketeers.data.manifests import InputClip, read_inputs
from signmusketeers.data.shards import ShardBusyError, ShardWriter
from signmusketeers.errors import InputError
from signmusketeers.parsing.privacy import claim_face_privacy


@dataclass
class ParseReport:
    """What :func:`parse_corpus` did: counts, failures, the folders' states and the crop sample's figures."""

    parsed: int = 0  # clips parsed in this run
    frames: int = 0  # kept frames of those clips
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)  # inputs (videos) that failed, in this run or an earlier one
    clamped: int = 0  # segments ending past their video's end, cut at its end
    folders: list[tuple[Path, int | None]] = field(default_factory=list)  # (folder, records; None: other jobs run)
    sample: str | None = None  # the crop sample's summary line
    worker_died: bool = False  # a worker process died: finished clips are kept, a rerun does the rest

    @property
    def exit_code(self) -> int:
        """0 when every clip was parsed, 1 when some failed (or a worker died)."""
        return 1 if self.failed or self.worker_died else 0

    def lines(self) -> list[str]:
        """The report as ``signmusketeers parse`` prints it, one line each."""
        if self.worker_died:
            return ["a worker process died; finished clips are kept, run the same command again to do the rest"]
        lines = [
            f"{folder}: "
            + (f"{records} records" if records is not None else "waiting for the other --shard-index jobs")
            for folder, records in self.folders
        ]
        if self.sample is not None:
            lines.append(self.sample)
        clamped = (
            (f", {self.clamped} segment{'s' if self.clamped != 1 else ''} ending past the video's end (cut at its end)")
            if self.clamped
            else ""
        )
        lines.append(
            f"{self.parsed} clips parsed, {self.frames} frames in {self.seconds:.1f} s "
            f"({self.frames / max(self.seconds, 1e-9):.1f} frames/s), {len(self.failed)} failed{clamped}"
        )
        return lines


def parse_corpus(
    inputs: Sequence[InputClip | str | os.PathLike],
    out: str | os.PathLike,
    *,
    crops_out: str | os.PathLike | None = None,
    clip_records: str = "full",
    stride: int = PAPER_STRIDE,
    crop_size: int = CROP_SIZE,
    crops_per_clip: int | None = None,
    face_crops: int | None = None,
    hand_crops: int | None = None,
    crop_seed: int = 0,
    roi: tuple[float, float, float, float] | None = None,
    landmarks_model: str | os.PathLike | None = None,
    face_privacy: bool = True,
    preview: bool = False,
    poses_out: str | os.PathLike | None = None,
    workers: int = 1,
    checkpoint_every: float = 300.0,
    shard_index: int = 0,
    num_shards: int = 1,
    verbose: bool = False,
    arguments: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> ParseReport:
    """Parse ``inputs`` (clips, or paths of videos, folders and manifests) into the clip shard folder ``out`` and
    optionally the crop shard folder ``crops_out``; the keywords are ``signmusketeers parse``'s options.

    ``verbose``: let MediaPipe's and TF-Lite's own log lines through (hidden by default).
    ``arguments``: what ``manifest.json`` records as the command's arguments (default: these keywords).
    ``log``: receives one line per event as it happens (the crop plan, clips without text, failures).
    Raises :class:`~signmusketeers.errors.InputError` (one line) for options or folders that cannot be used.
    """
    settings = _settings(locals())  # the first statement: locals() holds exactly the keywords
    log = log or (lambda line: None)
    check_settings(settings)
    corpus = sorted(_read(inputs), key=lambda c: c.clip_id)  # every job's clips: the sample is planned over all
    clips = corpus[shard_index::num_shards]
    recorded = dict(arguments) if arguments is not None else settings.arguments()
    manifest_made_by, parser_kwargs = made_by(settings, recorded, verbose=verbose)
    for folder in (settings.out, settings.crops_out):
        if folder is not None:
            claim_face_privacy(folder, face_privacy)
    plan = plan_sample(settings, corpus, log)
    clip_writer, crop_writer = _open_writers(settings, manifest_made_by)
    return _run(settings, clips, plan, parser_kwargs, clip_writer, crop_writer, log)


def _settings(keywords: Mapping[str, Any]) -> CorpusSettings:
    """The :class:`CorpusSettings` of :func:`parse_corpus`'s keywords (its fields have their names), the paths as
    :class:`~pathlib.Path` (the optional ones None when not given)."""
    values = {setting.name: keywords[setting.name] for setting in fields(CorpusSettings)}
    values["out"] = Path(values["out"])
    for name in ("crops_out", "poses_out", "landmarks_model"):
        values[name] = None if values[name] is None else Path(values[name])
    return CorpusSettings(**values)


def _read(inputs: Sequence[InputClip | str | os.PathLike]) -> list[InputClip]:
    clips = [item for item in inputs if isinstance(item, InputClip)]
    paths = [item for item in inputs if not isinstance(item, InputClip)]
    try:
        return clips + (read_inputs(paths) if paths else [])
    except OSError as error:
        raise InputError(str(error)) from None


def _open_writers(settings: CorpusSettings, made_by: dict[str, Any]) -> tuple[ShardWriter, ShardWriter | None]:
    split = {
        "shard_index": settings.shard_index,
        "num_shards": settings.num_shards,
        "segment_seconds": settings.checkpoint_every,
    }
    writers: list[ShardWriter | None] = []
    for folder, kind, option in ((settings.out, "clips", "--out"), (settings.crops_out, "crops", "--crops-out")):
        try:
            writers.append(None if folder is None else ShardWriter(folder, kind, made_by, **split))
        except (ShardBusyError, OSError) as error:
            for opened in filter(None, writers):
                opened.close()  # the folders opened before this one stay free
            if not isinstance(error, ShardBusyError):
                raise InputError(str(error)) from None
            raise InputError(
                f"{error.folder}: another parse is writing this folder (shard index {error.shard_index}); "
                f"wait for it or use another {option}"
            ) from None
    return writers[0], writers[1]


def _run(
    settings: CorpusSettings,
    clips: list[InputClip],
    plan: Any,
    parser_kwargs: dict[str, Any],
    clip_writer: ShardWriter,
    crop_writer: ShardWriter | None,
    log: Callable[[str], None],
) -> ParseReport:
    """Parse the jobs of ``clips`` into the writers, then finish the folders; the report of it all."""
    writers = [w for w in (clip_writer, crop_writer) if w is not None]
    jobs, failed_before = plan_jobs(settings, clips, plan, clip_writer, crop_writer, log)
    tally = SampleTally(settings.crops_out, settings.shard_index) if plan is not None else None
    results = ResultWriter(clip_writer, crop_writer, plan, tally, log, len(jobs))
    report = ParseReport()
    try:
        run_in_order(jobs, settings.workers, parser_kwargs, results)
    except BrokenProcessPool:
        # A worker died (killed, out of memory, a crash inside MediaPipe): keep what is done, let a rerun redo the rest.
        report.worker_died = True
    finally:
        results.close()
        for writer in writers:
            writer.flush()  # what is complete stays written, even on Ctrl-C; a rerun does the rest
            writer.close()  # and the folder is free for that rerun, in this process too
    report.failed = [clip.video for clip in failed_before + results.failed]
    if report.worker_died:
        return report
    for writer in writers:
        manifest = writer.finish()
        report.folders.append((writer.folder, None if manifest is None else manifest.records))
        if writer is crop_writer and tally is not None:
            report.sample, figures = tally.report(plan, writer.finished_keys(), manifest is not None)
            if manifest is not None:
                manifest.made_by["sample"] = figures
                manifest.write(writer.folder)
        writer.close()
    report.parsed, report.frames, report.clamped = results.parsed, results.frames, results.clamped
    report.seconds = time.monotonic() - results.started
    return report
