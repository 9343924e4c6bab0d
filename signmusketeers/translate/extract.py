"""Feature extraction, :func:`extract_features` (``signmusketeers extract``): clip shards → feature shards with the
frozen face and hand encoders (paper §3.3).

Every clip's face crops go through DINOv2-F and both hands' crops through DINOv2-H (one encoder for both hands,
as in the paper); the CLS features are stored per clip as ``face``, ``left``, ``right`` ``(T, 384)`` float16 with
the clip's ``pose`` ``(T, 14)``, ``text`` and ``clip_id`` (the feature record of :mod:`signmusketeers.formats.records`).
Crops of several clips are batched together for the encoders; decoding runs in loader worker processes: JPEG crops of
full clip records, or the source video of boxes-only records (``parse --clip-records boxes``), cut again with the
parser's boxes and crop function (:mod:`signmusketeers.translate.decoded_clips`).

Output: one feature shard folder per split of the clip records, ``OUT/train``, ``OUT/val``, ``OUT/test`` (clips
without a split go to ``OUT/unsplit``). Writing goes through :class:`~signmusketeers.data.shards.ShardWriter`, so an
interrupted run resumes where it stopped and every clip is written exactly once; several processes split the work
with ``--shard-index/--num-shards`` (or ``torchrun``: ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` are read, one GPU per
process), and the last one to finish publishes the folders. Encoders run in eval mode without gradients; extraction
happens once, never per training step.

``--global-encoder ENCODER`` adds the whole-frame stream of Table 2's "+ global frame" row: every kept frame whole,
padded (black, centred) to a square and resized to that encoder's input size
(:func:`~signmusketeers.parsing.recrop.whole_frame`), stored as ``global`` ``(T, D)`` beside the crop features. Full
clip records hold only the crops, so the whole frames come from the source videos of boxes-only records (decoded in
the same pass as their crops); a folder of full records is refused in one line.

Face privacy is carried forward: the clip folder's ``made_by.face_privacy`` (masked faces, ``parse``'s default) goes
into every feature folder's ``manifest.json``, boxes-only records are masked again as ``parse`` masked them, and a
feature folder already holding features of the other kind is refused in one line.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from signmusketeers.data.shard_manifest import INDEX, ShardError, ShardManifest, read_failures
from signmusketeers.data.shards import LEDGER, ShardWriter, open_dataset
from signmusketeers.errors import InputError
from signmusketeers.formats.encoder_file import encoder_paths, file_sha256
from signmusketeers.formats.records import feature_record
from signmusketeers.parsing.privacy import claim_face_privacy, describe, folder_face_privacy
from signmusketeers.pretrain.encoder import CropEncoder, load_encoder
from signmusketeers.translate.decoded_clips import NO_WHOLE_FRAMES, DecodedClips, batches_of_clips
from signmusketeers.translate.encoders import crop_features

SPLITS = ("train", "val", "test", "unsplit")


def _feature_record(clip: dict[str, Any], streams: dict[str, np.ndarray]) -> dict[str, Any]:
    """The feature record of one decoded clip (:func:`~signmusketeers.formats.records.feature_record`)."""
    return feature_record(
        clip["clip_id"],
        clip["text"],
        streams["face"],
        streams["left"],
        streams["right"],
        clip["pose"],
        global_features=streams.get("global"),
    )


def encode_clips(
    clips: list[dict[str, Any]],
    face_encoder: CropEncoder,
    hand_encoder: CropEncoder,
    dtype: np.dtype = np.float16,
    global_encoder: CropEncoder | None = None,
) -> list[dict[str, Any]]:
    """Feature records for decoded clips: one face-encoder and one hand-encoder forward over all their crops
    (:func:`~signmusketeers.translate.encoders.crop_features`), and one ``global_encoder`` forward over their whole
    frames, stored as ``global``, when given."""
    crops = torch.from_numpy(np.concatenate([c["crops"] for c in clips]))  # (ΣT, 3, S, S, 3)
    torch_dtype = torch.from_numpy(np.zeros(0, dtype)).dtype
    streams = {
        name: value.numpy() for name, value in crop_features(crops, face_encoder, hand_encoder, torch_dtype).items()
    }
    if global_encoder is not None:
        whole = global_encoder(torch.from_numpy(np.concatenate([c["whole"] for c in clips])))
        streams["global"] = whole.to(torch_dtype).cpu().numpy()
    records, start = [], 0
    for clip in clips:
        end = start + len(clip["pose"])
        records.append(_feature_record(clip, {name: value[start:end] for name, value in streams.items()}))
        start = end
    return records


def _as_is(item: dict[str, Any]) -> dict[str, Any]:
    """Loader collate that keeps numpy arrays (the default would turn them into tensors)."""
    return item


def _record_count(folder: Path) -> int:
    """Records in a shard folder, from its LitData index (whose chunk table is not kept: it grows with the corpus)."""
    return sum(chunk["chunk_size"] for chunk in json.loads((folder / INDEX).read_text())["chunks"])


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _clip_record_kind(folder: Path) -> str | None:
    """``"full"`` or ``"boxes"``: from the parse manifest, else from the first record's fields (None: no records)."""
    try:
        kind = ShardManifest.read(folder).made_by.get("clip_records")
    except ShardError:  # a LitData folder made by other means
        kind = None
    if kind is None and _record_count(folder):
        try:
            kind = "boxes" if "video" in open_dataset(folder, kind="clips")[0] else "full"
        except Exception:  # noqa: BLE001 - an unreadable first record: each clip is checked as it is decoded
            kind = None
    return kind


def _written_fields(folder: Path) -> set[str] | None:
    """The record fields an earlier (possibly interrupted) extract wrote into ``folder``, from LitData's data spec in
    our ledgers; None when nothing was written yet."""
    for ledger in sorted((folder / LEDGER).glob("[0-9]*-[0-9]*.json")):
        try:
            spec = json.loads(json.loads(ledger.read_text())["config"]["data_spec"])
            return set(json.loads(spec[1]["context"]))
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue
    return None


class ExtractError(InputError):
    """Extraction cannot start: bad options, encoders or folders; the message names the file and the problem."""


@dataclass
class ExtractReport:
    """What one ``extract`` process did: clips written, skipped (done by an earlier run) and failed, and the
    published feature folders with their record counts (``None`` while other shard indices are still running)."""

    written: int = 0
    skipped: int = 0
    failed: int = 0
    published: dict[str, int] | None = None

    def summary(self) -> str:
        text = f"{self.written} clips written, {self.skipped} already done, {self.failed} failed"
        if self.published is None:
            return text + "; other shard indices still running, the last one publishes"
        return text + "; published " + ", ".join(f"{folder} ({count})" for folder, count in self.published.items())


@dataclass
class _Job:
    """Everything :func:`extract_features` checked before the first clip."""

    clips: Path
    out: Path
    encoders: dict[str, CropEncoder]
    paths: dict[str, Path]
    shard_index: int
    num_shards: int
    face_privacy: bool | None


def extract_features(
    clips: str | os.PathLike,
    out: str | os.PathLike,
    *,
    face_encoder: str | os.PathLike,
    hand_encoder: str | os.PathLike,
    global_encoder: str | os.PathLike | None = None,
    frames_per_batch: int = 128,
    workers: int = 2,
    device: str | None = None,
    dtype: str = "float16",
    shard_index: int | None = None,
    num_shards: int | None = None,
    progress: bool = True,
    command: str = "signmusketeers extract",
    on_failure: Callable[[str], None] | None = None,
) -> ExtractReport:
    """Encode every clip of the clip shard folder ``clips`` into feature shards ``out/SPLIT`` (see module doc).

    ``shard_index``/``num_shards`` default to ``$RANK``/``$WORLD_SIZE`` (torchrun), ``device`` to
    ``cuda:$LOCAL_RANK`` when CUDA is available. ``command`` is recorded in the folders' ``made_by``;
    ``on_failure(line)`` hears each clip that fails (it is logged in the folder's failures and skipped). Raises
    :class:`ExtractError` (or the encoder's, shard's or privacy error), one line, before anything is written.
    """
    job = _prepare(
        Path(clips),
        Path(out),
        face_encoder,
        hand_encoder,
        global_encoder,
        frames_per_batch,
        workers,
        device,
        shard_index,
        num_shards,
    )
    writers = _open_writers(job, _made_by(job, command, dtype))
    report = ExtractReport()
    try:
        _encode_all(job, writers, report, frames_per_batch, workers, np.dtype(dtype), progress, on_failure)
    finally:
        for writer in writers.values():
            writer.flush()  # what is complete stays written; a rerun, in this process too, may take the folder
            writer.close()
    published = {split: writer.finish() for split, writer in writers.items()}
    for split, manifest in published.items():
        if manifest is not None and manifest.records == 0 and not read_failures(job.out / split):
            shutil.rmtree(job.out / split, ignore_errors=True)  # a split no clip belongs to
    if all(manifest is not None for manifest in published.values()):
        report.published = {str(job.out / s): m.records for s, m in published.items() if m.records}
    return report


def _open_writers(job: _Job, made_by: dict[str, Any]) -> dict[str, ShardWriter]:
    """One feature shard writer per split; a folder that cannot be opened raises :class:`ExtractError`."""
    writers: dict[str, ShardWriter] = {}
    try:
        for split in SPLITS:
            writers[split] = ShardWriter(
                job.out / split, "features", made_by, shard_index=job.shard_index, num_shards=job.num_shards
            )
    except (ShardError, OSError) as error:
        for opened in writers.values():
            opened.close()  # the splits opened before this one stay free
        raise ExtractError(str(error)) from None
    return writers


def _prepare(
    clips: Path,
    out: Path,
    face: str | os.PathLike,
    hand: str | os.PathLike,
    whole: str | os.PathLike | None,
    frames_per_batch: int,
    workers: int,
    device: str | None,
    shard_index: int | None,
    num_shards: int | None,
) -> _Job:
    """Check the options, load the encoders and check the folders; raises one line before anything is written."""
    shard_index = shard_index if shard_index is not None else _env_int("RANK", 0)
    num_shards = num_shards if num_shards is not None else _env_int("WORLD_SIZE", 1)
    if not 0 <= shard_index < num_shards:
        raise ExtractError(f"--shard-index {shard_index} is not in [0, --num-shards {num_shards})")
    if frames_per_batch < 1 or workers < 0:
        raise ExtractError("--frames-per-batch must be at least 1 and --workers at least 0")
    device = device or (f"cuda:{_env_int('LOCAL_RANK', 0)}" if torch.cuda.is_available() else "cpu")
    paths = {"face": Path(face), "hand": Path(hand), **({"global": Path(whole)} if whole else {})}
    encoders = {part: load_encoder(path, device) for part, path in paths.items()}
    # Opened to check the folder, not kept: its chunk table grows with the corpus, and the loader's DecodedClips
    # opens its own where the records are read.
    open_dataset(clips, kind="clips")
    if "global" in encoders and _clip_record_kind(clips) == "full":
        raise ExtractError(f"{clips}: {NO_WHOLE_FRAMES}")
    for split in SPLITS:  # a resumed run must write the same fields, or the folder would mix two record layouts
        fields = _written_fields(out / split)
        if fields is not None and ("global" in fields) != ("global" in encoders):
            had = "with" if "global" in fields else "without"
            raise ExtractError(
                f"{out / split}: an earlier run wrote features {had} the global stream; resume it the "
                "same way (--global-encoder) or write to another --out"
            )
    face_privacy = folder_face_privacy(clips)
    for split in SPLITS:
        existing = folder_face_privacy(out / split)
        if existing != face_privacy and (existing is not None or (out / split / "manifest.json").exists()):
            raise ExtractError(
                f"{out / split}: holds features of {describe(existing)}, {clips} has clips of "
                f"{describe(face_privacy)}; extract them into another --out"
            )
    if face_privacy is not None:
        for split in SPLITS:
            claim_face_privacy(out / split, face_privacy)
    return _Job(clips, out, encoders, paths, shard_index, num_shards, face_privacy)


def _made_by(job: _Job, command: str, dtype: str) -> dict[str, Any]:
    """The feature folders' ``made_by``: the command, the clip folder, the dtype, face privacy and each encoder."""
    made_by: dict[str, Any] = {
        "command": command,
        "clip_shards": str(job.clips.resolve()),
        "dtype": dtype,
        "face_privacy": job.face_privacy,  # read by training: carried into the translation checkpoint
    }
    for part, encoder in job.encoders.items():
        weights, _ = encoder_paths(job.paths[part])
        made_by[f"{part}_encoder"] = {
            "path": str(weights.resolve()),
            "sha256": file_sha256(weights),
            "model": encoder.spec.model_name,
            "model_kwargs": encoder.spec.model_kwargs,
        }
    return made_by


def _encode_all(
    job: _Job,
    writers: dict[str, ShardWriter],
    report: ExtractReport,
    frames_per_batch: int,
    workers: int,
    dtype: np.dtype,
    progress: bool,
    on_failure: Callable[[str], None] | None,
) -> None:
    """Decode this shard index's clips in loader workers, encode them in batches and write them (see module doc)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    done = set().union(*(w.done_keys | w.failed_keys for w in writers.values()))
    # Every record of the folder, split here by shard index. Not len(clips): under torchrun LitData reads
    # WORLD_SIZE and RANK itself and len() is this rank's share only, which split again would skip clips.
    # A range, not a list: constant memory at any corpus size, in this process and in each loader worker.
    indices = range(job.shard_index, _record_count(job.clips), job.num_shards)
    whole = job.encoders.get("global")
    decoded = DecodedClips(job.clips, indices, done, whole.spec.img_size if whole is not None else 0, job.face_privacy)
    loader = DataLoader(decoded, batch_size=None, num_workers=workers, collate_fn=_as_is)
    bar = Progress(
        TextColumn("extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    )
    with bar:
        task = bar.add_task("clips", total=len(indices))
        for batch, others in batches_of_clips(loader, frames_per_batch):
            for item in others:
                if item.get("skip"):
                    report.skipped += 1
                    continue
                if on_failure is not None:
                    on_failure(f"{job.clips}: {item.get('what', 'clip ' + item['clip_id'])}: {item['error']}")
                writers["unsplit"].fail(item["clip_id"], item["error"])
                report.failed += 1
            if batch:
                records = encode_clips(batch, job.encoders["face"], job.encoders["hand"], dtype, whole)
                for clip, record in zip(batch, records):
                    writers[clip["split"]].write(clip["clip_id"], [record])
                    report.written += 1
            bar.advance(task, len(batch) + len(others))
