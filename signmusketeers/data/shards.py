"""Shard folders: LitData datasets plus our own ``manifest.json`` and ``failures.jsonl``.

Every stage meets the next through a shard folder: crop shards (pre-training), clip shards
(per-clip crops + pose) and feature shards (cached encoder outputs). LitData writes and streams them; this module
adds what LitData leaves to us:

* records hold only str and numpy arrays of at least one dimension (:func:`check_record`; their formats:
  :mod:`signmusketeers.formats.records`), and a dataset whose index lists the ``pickle`` serializer is refused on
  opening;
* every str is stored as text: LitData's own writer stores a str that names an existing file (a text such as
  ``notes.txt`` in the working folder, a video path) as that file's content or with pickle;
* a folder counts as written only once its ``index.json`` exists; :class:`ShardWriter` writes resumably and exactly
  once per key (a completed-key ledger, segments made durable by atomic renames) and publishes ``index.json`` last;
  one process at a time writes each shard index of a folder (a lock it holds for its life);
* JPEG bytes travel as ``uint8`` arrays (LitData hands ``bytes`` back as ``memoryview``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from signmusketeers.data.shard_manifest import (
    INDEX,
    MANIFEST,
    ShardError,
    ShardManifest,
    append_failures,
    check_existing_kind,
    check_record,
    read_failures,
)
from signmusketeers.formats.records import PART_CODES, write_part_index

# --------------------------------------------------------------------------------------------- records


def _text_serializers() -> dict[str, Any]:
    """Serializers for ``BinaryWriter``: LitData's "str" serializer (read back as usual) for every str, also one
    that names an existing file, which LitData's own would leave to its file, media or pickle serializers."""
    from litdata.streaming.serializers import StringSerializer

    class TextOnlyStringSerializer(StringSerializer):
        def can_serialize(self, data: Any) -> bool:
            return isinstance(data, str)

    return {"str": TextOnlyStringSerializer()}


def check_dataset_folder(folder: str | os.PathLike, kind: str | None = None) -> ShardManifest | None:
    """Check that ``folder`` is a finished LitData dataset with no pickled fields.

    Returns our manifest when present (it is absent from datasets other tools wrote), and raises
    :class:`ShardError` with a one-line reason otherwise.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ShardError(f"{folder}: no such shard folder")
    index_path = folder / INDEX
    if not index_path.exists():
        raise ShardError(
            f"{folder}: no {INDEX}: the shard folder was never finished (rerun the command that writes it)"
        )
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as error:
        raise ShardError(f"{index_path}: not valid JSON ({error.msg})") from None
    data_format = index.get("config", {}).get("data_format", [])
    if any(str(f).startswith("pickle") for f in data_format):
        raise ShardError(f"{folder}: a field is stored with pickle ({data_format}); refusing to unpickle shard data")
    manifest = ShardManifest.read(folder) if (folder / MANIFEST).exists() else None
    if manifest is not None and kind is not None and manifest.kind != kind:
        raise ShardError(f"{folder}: holds {manifest.kind} shards, expected {kind}")
    return manifest


def open_dataset(folder: str | os.PathLike, kind: str | None = None, **kwargs: Any):
    """A checked ``litdata.StreamingDataset`` over a shard folder (kwargs go to StreamingDataset)."""
    from litdata import StreamingDataset

    check_dataset_folder(folder, kind)
    return StreamingDataset(str(Path(folder).resolve()), **kwargs)


# --------------------------------------------------------------------------------------------- writing

LEDGER = ".ledger"
DEFAULT_CHUNK_BYTES = "64MB"


def _atomic_write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True) + "\n")
    tmp.replace(path)


class ShardWriter:
    """Resumable, exactly-once writer of a LitData shard folder, for any record kind (crops, clips, features).

    Records are grouped by a *key* (a clip id): all records of a key become visible together or not at all, and a
    key is written at most once over any number of interrupted and resumed runs. How, given what LitData leaves to
    us:

    * records go through LitData's ``BinaryWriter`` into a private temporary *segment* folder; closing a segment
      moves its chunk files into the shard folder under names unique to that segment and then writes the segment's
      ledger (``.ledger/SHARD-SEQ.json``: its keys, record count, chunk table and LitData config) atomically. A
      segment without a ledger never happened: a rerun deletes its chunks and temporary folder and redoes its keys;
    * the set of finished keys is the union of the ledgers, so a rerun skips them (:meth:`is_done`); keys that
      failed are logged once in ``failures.jsonl`` and are skipped too (delete their lines to retry them);
    * :meth:`finish` marks this shard index done and, once every shard index of the job array is done, writes
      LitData's ``index.json`` (atomically, from all ledgers) and our ``manifest.json``. Until then the folder has
      no ``index.json`` and readers refuse it.

    Several processes may write the same folder when each has its own ``shard_index`` (a cluster job array, or DDP
    ranks): their segment names, ledgers and cleanup never overlap. One writer per shard index at a time: the writer
    holds ``.ledger/lock-SHARD`` (``flock``) for its life, and a second writer of the same shard index raises
    :class:`ShardBusyError` (the lock goes with its process, also a killed one).
    ``optimize`` is not used because its checkpoint resume works per worker item list, not per key, and
    ``mode="append"`` duplicates; ``BinaryWriter`` is what ``optimize`` writes with underneath.

    Args:
        folder: the shard folder (created if needed).
        kind: ``"crops"``, ``"clips"`` or ``"features"``; stored in ``manifest.json`` and checked by readers.
        made_by: what made the folder (command, config, checksums); stored in ``manifest.json``.
        chunk_bytes: LitData chunk size.
        segment_bytes / segment_seconds: a segment is closed (made durable) after this many bytes of records or
            seconds, whichever comes first; they bound the work an interruption can lose. Segments end chunks, so
            closing them by the clock makes the chunk layout depend on the machine's speed;
            ``segment_seconds=math.inf`` closes them by size only, and the same records then give the same bytes
            however fast they come.
        shard_index / num_shards: this writer's part of a split job.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        kind: str,
        made_by: Mapping[str, Any] | None = None,
        *,
        chunk_bytes: int | str = DEFAULT_CHUNK_BYTES,
        segment_bytes: int = 256 * 2**20,
        segment_seconds: float = 300.0,
        shard_index: int = 0,
        num_shards: int = 1,
    ) -> None:
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard index {shard_index} is not in [0, {num_shards})")
        self.folder = Path(folder)
        self.kind = kind
        self.made_by = dict(made_by or {})
        self.chunk_bytes = chunk_bytes
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.shard_index = shard_index
        self.num_shards = num_shards
        self._prefix = f"{shard_index:05d}"
        self._ledger_dir = self.folder / LEDGER
        self._ledger_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_shard(self.folder, self._ledger_dir / f"lock-{self._prefix}", shard_index)
        existing = check_existing_kind(self.folder)
        if existing is not None and existing != kind:
            raise ShardError(f"{self.folder}: holds {existing} shards, cannot add {kind} shards")
        self._remove_unfinished_segments()
        self.done_keys: set[str] = set()
        self.records = 0
        self._next_seq = 0
        for name, ledger in self._ledgers().items():
            self.done_keys.update(ledger["keys"])
            self.records += int(ledger["records"])
            if name.startswith(self._prefix + "-"):
                self._next_seq = max(self._next_seq, int(name.split("-")[1]) + 1)
        self.failed_keys: set[str] = {str(f.get("key", f.get("input"))) for f in read_failures(self.folder)}
        self._segment = None  # the open litdata BinaryWriter
        self._segment_dir: Path | None = None
        self._segment_keys: list[str] = []
        self._segment_parts: list[str] = []  # crops: each record's part, for the folder's part index
        self._segment_records = 0
        self._segment_bytes = 0
        self._segment_opened = 0.0

    # ------------------------------------------------------------------ public

    def is_done(self, key: str) -> bool:
        """True when ``key`` was written (or failed) by this or an earlier run."""
        return key in self.done_keys or key in self.failed_keys

    def write(self, key: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Write all records of ``key`` (checked by :func:`check_record`); returns how many. A done key raises."""
        if self.is_done(key):
            raise ValueError(f"{self.folder}: key {key!r} was already written or failed; it is written once only")
        checked = [check_record(r) for r in records]
        if self._segment is None:
            self._open_segment()
        for record in checked:
            self._segment.add_item(self._segment_records, record)
            if self.kind == "crops":
                self._segment_parts.append(str(record.get("part", "")))
            self._segment_records += 1
            self._segment_bytes += sum(v.nbytes if isinstance(v, np.ndarray) else len(v) for v in record.values())
        self._segment_keys.append(key)
        self.done_keys.add(key)
        self.records += len(checked)
        late = time.monotonic() - self._segment_opened >= self.segment_seconds  # never with segment_seconds=inf
        if late or self._segment_bytes >= self.segment_bytes:
            self.flush()
        return len(checked)

    def fail(self, key: str, reason: str, **extra: Any) -> None:
        """Log ``key`` as failed in ``failures.jsonl`` (once) with a one-line reason."""
        if key in self.failed_keys:
            return
        append_failures(self.folder, [{"key": key, "reason": reason, **extra}])
        self.failed_keys.add(key)

    def flush(self) -> None:
        """Close the open segment: its keys become durable (survive an interruption)."""
        if self._segment is None:
            return
        writer, segment_dir, seq = self._segment, self._segment_dir, self._next_seq
        writer.done()
        index_files = sorted(segment_dir.glob("*.index.json"))
        chunks, config = [], None
        for index_file in index_files:
            part = json.loads(index_file.read_text())
            config = config or part["config"]
            chunks.extend(part["chunks"])
        renamed = []
        for number, chunk in enumerate(chunks):
            name = f"chunk-{self._prefix}-{seq:05d}-{number}.bin"
            os.replace(segment_dir / chunk["filename"], self.folder / name)
            renamed.append({**chunk, "filename": name})
        ledger = {"keys": self._segment_keys, "records": self._segment_records, "chunks": renamed, "config": config}
        if self.kind == "crops":
            ledger["parts"] = self._segment_parts
        _atomic_write_json(self._ledger_dir / f"{self._prefix}-{seq:05d}.json", ledger)
        _remove_tree(segment_dir)
        self._next_seq += 1
        self._segment = None
        self._segment_dir = None
        self._segment_keys, self._segment_records, self._segment_bytes = [], 0, 0
        self._segment_parts = []

    def finish(self) -> ShardManifest | None:
        """Flush, mark this shard index done and, when all are, publish ``index.json`` + ``manifest.json``.

        Returns the manifest once the folder is complete, ``None`` while other shard indices are still running.
        Releases the shard index's lock: nothing more is written.
        """
        self.flush()
        self.close()  # done writing: another run may take this shard index (and find every key done)
        marker = self._ledger_dir / f"done-{self.shard_index:05d}-of-{self.num_shards:05d}"
        marker.touch()
        missing = [
            i
            for i in range(self.num_shards)
            if not (self._ledger_dir / f"done-{i:05d}-of-{self.num_shards:05d}").exists()
        ]
        if missing:
            return None
        # Another shard index may publish at the same moment; republish until the ledgers seen are stable.
        while True:
            seen = sorted(self._ledgers())
            manifest = self._publish()
            if sorted(self._ledgers()) == seen:
                return manifest

    def finished_keys(self) -> set[str]:
        """The keys of every durable segment in the folder, of every shard index (read from the ledgers now)."""
        return {key for ledger in self._ledgers().values() for key in ledger["keys"]}

    def close(self) -> None:
        """Release the folder's lock for this shard index (without flushing); the writer is not used afterwards."""
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # On an error (including Ctrl-C) keep what is complete; the folder is published only by finish().
        self.flush()
        self.close()

    # ------------------------------------------------------------------ internals

    def _ledgers(self) -> dict[str, dict[str, Any]]:
        ledgers = {}
        for path in sorted(self._ledger_dir.glob("[0-9]*-[0-9]*.json")):
            ledgers[path.stem] = json.loads(path.read_text())
        return ledgers

    def _remove_unfinished_segments(self) -> None:
        finished = set(self._ledgers())
        for tmp in self.folder.glob(f".segment-{self._prefix}-*"):
            _remove_tree(tmp)
        for chunk in self.folder.glob(f"chunk-{self._prefix}-*.bin"):
            segment = "-".join(chunk.stem.split("-")[1:3])
            if segment not in finished:
                chunk.unlink()

    def _open_segment(self) -> None:
        from litdata.streaming.writer import BinaryWriter

        self._segment_dir = self.folder / f".segment-{self._prefix}-{self._next_seq:05d}"
        _remove_tree(self._segment_dir)
        self._segment = BinaryWriter(
            str(self._segment_dir), chunk_bytes=self.chunk_bytes, serializers=_text_serializers()
        )
        self._segment_opened = time.monotonic()

    def _publish(self) -> ShardManifest:
        ledgers = self._ledgers()
        chunks, config, records = [], None, 0
        for name, ledger in ledgers.items():
            # a segment of keys without records (a clip with no crop to take) has no config
            if (
                config is not None
                and ledger["config"] is not None
                and ledger["config"]["data_format"] != config["data_format"]
            ):
                raise ShardError(
                    f"{self.folder}: segment {name} stores fields as {ledger['config']['data_format']}, "
                    f"earlier segments as {config['data_format']}; records must keep one layout"
                )
            config = config or ledger["config"]
            chunks.extend(ledger["chunks"])
            records += int(ledger["records"])
        manifest = ShardManifest(kind=self.kind, records=records, made_by=self.made_by)
        if chunks:
            # LitData names its cache after "updated_at": a digest of the chunk table changes with the content and
            # keeps the same folder byte-identical
            updated = hashlib.sha1(json.dumps(chunks, sort_keys=True).encode()).hexdigest()[:16]
            _atomic_write_json(self.folder / INDEX, {"chunks": chunks, "config": config, "updated_at": updated})
            if self.kind == "crops" and all("parts" in ledger for ledger in ledgers.values()):
                # Global index order = the chunks' order in index.json = the ledgers' order, records in turn.
                parts = [PART_CODES.get(part, 255) for ledger in ledgers.values() for part in ledger["parts"]]
                write_part_index(self.folder, np.asarray(parts, dtype=np.uint8))
        manifest.write(self.folder)
        return manifest


class ShardBusyError(ShardError):
    """Another process is writing the same shard index of the folder (one line naming the folder)."""

    def __init__(self, folder: Path, shard_index: int) -> None:
        super().__init__(f"{folder}: another process is writing this folder (shard index {shard_index})")
        self.folder, self.shard_index = folder, shard_index


def _lock_shard(folder: Path, path: Path, shard_index: int):
    """The open lock file of one shard index, locked; raises :class:`ShardBusyError` when another holds it."""
    import fcntl

    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ShardBusyError(folder, shard_index) from None
    return handle


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
