"""``signmusketeers extract``: clip shards → feature shards with the frozen face and hand encoders (paper §3.3).

Every clip's face crops go through DINOv2-F and both hands' crops through DINOv2-H (one encoder for both hands,
as in the paper); the CLS features are stored per clip as ``face``, ``left``, ``right`` ``(T, 384)`` float16 with
the clip's ``pose`` ``(T, 14)``, ``text`` and ``clip_id`` (the feature record of :mod:`signmusketeers.data.features`). Crops of several
clips are batched together for the encoders; decoding runs in loader worker processes: JPEG crops of full clip
records, or the source video of boxes-only records (``parse --clip-records boxes``), cut again with the parser's boxes
and crop function.

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

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from signmusketeers.data.shards import INDEX, ShardError, ShardWriter, open_dataset, read_failures, unpack_clip_crops
from signmusketeers.data.shards import LEDGER, ShardManifest
from signmusketeers.parsing.privacy import FacePrivacyError, claim_face_privacy, describe, folder_face_privacy
from signmusketeers.parsing.recrop import SourceVideoError, record_crops
from signmusketeers.translate.encoders import CropEncoder, EncoderError, export_paths, file_sha256, load_encoder

SPLITS = ("train", "val", "test", "unsplit")


class DecodedClips(Dataset):
    """Clip records ``indices`` of a clip shard folder, with their crops decoded to ``uint8 (T, 3, S, S, 3)``.

    Full clip records hold the crops as JPEGs; boxes-only records (``parse --clip-records boxes``) are cropped
    again from their source video, with the parser's own decoding and crop function
    (:func:`~signmusketeers.parsing.recrop.record_crops`). A source video that is missing or is not the parsed one
    fails that clip with one line naming the file.

    Clips whose id is in ``skip`` are returned without decoding (``{"clip_id", "skip": True}``). A record that
    cannot be decoded comes back as ``{"clip_id", "error"}`` so the writer can log it and go on; one that cannot
    even be read (a damaged chunk file) comes back with ``"record N"`` (its index) as its ``clip_id``.

    ``whole_frame_size`` > 0 also returns ``"whole"``: ``uint8 (T, W, W, 3)`` whole frames of boxes-only records,
    decoded in the same pass as their crops (full records hold no whole frames: that clip fails).
    """

    def __init__(self, folder: str | os.PathLike, indices: Sequence[int], skip: set[str],
                 whole_frame_size: int = 0, face_privacy: bool | None = None) -> None:
        self.folder, self.indices, self.skip = str(folder), indices, skip
        self.whole_frame_size = whole_frame_size
        self.face_privacy = face_privacy
        self._dataset = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        if self._dataset is None:  # opened per worker process
            self._dataset = open_dataset(self.folder, kind="clips")
        index = self.indices[position]
        try:
            record = self._dataset[index]
        except Exception as error:  # noqa: BLE001 - a damaged chunk fails in LitData's reader with many types
            # Its clip id is unreadable too: the record's position names it (skipped as such on a rerun).
            key = f"record {index}"
            if key in self.skip:
                return {"clip_id": key, "skip": True}
            reason = (str(error).splitlines() or [type(error).__name__])[0].split(". ")[0]  # LitData's run on
            return {"clip_id": key, "what": key, "error": f"unreadable ({reason})"}
        clip_id = str(record["clip_id"])
        if clip_id in self.skip:
            return {"clip_id": clip_id, "skip": True}
        try:
            pose = np.asarray(record["pose"], dtype=np.float32)
            whole = None
            if self.whole_frame_size:
                if "video" not in record:
                    raise ValueError(NO_WHOLE_FRAMES)
                size = self.whole_frame_size
                whole = np.zeros((len(np.asarray(record["frames"])), size, size, 3), dtype=np.uint8)
            if "crops" in record:  # a full clip record: the crops as JPEGs
                crops = unpack_clip_crops(record)
            elif "video" in record:  # a boxes-only clip record: cut the same crops from the source video again
                if self.face_privacy and "face_regions" not in record:
                    raise ValueError("the folder has masked faces but this boxes-only record has no face regions")
                crops = record_crops(record, whole=whole)  # masked again with the record's face regions if any
            else:
                raise ValueError("neither JPEG crops nor a source video in the clip record")
            if len(crops) != len(pose):
                raise ValueError(f"crops of {len(crops)} frames for {len(pose)} frames of pose")
        except SourceVideoError as error:
            return {"clip_id": clip_id, "error": f"source video {error}"}
        except (ValueError, IndexError, KeyError) as error:
            return {"clip_id": clip_id, "error": str(error)}
        split = str(record.get("split", "") or "unsplit")
        item = {"clip_id": clip_id, "text": str(record.get("text", "")), "split": split, "pose": pose, "crops": crops}
        if whole is not None:
            item["whole"] = whole
        return item


NO_WHOLE_FRAMES = ("full clip records hold only the crops, not the whole frames the global stream needs: parse with "
                   "--clip-records boxes (extract then decodes the source videos)")


def encode_clips(
    clips: list[dict[str, Any]], face_encoder: CropEncoder, hand_encoder: CropEncoder, dtype: np.dtype = np.float16,
    global_encoder: CropEncoder | None = None,
) -> list[dict[str, Any]]:
    """Feature records for decoded clips: one face-encoder and one hand-encoder forward over all their crops (and
    one ``global_encoder`` forward over their whole frames, stored as ``global``, when given)."""
    crops = torch.from_numpy(np.concatenate([c["crops"] for c in clips]))  # (ΣT, 3, S, S, 3)
    frames = crops.shape[0]
    face = face_encoder(crops[:, 0]).cpu().numpy().astype(dtype)
    hands = hand_encoder(crops[:, 1:3].reshape(frames * 2, *crops.shape[2:])).cpu().numpy().astype(dtype)
    hands = hands.reshape(frames, 2, -1)
    whole = None
    if global_encoder is not None:
        whole = global_encoder(torch.from_numpy(np.concatenate([c["whole"] for c in clips]))).cpu().numpy()
        whole = whole.astype(dtype)
    records, start = [], 0
    for clip in clips:
        end = start + len(clip["pose"])
        records.append({
            "face": face[start:end], "left": hands[start:end, 0], "right": hands[start:end, 1],
            "pose": clip["pose"], "text": clip["text"], "clip_id": clip["clip_id"],
        })
        if whole is not None:
            records[-1]["global"] = whole[start:end]
        start = end
    return records


def batches_of_clips(loader: DataLoader, frames_per_batch: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """Group decoded clips into encoder batches of about ``frames_per_batch`` frames; yields (clips, others) where
    others are skipped or failed items passed through."""
    pending, others, frames = [], [], 0
    for item in loader:
        if "crops" not in item:
            others.append(item)
            continue
        pending.append(item)
        frames += len(item["pose"])
        if frames >= frames_per_batch:
            yield pending, others
            pending, others, frames = [], [], 0
    if pending or others:
        yield pending, others


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


def register(parser: argparse.ArgumentParser):
    parser.add_argument("clip_shards", type=Path, metavar="CLIP_SHARDS",
                        help="clip shard folder (signmusketeers parse)")
    parser.add_argument("--face-encoder", required=True, type=Path, help="face encoder export (.safetensors + .json)")
    parser.add_argument("--hand-encoder", required=True, type=Path, help="hand encoder export (.safetensors + .json)")
    parser.add_argument(
        "--global-encoder", type=Path, default=None,
        help="also encode every kept frame whole (padded to a square, resized) with this encoder export into the "
             "'global' stream (Table 2, + global frame; e.g. `export --from-dinov2`); needs boxes-only clip records",
    )  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="feature shard root: OUT/train, OUT/val, OUT/test")
    parser.add_argument("--frames-per-batch", type=int, default=128,
                        help="frames per encoder batch, gathered across clips (each frame = 1 face + 2 hand crops)")
    parser.add_argument("--workers", type=int, default=2,
                        help="decoding loader processes (JPEG crops, or the source videos of boxes-only clip records)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda:LOCAL_RANK if available, else cpu)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="stored feature dtype")
    parser.add_argument("--shard-index", type=int, default=None, help="this process's part (default: $RANK or 0)")
    parser.add_argument("--num-shards", type=int, default=None, help="number of parts (default: $WORLD_SIZE or 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return run


def run(args: argparse.Namespace) -> int:
    def fail_line(text: str) -> None:
        print(f"signmusketeers extract: {text}", file=sys.stderr)

    shard_index = args.shard_index if args.shard_index is not None else _env_int("RANK", 0)
    num_shards = args.num_shards if args.num_shards is not None else _env_int("WORLD_SIZE", 1)
    if not 0 <= shard_index < num_shards:
        fail_line(f"--shard-index {shard_index} is not in [0, --num-shards {num_shards})")
        return 2
    if args.frames_per_batch < 1 or args.workers < 0:
        fail_line("--frames-per-batch must be at least 1 and --workers at least 0")
        return 2
    device = args.device or (f"cuda:{_env_int('LOCAL_RANK', 0)}" if torch.cuda.is_available() else "cpu")
    try:
        face_encoder = load_encoder(args.face_encoder, device)
        hand_encoder = load_encoder(args.hand_encoder, device)
        global_encoder = load_encoder(args.global_encoder, device) if args.global_encoder else None
        # Opened to check the folder, not kept: its chunk table grows with the corpus, and the loader's
        # DecodedClips opens its own where the records are read.
        open_dataset(args.clip_shards, kind="clips")
        if global_encoder is not None and _clip_record_kind(args.clip_shards) == "full":
            raise ShardError(f"{args.clip_shards}: {NO_WHOLE_FRAMES}")
    except (EncoderError, ShardError) as error:
        fail_line(str(error))
        return 2
    for split in SPLITS:  # a resumed run must write the same fields, or the folder would mix two record layouts
        fields = _written_fields(args.out / split)
        if fields is not None and ("global" in fields) != (global_encoder is not None):
            had = "with" if "global" in fields else "without"
            fail_line(f"{args.out / split}: an earlier run wrote features {had} the global stream; resume it the "
                      "same way (--global-encoder) or write to another --out")
            return 2
    face_privacy = folder_face_privacy(args.clip_shards)
    made_by = {
        "command": "signmusketeers extract " + " ".join(sys.argv[2:]),
        "clip_shards": str(args.clip_shards.resolve()),
        "dtype": args.dtype,
        "face_privacy": face_privacy,  # read by training: carried into the translation checkpoint
    }
    for split in SPLITS:
        existing = folder_face_privacy(args.out / split)
        if existing != face_privacy and (existing is not None or (args.out / split / "manifest.json").exists()):
            fail_line(f"{args.out / split}: holds features of {describe(existing)}, {args.clip_shards} has clips of "
                      f"{describe(face_privacy)}; extract them into another --out")
            return 2
    try:
        for split in SPLITS:
            if face_privacy is not None:
                claim_face_privacy(args.out / split, face_privacy)
    except FacePrivacyError as error:
        fail_line(str(error))
        return 2
    encoders = [("face", args.face_encoder, face_encoder), ("hand", args.hand_encoder, hand_encoder)]
    if global_encoder is not None:
        encoders.append(("global", args.global_encoder, global_encoder))
    for part, path, encoder in encoders:
        weights, _ = export_paths(path)
        made_by[f"{part}_encoder"] = {"path": str(weights.resolve()), "sha256": file_sha256(weights),
                                      "model": encoder.spec.model_name, "model_kwargs": encoder.spec.model_kwargs}
    try:
        writers = {split: ShardWriter(args.out / split, "features", made_by, shard_index=shard_index,
                                      num_shards=num_shards) for split in SPLITS}
    except (ShardError, OSError) as error:
        fail_line(str(error))
        return 2
    done = set().union(*(w.done_keys | w.failed_keys for w in writers.values()))
    # Every record of the folder, split here by shard index. Not len(clips): under torchrun LitData reads
    # WORLD_SIZE and RANK itself and len() is this rank's share only, which split again would skip clips.
    # A range, not a list: constant memory at any corpus size, in this process and in each loader worker.
    indices = range(shard_index, _record_count(args.clip_shards), num_shards)
    whole_size = global_encoder.spec.img_size if global_encoder is not None else 0
    loader = DataLoader(DecodedClips(args.clip_shards, indices, done, whole_size, face_privacy), batch_size=None,
                        num_workers=args.workers, collate_fn=_as_is)
    dtype = np.dtype(args.dtype)
    written = failed = skipped = 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("extract"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        disable=args.no_progress, transient=False)
    try:
        with progress:
            task = progress.add_task("clips", total=len(indices))
            for batch, others in batches_of_clips(loader, args.frames_per_batch):
                for item in others:
                    if item.get("skip"):
                        skipped += 1
                    else:
                        fail_line(f"{args.clip_shards}: {item.get('what', 'clip ' + item['clip_id'])}: {item['error']}")
                        writers["unsplit"].fail(item["clip_id"], item["error"])
                        failed += 1
                if batch:
                    records = encode_clips(batch, face_encoder, hand_encoder, dtype, global_encoder)
                    for clip, record in zip(batch, records):
                        writers[clip["split"]].write(clip["clip_id"], [record])
                        written += 1
                progress.advance(task, len(batch) + len(others))
    finally:
        for writer in writers.values():
            writer.flush()
    published = {split: writer.finish() for split, writer in writers.items()}
    for split, manifest in published.items():
        if manifest is not None and manifest.records == 0 and not read_failures(args.out / split):
            # a split no clip belongs to
            shutil.rmtree(args.out / split, ignore_errors=True)
    summary = f"{written} clips written, {skipped} already done, {failed} failed"
    if all(m is not None for m in published.values()):
        written_splits = [f"{args.out / s} ({m.records})" for s, m in published.items() if m.records]
        summary += "; published " + ", ".join(written_splits)
    else:
        summary += "; other shard indices still running, the last one publishes"
    print(f"signmusketeers extract: {summary}", file=sys.stderr)
    return 1 if failed else 0
