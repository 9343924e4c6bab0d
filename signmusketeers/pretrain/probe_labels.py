"""The probe's labelled crops: the crops of a crop shard folder with SynthSign's labels or the user's own.

SynthSign's labels (``signmusketeers synth``): facial expression for face crops, the handshape of the crop's hand
for hand crops; the manifest's split decides bank ("train") and queries (the rest).

The user's own labels (:class:`CropLabels`): a CSV ``clip_id,frame,label`` matched against the crop records'
``clip_id`` and ``frame``: a blank or absent ``frame`` labels every crop of the clip, an optional ``side`` column
(``face``/``left``/``right``) labels one crop of the frame, an optional ``split`` column picks bank ("train") and
queries; without it a fixed fifth of the labelled clips (by a hash of their id) are the queries. A label row that
matches no crop of the folder is an error naming its line: a probe that silently scores fewer labels than given
could not be trusted.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from signmusketeers.data.tables import read_rows

LABEL_FIELD = {"face": "expression", "left": "left_handshape", "right": "right_handshape"}
SIDES = {"face": ("face",), "hand": ("left", "right"), None: ("face", "left", "right")}


class CropLabels:
    """The user's crop labels: a CSV (or tab-separated) file with columns ``clip_id``, ``label`` and optionally
    ``frame`` (blank or absent: every frame of the clip), ``side`` (``face``/``left``/``right``; blank or absent:
    every crop of the frame) and ``split`` ("train": bank; anything else: query). Without ``split``, the
    ``round(query_fraction × clips)`` labelled clips first in the order of their ids' SHA-1 are the queries (at least
    one, and at least one clip stays in the bank), so bank and queries never share a clip. Labels are any strings.

    :meth:`lookup` gives a crop its label (the most specific row: frame and side, frame, side, clip); errors name
    the file and line (missing columns, a frame that is not an integer, one crop labelled twice differently).
    """

    def __init__(self, path: str | Path, query_fraction: float = 0.2) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no such label file")
        if not 0.0 < query_fraction < 1.0:
            raise ValueError(f"query_fraction must be between 0 and 1, got {query_fraction}")
        self.rows: dict[tuple[str, int | None, str | None], tuple[str, int]] = {}  # key -> (label, line)
        splits: dict[str, str] = {}
        rows = read_rows(self.path, jsonl=False)
        columns = list(rows[0][1]) if rows else []
        if "clip_id" not in columns or "label" not in columns:
            raise ValueError(f"{self.path}: needs columns clip_id,label (frame, side, split optional); found {columns}")
        for line, row in rows:
            where = f"{self.path}:{line}"
            clip_id, label = (row.get("clip_id") or "").strip(), (row.get("label") or "").strip()
            if not clip_id or not label:
                raise ValueError(f"{where}: empty clip_id or label")
            frame_text = (row.get("frame") or "").strip()
            try:
                frame = int(frame_text) if frame_text else None
            except ValueError:
                raise ValueError(f"{where}: frame {frame_text!r} is not an integer") from None
            side = (row.get("side") or "").strip() or None
            if side not in (None, "face", "left", "right"):
                raise ValueError(f"{where}: side {side!r} is not face, left or right")
            key = (clip_id, frame, side)
            if key in self.rows and self.rows[key][0] != label:
                raise ValueError(
                    f"{where}: {self._describe(key)} is labelled {label!r} here and "
                    f"{self.rows[key][0]!r} on line {self.rows[key][1]}"
                )
            self.rows.setdefault(key, (label, line))
            split = (row.get("split") or "").strip()
            if split:
                if splits.setdefault(clip_id, split) != split:
                    raise ValueError(
                        f"{where}: clip {clip_id!r} is in split {split!r} here, "
                        f"{splits[clip_id]!r} above (bank and queries must not share a clip)"
                    )
        if not self.rows:
            raise ValueError(f"{self.path}: no label rows")
        self.names = sorted({label for label, _ in self.rows.values()})
        index = {name: i for i, name in enumerate(self.names)}
        self._label_index = {key: index[label] for key, (label, _) in self.rows.items()}
        clips = sorted({key[0] for key in self.rows})
        if splits:
            self.queries = {c for c in clips if splits.get(c, "train") != "train"}
        else:
            by_hash = sorted(clips, key=lambda c: hashlib.sha1(c.encode()).hexdigest())
            count = min(max(1, round(query_fraction * len(clips))), len(clips) - 1)
            self.queries = set(by_hash[:count])

    @staticmethod
    def _describe(key: tuple[str, int | None, str | None]) -> str:
        clip_id, frame, side = key
        return (
            f"clip {clip_id!r}" + ("" if frame is None else f" frame {frame}") + ("" if side is None else f" ({side})")
        )

    def lookup(self, clip_id: str, frame: int, side: str) -> tuple[int, tuple[str, int | None, str | None]] | None:
        """``(label index, the row's key)`` of the crop, or None when no row labels it."""
        for key in ((clip_id, frame, side), (clip_id, frame, None), (clip_id, None, side), (clip_id, None, None)):
            if key in self._label_index:
                return self._label_index[key], key
        return None

    def check_matched(self, matched: set, seen: dict[str, set[int]], crops_dir: str | Path, part: str | None) -> None:
        """Raise one line naming the first label row (of ``part``'s sides) that matched no crop of ``crops_dir``;
        ``matched`` holds the keys of the rows used, ``seen`` each clip's crop frames in the folder."""
        wanted = SIDES[part]
        unmatched = sorted(
            (line, key)
            for key, (_, line) in self.rows.items()
            if key not in matched and (key[2] is None or key[2] in wanted)
        )
        if not unmatched:
            return
        line, key = unmatched[0]
        frames = sorted(seen.get(key[0], ()))
        if not frames:
            where = f"{crops_dir} has no {part + ' ' if part else ''}crops of that clip"
        else:
            shown = ", ".join(str(f) for f in frames[:8]) + (", ..." if len(frames) > 8 else "")
            where = f"{crops_dir} holds crops of frames {shown} of it (crop shards sample each clip's frames)"
        raise ValueError(
            f"{self.path}:{line}: {self._describe(key)} matches no crop: {where}; "
            f"{len(unmatched)} of {len(self.rows)} label rows match none"
        )


def labelled_crops(
    crops_dir: str | Path, synthsign_dir: str | Path, part: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops of a crop shard folder with their labels: ``images uint8 (N, S, S, 3)``, ``labels (N,)``,
    ``is_query (N,)`` bool. ``synthsign_dir``: a SynthSign folder (crops whose label is -1, no expression / hand at
    rest, are left out) or the user's label CSV (:class:`CropLabels`; every row must match a crop). ``part``
    ("face" or "hand") keeps that part's crops of a mixed folder (``parse --crops-out`` writes one). Under
    ``torch.distributed`` this is the calling rank's share of the folder (LitData splits it, each crop once), and
    label rows are checked against the whole folder by :class:`KNNProbe` only."""
    import torch.distributed as dist

    images, labels, is_query, coverage = labelled_share(crops_dir, synthsign_dir, part)
    if coverage is not None and not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        coverage[0].check_matched(coverage[1], coverage[2], crops_dir, part)
    if not len(images):
        raise ValueError(f"{crops_dir}: no labelled crops")
    return images, labels, is_query


def labelled_share(
    crops_dir: str | Path, labels: str | Path, part: str | None, query_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[CropLabels, set, dict[str, set[int]]] | None]:
    """:func:`labelled_crops` without the checks (a rank's share may be empty, and may not cover every label row);
    the last item is ``(CropLabels, keys of the rows used, clip -> crop frames seen)`` for a label CSV, else None."""
    if Path(labels).is_file() or Path(labels).suffix.lower() in (".csv", ".tsv"):
        return _csv_labelled_share(crops_dir, CropLabels(labels, query_fraction), part)
    return (*_synthsign_labelled_share(crops_dir, labels, part), None)


def _csv_labelled_share(
    crops_dir: str | Path, labels: CropLabels, part: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[CropLabels, set, dict[str, set[int]]]]:
    from signmusketeers.data.shards import open_dataset
    from signmusketeers.formats.records import decode_jpeg

    images, label_ids, is_query = [], [], []
    matched: set = set()
    seen: dict[str, set[int]] = {}
    for record in open_dataset(crops_dir, kind="crops"):
        if part is not None and record["part"] != part:
            continue
        clip_id, frame = str(record["clip_id"]), int(np.asarray(record["frame"]).reshape(-1)[0])
        seen.setdefault(clip_id, set()).add(frame)
        found = labels.lookup(clip_id, frame, str(record.get("side", record["part"])))
        if found is None:
            continue  # an unlabelled crop: not part of the probe
        matched.add(found[1])
        images.append(decode_jpeg(record["image"]))
        label_ids.append(found[0])
        is_query.append(clip_id in labels.queries)
    return (
        np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8),
        np.asarray(label_ids, np.int64),
        np.asarray(is_query, bool),
        (labels, matched, seen),
    )


def _synthsign_labelled_share(
    crops_dir: str | Path, synthsign_dir: str | Path, part: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from signmusketeers.data.shards import open_dataset
    from signmusketeers.formats.records import decode_jpeg

    synthsign_dir = Path(synthsign_dir)
    manifest_path = synthsign_dir / "manifest.jsonl"
    if not manifest_path.exists():
        raise ValueError(f"{synthsign_dir}: no manifest.jsonl (the probe's labels come from a SynthSign folder)")
    clips = {entry["clip_id"]: entry for _, entry in read_rows(manifest_path)}
    label_arrays: dict[str, Any] = {}
    images, labels, is_query = [], [], []
    for record in open_dataset(crops_dir, kind="crops"):
        if part is not None and record["part"] != part:
            continue
        clip = clips.get(record["clip_id"])
        if clip is None:
            raise ValueError(f"{crops_dir}: crop of clip {record['clip_id']!r}, which {manifest_path} does not list")
        if record["clip_id"] not in label_arrays:
            label_arrays[record["clip_id"]] = np.load(synthsign_dir / clip["landmarks"])
        frame = int(np.asarray(record["frame"]).reshape(-1)[0])
        label = int(label_arrays[record["clip_id"]][LABEL_FIELD[record["side"]]][frame])
        if label < 0:
            continue
        images.append(decode_jpeg(record["image"]))
        labels.append(label)
        is_query.append(clip["split"] != "train")
    return (
        np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8),
        np.asarray(labels, np.int64),
        np.asarray(is_query, bool),
    )
