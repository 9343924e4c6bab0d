"""k-NN probe of the teacher encoder (beyond the paper): top-1 accuracy on a labelled crop set.

The probe embeds labelled crops with the teacher backbone (CLS token after the final norm — the feature the
translation stage uses), L2-normalises them and classifies each query crop by a weighted vote of its k nearest
training crops (cosine similarity, weights ``exp(sim / T)``; Wu et al. 2018, as DINO's k-NN evaluation). Labels
come from SynthSign (``signmusketeers synth``): facial expression for face crops, the handshape of the crop's hand
for hand crops; the manifest's split decides bank ("train") and queries (the rest).

Or from the user's own labels (:class:`CropLabels`), a CSV ``clip_id,frame,label`` matched against the crop records'
``clip_id`` and ``frame``: a blank or absent ``frame`` labels every crop of the clip, an optional ``side`` column
(``face``/``left``/``right``) labels one crop of the frame, an optional ``split`` column picks bank ("train") and
queries; without it a fixed fifth of the labelled clips (by a hash of their id) are the queries. A label row that
matches no crop of the folder is an error naming its line: a probe that silently scores fewer labels than given
could not be trusted.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningModule, Trainer

from signmusketeers.constants import IMAGENET_MEAN, IMAGENET_STD

LABEL_FIELD = {"face": "expression", "left": "left_handshape", "right": "right_handshape"}


def knn_predict(
    bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, k: int = 20, temperature: float = 0.07
) -> torch.Tensor:
    """Weighted k-NN vote: ``bank (N, D)``, ``queries (Q, D)`` L2-normalised, ``bank_labels (N,)`` → ``(Q,)``."""
    k = min(k, bank.shape[0])
    similarity, index = (queries @ bank.t()).topk(k, dim=1)
    votes = torch.zeros(queries.shape[0], int(bank_labels.max()) + 1, device=queries.device)
    votes.scatter_add_(1, bank_labels[index], (similarity / temperature).exp())
    return votes.argmax(dim=1)


def knn_top1(
    bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, query_labels: torch.Tensor,
    k: int = 20, temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of :func:`knn_predict` on labelled queries."""
    return float((knn_predict(bank, bank_labels, queries, k, temperature) == query_labels).float().mean())


def balanced_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over the classes present of the fraction of their queries predicted right (robust to a majority
    class, e.g. SynthSign's neutral face)."""
    return float(torch.stack([(predictions[labels == c] == c).float().mean() for c in labels.unique()]).mean())


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
        with open(self.path, newline="") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            reader = csv.DictReader(handle, delimiter="\t" if sample.count("\t") > sample.count(",") else ",")
            columns = reader.fieldnames or []
            if "clip_id" not in columns or "label" not in columns:
                raise ValueError(f"{self.path}: needs columns clip_id,label (frame, side, split optional); "
                                 f"found {columns}")
            for row in reader:
                where = f"{self.path}:{reader.line_num}"
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
                    raise ValueError(f"{where}: {self._describe(key)} is labelled {label!r} here and "
                                     f"{self.rows[key][0]!r} on line {self.rows[key][1]}")
                self.rows.setdefault(key, (label, reader.line_num))
                split = (row.get("split") or "").strip()
                if split:
                    if splits.setdefault(clip_id, split) != split:
                        raise ValueError(f"{where}: clip {clip_id!r} is in split {split!r} here, "
                                         f"{splits[clip_id]!r} above (bank and queries must not share a clip)")
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
        return (f"clip {clip_id!r}" + ("" if frame is None else f" frame {frame}")
                + ("" if side is None else f" ({side})"))

    def lookup(self, clip_id: str, frame: int, side: str) -> tuple[int, tuple[str, int | None, str | None]] | None:
        """``(label index, the row's key)`` of the crop, or None when no row labels it."""
        for key in ((clip_id, frame, side), (clip_id, frame, None), (clip_id, None, side), (clip_id, None, None)):
            if key in self._label_index:
                return self._label_index[key], key
        return None

    def check_matched(self, matched: set, seen: dict[str, set[int]], crops_dir: str | Path,
                      part: str | None) -> None:
        """Raise one line naming the first label row (of ``part``'s sides) that matched no crop of ``crops_dir``;
        ``matched`` holds the keys of the rows used, ``seen`` each clip's crop frames in the folder."""
        wanted = SIDES[part]
        unmatched = sorted((line, key) for key, (_, line) in self.rows.items()
                           if key not in matched and (key[2] is None or key[2] in wanted))
        if not unmatched:
            return
        line, key = unmatched[0]
        frames = sorted(seen.get(key[0], ()))
        if not frames:
            where = f"{crops_dir} has no {part + ' ' if part else ''}crops of that clip"
        else:
            shown = ", ".join(str(f) for f in frames[:8]) + (", ..." if len(frames) > 8 else "")
            where = f"{crops_dir} holds crops of frames {shown} of it (crop shards sample each clip's frames)"
        raise ValueError(f"{self.path}:{line}: {self._describe(key)} matches no crop: {where}; "
                         f"{len(unmatched)} of {len(self.rows)} label rows match none")


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

    images, labels, is_query, coverage = _labelled_share(crops_dir, synthsign_dir, part)
    if coverage is not None and not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        coverage[0].check_matched(coverage[1], coverage[2], crops_dir, part)
    if not len(images):
        raise ValueError(f"{crops_dir}: no labelled crops")
    return images, labels, is_query


def _labelled_share(
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
    from ..data.shards import decode_jpeg, open_dataset

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
    return (np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8), np.asarray(label_ids, np.int64),
            np.asarray(is_query, bool), (labels, matched, seen))


def _synthsign_labelled_share(
    crops_dir: str | Path, synthsign_dir: str | Path, part: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ..data.shards import decode_jpeg, open_dataset

    synthsign_dir = Path(synthsign_dir)
    manifest_path = synthsign_dir / "manifest.jsonl"
    if not manifest_path.exists():
        raise ValueError(f"{synthsign_dir}: no manifest.jsonl (the probe's labels come from a SynthSign folder)")
    clips = {}
    for line in manifest_path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            clips[entry["clip_id"]] = entry
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
    return (np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8), np.asarray(labels, np.int64),
            np.asarray(is_query, bool))


def _gather_from_ranks(item: Any) -> list[Any]:
    """``item`` of every rank (rank order) under ``torch.distributed``; ``[item]`` in a single process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [item]
    items: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(items, item)
    return items


@torch.no_grad()
def encode(backbone: torch.nn.Module, images: np.ndarray, image_size: int, batch_size: int = 64) -> torch.Tensor:
    """``uint8 (N, S, S, 3)`` → L2-normalised CLS features ``(N, D)`` of ``backbone`` (a DinoV2Backbone)."""
    device = next(backbone.parameters()).device
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    features = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start : start + batch_size]).to(device).permute(0, 3, 1, 2).float() / 255
        if x.shape[-1] != image_size:
            x = F.interpolate(x, size=(image_size, image_size), mode="bicubic", antialias=True).clamp(0, 1)
        features.append(F.normalize(backbone((x - mean) / std)["cls"].float(), dim=-1))
    return torch.cat(features)


def knn_scores(
    features: torch.Tensor, labels: torch.Tensor, is_query: torch.Tensor, k: int = 20, temperature: float = 0.07,
    source: str | Path = "probe",
) -> dict[str, float]:
    """``{"top1", "balanced"}`` of the weighted k-NN vote of the query rows against the bank rows (``features``
    L2-normalised)."""
    if is_query.all() or not is_query.any():
        raise ValueError(f"{source}: the probe needs labelled crops of both bank (train) and query clips")
    predictions = knn_predict(features[~is_query], labels[~is_query], features[is_query], k, temperature)
    return {
        "top1": float((predictions == labels[is_query]).float().mean()),
        "balanced": balanced_accuracy(predictions, labels[is_query]),
    }


class KNNProbe(Callback):
    """Reports ``probe/top1`` (and ``probe/balanced``, the mean per-class accuracy) of the teacher at the start of
    training, every ``every_n_steps`` steps (0: never) and at the end; writes ``{"before", "after", "history"}``
    (top-1 before and after, every measurement) to ``out`` (JSON) when given. Under DDP the ranks embed their
    shares of the probe crops and gather them, so every rank scores the whole probe set; rank 0 logs and writes.
    ``labels`` is a SynthSign folder or the user's label CSV (:class:`CropLabels`, with ``query_fraction`` of its
    clips as queries when it has no ``split`` column). ``part`` ("face" or "hand") probes only that part's crops of
    a mixed crop folder; face and hand labels are different label sets, so give it whenever the folder holds both."""

    def __init__(
        self, crops: str, labels: str, k: int = 20, temperature: float = 0.07, every_n_steps: int = 0,
        out: str | None = None, part: str | None = None, query_fraction: float = 0.2,
    ) -> None:
        self.crops, self.labels, self.k, self.temperature, self.part = crops, labels, k, temperature, part
        self.every_n_steps, self.out, self.query_fraction = every_n_steps, out, query_fraction
        self.history: list[dict[str, float]] = []
        self._data: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def measure(self, pl_module: LightningModule) -> dict[str, float]:
        """``{"top1", "balanced"}`` of the teacher's k-NN classification of the query crops.

        Under DDP every rank must call it: each embeds its share of the probe crops, the shares are gathered, and
        every rank scores the whole probe set (the same numbers on all ranks)."""
        if self._data is None:
            *data, coverage = _labelled_share(self.crops, self.labels, self.part, self.query_fraction)
            if coverage is not None:  # every label row must match a crop of some rank's share
                shares = _gather_from_ranks((coverage[1], coverage[2]))
                seen: dict[str, set[int]] = {}
                for _, share_seen in shares:
                    for clip_id, frames in share_seen.items():
                        seen.setdefault(clip_id, set()).update(frames)
                coverage[0].check_matched(set().union(*(m for m, _ in shares)), seen, self.crops, self.part)
            self._data = tuple(data)
        images, labels, is_query = self._data
        features = None
        if len(images):
            backbone = pl_module.teacher["backbone"]
            was_training = backbone.training
            backbone.eval()
            features = encode(backbone, images, pl_module.model_kwargs["img_size"]).cpu()
            backbone.train(was_training)
        shares = _gather_from_ranks((features, labels, is_query))
        if not any(share[0] is not None for share in shares):
            raise ValueError(f"{self.crops}: no labelled crops")
        features = torch.cat([share[0] for share in shares if share[0] is not None])
        labels_t = torch.as_tensor(np.concatenate([share[1] for share in shares]))
        query = torch.as_tensor(np.concatenate([share[2] for share in shares]))
        return knn_scores(features, labels_t, query, self.k, self.temperature, self.crops)

    def _record(self, trainer: Trainer, pl_module: LightningModule) -> None:
        scores = self.measure(pl_module)  # on every rank: the measurement gathers across ranks
        self.history.append({"step": trainer.global_step, **scores})
        if not trainer.is_global_zero:
            return
        if trainer.logger is not None:
            trainer.logger.log_metrics({f"probe/{k}": v for k, v in scores.items()}, step=trainer.global_step)
        if self.out:
            Path(self.out).parent.mkdir(parents=True, exist_ok=True)
            Path(self.out).write_text(json.dumps(
                {"before": self.history[0]["top1"], "after": scores["top1"], "history": self.history}, indent=2) + "\n")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record(trainer, pl_module)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._record(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.history or self.history[-1]["step"] != trainer.global_step:
            self._record(trainer, pl_module)


def main(argv: list[str] | None = None) -> int:
    """``python -m signmusketeers.pretrain.probe ENCODER... --crops CROPS --labels LABELS``: the k-NN probe of
    exported encoders (``signmusketeers export``, ``export --from-dinov2``), e.g. the original DINOv2 against
    DINOv2-H on your own labels. Crops go through each encoder as extraction feeds them (its input size and
    normalisation). One line per encoder, or JSON lines with ``--json``; an encoder that cannot be loaded is
    reported in one line and the others are still probed (exit 1 at the end)."""
    import argparse
    import sys

    from ..translate.encoders import EncoderError, load_encoder

    parser = argparse.ArgumentParser(prog="python -m signmusketeers.pretrain.probe", description=main.__doc__)
    parser.add_argument("encoders", nargs="+", metavar="ENCODER", help="encoder exports (.safetensors + .json)")
    parser.add_argument("--crops", required=True, help="crop shard folder (signmusketeers parse --crops-out)")
    parser.add_argument("--labels", required=True, help="a SynthSign folder or a label CSV (clip_id,frame,label)")
    parser.add_argument("--part", choices=("face", "hand"), default=None, help="probe only this part's crops")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=0.07)
    parser.add_argument("--query-fraction", type=float, default=0.2,
                        help="queries among the labelled clips when the CSV has no split column")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", action="store_true", help="one JSON object per encoder")
    args = parser.parse_args(argv)
    prog = "signmusketeers.pretrain.probe"
    try:
        *data, coverage = _labelled_share(args.crops, args.labels, args.part, args.query_fraction)
        if coverage is not None:
            coverage[0].check_matched(coverage[1], coverage[2], args.crops, args.part)
    except (ValueError, OSError) as error:
        print(f"{prog}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    images, labels, is_query = data
    if not len(images):
        print(f"{prog}: {args.crops}: no labelled crops", file=sys.stderr)
        return 1
    failed = 0
    for path in args.encoders:
        try:
            encoder = load_encoder(path, args.device)
            features = torch.cat([
                F.normalize(encoder(torch.from_numpy(images[start : start + args.batch_size])).float(), dim=-1)
                for start in range(0, len(images), args.batch_size)
            ]).cpu()
            scores = knn_scores(features, torch.as_tensor(labels), torch.as_tensor(is_query), args.k,
                                args.temperature, args.crops)
        except (EncoderError, ValueError) as error:
            print(f"{prog}: {str(error).splitlines()[0]}", file=sys.stderr)
            failed += 1
            continue
        counts = {"bank": int((~is_query).sum()), "queries": int(is_query.sum()), "classes": len(np.unique(labels))}
        if args.json:
            print(json.dumps({"encoder": str(path), **scores, **counts}))
        else:
            print(f"{path}: top-1 {scores['top1']:.3f}, balanced {scores['balanced']:.3f} "
                  f"({counts['bank']} bank crops, {counts['queries']} queries, {counts['classes']} classes)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
