"""k-NN probe of the teacher encoder (beyond the paper): top-1 accuracy on a labelled crop set.

The probe embeds labelled crops with the teacher backbone (CLS token after the final norm — the feature the
translation stage uses), L2-normalises them and classifies each query crop by a weighted vote of its k nearest
training crops (cosine similarity, weights ``exp(sim / T)``; Wu et al. 2018, as DINO's k-NN evaluation). Labels
come from SynthSign (``signmusketeers synth``): facial expression for face crops, the handshape of the crop's hand
for hand crops; the manifest's split decides bank ("train") and queries (the rest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningModule, Trainer

from .augment import IMAGENET_MEAN, IMAGENET_STD

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


def labelled_crops(
    crops_dir: str | Path, synthsign_dir: str | Path, part: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops of a crop shard folder with SynthSign labels: ``images uint8 (N, S, S, 3)``, ``labels (N,)``,
    ``is_query (N,)`` bool. Crops whose label is -1 (no expression / hand at rest) are left out; ``part``
    ("face" or "hand") keeps that part's crops of a mixed folder (``parse --crops-out`` writes one). Under
    ``torch.distributed`` this is the calling rank's share of the folder (LitData splits it, each crop once)."""
    images, labels, is_query = _labelled_share(crops_dir, synthsign_dir, part)
    if not len(images):
        raise ValueError(f"{crops_dir}: no labelled crops")
    return images, labels, is_query


def _labelled_share(
    crops_dir: str | Path, synthsign_dir: str | Path, part: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`labelled_crops` without the emptiness check (a rank's share may be empty)."""
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


class KNNProbe(Callback):
    """Reports ``probe/top1`` (and ``probe/balanced``, the mean per-class accuracy) of the teacher at the start of
    training, every ``every_n_steps`` steps (0: never) and at the end; writes ``{"before", "after", "history"}``
    (top-1 before and after, every measurement) to ``out`` (JSON) when given. Under DDP the ranks embed their
    shares of the probe crops and gather them, so every rank scores the whole probe set; rank 0 logs and writes.
    ``part`` ("face" or "hand") probes only that part's crops of a mixed crop folder; face and hand labels are
    different label sets, so give it whenever the folder holds both."""

    def __init__(
        self, crops: str, labels: str, k: int = 20, temperature: float = 0.07, every_n_steps: int = 0,
        out: str | None = None, part: str | None = None,
    ) -> None:
        self.crops, self.labels, self.k, self.temperature, self.part = crops, labels, k, temperature, part
        self.every_n_steps, self.out = every_n_steps, out
        self.history: list[dict[str, float]] = []
        self._data: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def measure(self, pl_module: LightningModule) -> dict[str, float]:
        """``{"top1", "balanced"}`` of the teacher's k-NN classification of the query crops.

        Under DDP every rank must call it: each embeds its share of the probe crops, the shares are gathered, and
        every rank scores the whole probe set (the same numbers on all ranks)."""
        if self._data is None:
            self._data = _labelled_share(self.crops, self.labels, self.part)
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
        if query.all() or not query.any():
            raise ValueError(f"{self.crops}: the probe needs crops of both train and non-train SynthSign clips")
        predictions = knn_predict(features[~query], labels_t[~query], features[query], self.k, self.temperature)
        return {
            "top1": float((predictions == labels_t[query]).float().mean()),
            "balanced": balanced_accuracy(predictions, labels_t[query]),
        }

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
