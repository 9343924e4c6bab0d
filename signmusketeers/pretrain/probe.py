"""k-NN probe of the teacher encoder (beyond the paper): top-1 accuracy on a labelled crop set.

The probe embeds labelled crops with the teacher backbone (CLS token after the final norm — the feature the
translation stage uses), L2-normalises them and classifies each query crop by a weighted vote of its k nearest
training crops (cosine similarity, weights ``exp(sim / T)``; Wu et al. 2018, as DINO's k-NN evaluation). Labels
come from SynthSign (``signmusketeers synth``): facial expression for face crops, the handshape of the crop's hand
for hand crops; the manifest's split decides bank ("train") and queries (the rest).

Or from the user's own labels (:mod:`signmusketeers.pretrain.probe_labels`). :func:`probe_encoders`
(``signmusketeers probe``) probes encoder files the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningModule, Trainer

from signmusketeers.constants import IMAGENET_MEAN, IMAGENET_STD
from signmusketeers.errors import InputError
from signmusketeers.pretrain.encoder import preprocess_crops
from signmusketeers.pretrain.probe_labels import labelled_share


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
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of :func:`knn_predict` on labelled queries."""
    return float((knn_predict(bank, bank_labels, queries, k, temperature) == query_labels).float().mean())


def balanced_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over the classes present of the fraction of their queries predicted right (robust to a majority
    class, e.g. SynthSign's neutral face)."""
    return float(torch.stack([(predictions[labels == c] == c).float().mean() for c in labels.unique()]).mean())


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
    """``uint8 (N, S, S, 3)`` → L2-normalised CLS features ``(N, D)`` of ``backbone`` (a DinoV2Backbone), the crops
    prepared as for the frozen encoders (:func:`~signmusketeers.pretrain.encoder.preprocess_crops`)."""
    device = next(backbone.parameters()).device
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return _normalised(
        lambda crops: backbone(preprocess_crops(crops, image_size, mean, std))["cls"], images, batch_size
    )


def _normalised(embed: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, batch_size: int) -> torch.Tensor:
    """L2-normalised ``embed(crops)`` of ``images`` taken ``batch_size`` at a time, on the CPU."""
    return torch.cat(
        [
            F.normalize(embed(torch.from_numpy(images[start : start + batch_size])).float(), dim=-1).cpu()
            for start in range(0, len(images), batch_size)
        ]
    )


def knn_scores(
    features: torch.Tensor,
    labels: torch.Tensor,
    is_query: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
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
    ``labels`` is a SynthSign folder or the user's label CSV
    (:class:`~signmusketeers.pretrain.probe_labels.CropLabels`, with ``query_fraction`` of its clips as queries
    when it has no ``split`` column). ``part`` ("face" or "hand") probes only that part's crops of
    a mixed crop folder; face and hand labels are different label sets, so give it whenever the folder holds both."""

    def __init__(
        self,
        crops: str,
        labels: str,
        k: int = 20,
        temperature: float = 0.07,
        every_n_steps: int = 0,
        out: str | None = None,
        part: str | None = None,
        query_fraction: float = 0.2,
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
            *data, coverage = labelled_share(self.crops, self.labels, self.part, self.query_fraction)
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
            Path(self.out).write_text(
                json.dumps(
                    {"before": self.history[0]["top1"], "after": scores["top1"], "history": self.history}, indent=2
                )
                + "\n"
            )

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._record(trainer, pl_module)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._record(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.history or self.history[-1]["step"] != trainer.global_step:
            self._record(trainer, pl_module)


class ProbeError(InputError):
    """Probe labels or crops that cannot be used; the message names the file (and line) and the problem."""


@dataclass
class ProbeReport:
    """:func:`probe_encoders`' result: one row per probed encoder (``{"encoder", "top1", "balanced", "bank",
    "queries", "classes"}``) and one line per encoder that could not be probed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def probe_encoders(
    encoders: list[str | Path],
    crops: str | Path,
    labels: str | Path,
    *,
    part: str | None = None,
    k: int = 20,
    temperature: float = 0.07,
    query_fraction: float = 0.2,
    batch_size: int = 64,
    device: str = "cpu",
) -> ProbeReport:
    """The k-NN probe of encoder files (``export``, ``export --from-dinov2``), e.g. the original DINOv2 against
    DINOv2-H on your own labels; crops go through each encoder as extraction feeds them. Bad labels or crops raise
    :class:`ProbeError`; an encoder that cannot be loaded is a failure line, the others are still probed."""
    from signmusketeers.pretrain.encoder import load_encoder

    try:
        *data, coverage = labelled_share(crops, labels, part, query_fraction)
        if coverage is not None:
            coverage[0].check_matched(coverage[1], coverage[2], crops, part)
    except (ValueError, OSError) as error:
        raise ProbeError(str(error).splitlines()[0]) from None
    images, label_ids, is_query = data
    if not len(images):
        raise ProbeError(f"{crops}: no labelled crops")
    counts = {"bank": int((~is_query).sum()), "queries": int(is_query.sum()), "classes": len(np.unique(label_ids))}
    report = ProbeReport()
    for path in encoders:
        try:
            encoder = load_encoder(path, device)
            features = _normalised(encoder, images, batch_size)
            scores = knn_scores(features, torch.as_tensor(label_ids), torch.as_tensor(is_query), k, temperature, crops)
        except ValueError as error:  # EncoderError is one
            report.failures.append(str(error).splitlines()[0])
            continue
        report.rows.append({"encoder": str(path), **scores, **counts})
    return report
