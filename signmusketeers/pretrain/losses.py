"""The DINOv2 self-distillation losses (Oquab et al. 2023, §4; official code `dinov2/loss/`).

* :func:`sinkhorn_knopp` — teacher targets by Sinkhorn-Knopp centering (SwAV's balanced assignment), the
  centering SignMusketeers Table 7 uses.
* :class:`DINOLoss` — image-level loss on CLS tokens: cross-entropy between the student's tempered softmax and the
  teacher's centred targets, summed over (student crop, teacher crop) pairs.
* :class:`iBOTPatchLoss` — patch-level loss on the student's masked patch tokens, each image weighted by one over
  its number of masked patches.
* :class:`KoLeoLoss` — Kozachenko-Leonenko entropy regulariser on the student's global CLS tokens.

All targets are computed in float32 whatever the autocast dtype: exponentials at temperature 0.04 need the range.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

CENTERINGS = ("sinkhorn_knopp", "softmax")


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_reduce(tensor: torch.Tensor, op=None) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
    return tensor


@torch.no_grad()
def sinkhorn_knopp(teacher_logits: torch.Tensor, temperature: float, n_iterations: int = 3) -> torch.Tensor:
    """Teacher targets by Sinkhorn-Knopp: ``(B, K)`` logits → ``(B, K)`` assignment, each row summing to 1.

    The matrix ``exp(logits / temperature)`` is alternately rescaled so that every prototype receives the same
    total mass (1/K) and every sample the same (1/B), as in DINOv2's ``sinkhorn_knopp_teacher``; B counts the
    rows of *all* ranks when ``torch.distributed`` is initialised (the sums are all-reduced), so the prototypes
    are balanced over the global batch. The iBOT loss calls it on its masked patch tokens, whose count may differ
    between ranks; that is why B is all-reduced rather than multiplied by the world size.

    Subtracting the global maximum logit first changes nothing (the first normalisation divides it out) but keeps
    ``exp`` finite for any logits.
    """
    logits = teacher_logits.float()
    local_max = logits.max() if logits.numel() else torch.tensor(float("-inf"), device=logits.device)
    shift = _all_reduce(local_max.clone(), dist.ReduceOp.MAX if _distributed() else None)
    q = torch.exp((logits - shift) / temperature).t()  # (K, B): prototypes × samples, as in the papers
    n_prototypes = q.shape[0]
    n_samples = _all_reduce(torch.tensor(float(q.shape[1]), device=q.device))
    q /= _all_reduce(q.sum())
    for _ in range(n_iterations):
        q /= _all_reduce(q.sum(dim=1, keepdim=True))  # each prototype: total mass 1/K
        q /= n_prototypes
        q /= q.sum(dim=0, keepdim=True)  # each sample: total mass 1/B (columns are local)
        q /= n_samples
    q *= n_samples  # columns sum to 1: an assignment per sample
    return q.t()


class SoftmaxCenter(nn.Module):
    """The alternative centering (DINO v1): subtract an EMA of the teacher's mean logits, then softmax.

    The centre used at step t is the EMA over the batches up to t-1 (DINOv2 applies the pending update before
    centering and queues the current batch's mean afterwards); the batch mean is over all ranks.
    """

    def __init__(self, out_dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    @torch.no_grad()
    def forward(self, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
        logits = teacher_logits.float()
        targets = F.softmax((logits - self.center) / temperature, dim=-1)
        total = _all_reduce(logits.sum(dim=0, keepdim=True))
        count = _all_reduce(torch.tensor(float(logits.shape[0]), device=logits.device))
        self.center.mul_(self.momentum).add_(total / count.clamp(min=1.0), alpha=1 - self.momentum)
        return targets


class _CenteredTargets(nn.Module):
    def __init__(self, out_dim: int, centering: str, center_momentum: float, sinkhorn_iterations: int) -> None:
        super().__init__()
        if centering not in CENTERINGS:
            raise ValueError(f"centering must be one of {CENTERINGS}, got {centering!r}")
        self.centering = centering
        self.sinkhorn_iterations = sinkhorn_iterations
        self.softmax_center = SoftmaxCenter(out_dim, center_momentum) if centering == "softmax" else None

    @torch.no_grad()
    def teacher_targets(self, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
        """``(N, K)`` teacher logits → ``(N, K)`` centred target distributions."""
        if self.softmax_center is not None:
            return self.softmax_center(teacher_logits, temperature)
        return sinkhorn_knopp(teacher_logits, temperature, self.sinkhorn_iterations)


def _cross_entropy(targets: torch.Tensor, student_logits: torch.Tensor, student_temp: float) -> torch.Tensor:
    """Per-row ``-sum_k t_k log softmax(s / T)_k``."""
    return -(targets * F.log_softmax(student_logits.float() / student_temp, dim=-1)).sum(dim=-1)


class DINOLoss(_CenteredTargets):
    """DINO's image-level loss (DINOv2 ``DINOLoss``).

    ``loss(student, teacher)`` sums, over every (student chunk, teacher chunk) pair, the batch-mean cross-entropy
    ``-sum_k t_k log softmax(s / student_temp)_k``; the caller passes matching chunks and divides by the number of
    loss terms. Targets come from :meth:`teacher_targets` (Sinkhorn-Knopp by default, or softmax centering).

    Shapes: each student chunk ``(B, K)`` logits, each teacher chunk ``(B, K)`` probabilities.
    """

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        centering: str = "sinkhorn_knopp",
        center_momentum: float = 0.9,
        sinkhorn_iterations: int = 3,
    ) -> None:
        super().__init__(out_dim, centering, center_momentum, sinkhorn_iterations)
        self.student_temp = student_temp

    def forward(self, student_logits: Sequence[torch.Tensor], teacher_targets: Sequence[torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for student in student_logits:
            for teacher in teacher_targets:
                total = total + _cross_entropy(teacher, student, self.student_temp).mean()
        return total


class iBOTPatchLoss(_CenteredTargets):  # noqa: N801 (the method's name)
    """iBOT's masked-patch loss (DINOv2 ``iBOTPatchLoss.forward_masked``).

    Inputs: ``student_logits`` and ``teacher_targets`` ``(M, K)`` for the M masked patches of the batch, in the
    order of ``masks.flatten().nonzero()``; ``masks`` ``(B, N)`` bool over the student's global crops. Each masked
    patch's cross-entropy is weighted by ``1 / (masked patches of its image)``, and the sum is divided by B, so every
    masked image counts equally and unmasked images count zero.
    """

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        centering: str = "sinkhorn_knopp",
        center_momentum: float = 0.9,
        sinkhorn_iterations: int = 3,
    ) -> None:
        super().__init__(out_dim, centering, center_momentum, sinkhorn_iterations)
        self.student_temp = student_temp

    @staticmethod
    def patch_weights(masks: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` bool masks → ``(M,)`` weights, one over the masked-patch count of each patch's image."""
        per_image = 1.0 / masks.sum(dim=-1).clamp(min=1).float()
        return per_image.unsqueeze(-1).expand_as(masks)[masks]

    def forward(self, student_logits: torch.Tensor, teacher_targets: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        per_patch = _cross_entropy(teacher_targets, student_logits, self.student_temp)
        return (per_patch * self.patch_weights(masks)).sum() / masks.shape[0]


class KoLeoLoss(nn.Module):
    """Kozachenko-Leonenko differential-entropy regulariser (Sablayrolles et al. 2019; DINOv2 ``KoLeoLoss``).

    ``(B, D)`` features → scalar ``-mean_i log(||x_i - x_nn(i)|| + eps)`` over L2-normalised rows, where ``nn(i)``
    is the row's nearest neighbour by inner product. ``eps`` is where the official forward puts it (the
    normalisation and the log); SignMusketeers raised it from 1e-8 to 1e-4 (Table 7). The pairwise-distance
    epsilon stays 1e-8. Computed in float32 outside autocast, as the official code does.
    """

    def __init__(self, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = eps
        self.pairwise_distance = nn.PairwiseDistance(p=2, eps=1e-8)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=features.device.type, enabled=False):
            x = F.normalize(features.float(), p=2, dim=-1, eps=self.eps)
            with torch.no_grad():
                similarity = x @ x.t()
                similarity.fill_diagonal_(-1.0)  # a row is not its own neighbour
                neighbour = similarity.argmax(dim=1)
            distances = self.pairwise_distance(x, x[neighbour])
            return -torch.log(distances + self.eps).mean()
