"""The DINOv2 self-distillation losses (Oquab et al. 2023, §4; official code `dinov2/loss/`).

* :func:`sinkhorn_knopp` — teacher targets by Sinkhorn-Knopp centering (SwAV's balanced assignment), the
  centering SignMusketeers Table 7 uses.
* :class:`DINOLoss` — image-level loss on CLS tokens: cross-entropy between the student's tempered softmax and the
  teacher's centred targets, summed over (student crop, teacher crop) pairs.
* :class:`iBOTPatchLoss` — patch-level loss on the student's masked patch tokens, each image weighted by one over
  its number of masked patches.
* :class:`KoLeoLoss` — Kozachenko-Leonenko entropy regulariser on the student's global CLS tokens.

All targets and cross-entropies are computed in float32 (or wider) whatever the autocast dtype: exponentials at
temperature 0.04 need the range.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

CENTERINGS = ("sinkhorn_knopp", "softmax")


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_reduce(tensor: torch.Tensor, op=None) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(tensor, op=op or dist.ReduceOp.SUM)
    return tensor


@functools.cache
def _compiled(function: Callable) -> Callable:
    """``function`` compiled once by ``torch.compile``, which fuses its elementwise work and reductions into a few
    kernels; shapes are dynamic because the number of masked patches changes every step."""
    return torch.compile(function, dynamic=True)


@torch.no_grad()
def sinkhorn_knopp(
    teacher_logits: torch.Tensor, temperature: float, n_iterations: int = 3, fused: bool = False
) -> torch.Tensor:
    """Teacher targets by Sinkhorn-Knopp: ``(B, K)`` logits → ``(B, K)`` assignment, each row summing to 1.

    The matrix ``exp(logits / temperature)`` is alternately rescaled so that every prototype receives the same
    total mass (1/K) and every sample the same (1/B), as in DINOv2's ``sinkhorn_knopp_teacher``; B counts the
    rows of *all* ranks when ``torch.distributed`` is initialised (the sums are all-reduced), so the prototypes
    are balanced over the global batch. The iBOT loss calls it on its masked patch tokens, whose count may differ
    between ranks; that is why B is all-reduced rather than multiplied by the world size.

    Subtracting the global maximum logit first changes nothing (the first normalisation divides it out) but keeps
    ``exp`` finite for any logits. ``fused=True`` runs the same computation compiled by ``torch.compile``.
    """
    # The temperature goes in as a tensor so that its schedule does not make torch.compile specialise per value.
    dtype = torch.promote_types(teacher_logits.dtype, torch.float32)
    temperature = torch.as_tensor(temperature, dtype=dtype, device=teacher_logits.device)
    return (_compiled(_sinkhorn_knopp) if fused else _sinkhorn_knopp)(teacher_logits, temperature, n_iterations)


def _sinkhorn_knopp(teacher_logits: torch.Tensor, temperature: torch.Tensor, n_iterations: int) -> torch.Tensor:
    logits = _at_least_float32(teacher_logits)
    local_max = logits.max() if logits.numel() else torch.tensor(float("-inf"), device=logits.device)
    shift = _all_reduce(local_max.clone(), dist.ReduceOp.MAX if _distributed() else None)
    # (B, K) layout: the papers write Q as K × B, so their rows are our columns. Q = diag(a) · E · diag(b) with
    # E = exp(logits / T): the alternating rescalings only update the vectors a (samples) and b (prototypes), two
    # matrix-vector products an iteration, and Q is written once at the end; at 65536 prototypes and ~10k masked
    # patches that is 10 passes over the matrix instead of 24. The initial normalisation by the total mass of E
    # that the official code applies only scales b, which the next row step divides out, so it is left out.
    q = (logits - shift).div_(temperature).exp_()
    n_prototypes = q.shape[1]
    n_samples = _all_reduce(torch.tensor(float(q.shape[0]), device=q.device))
    a = q.new_ones(q.shape[0])
    for _ in range(n_iterations):
        b = 1.0 / (_all_reduce(a @ q) * n_prototypes)  # each prototype: total mass 1/K (over all ranks)
        a = 1.0 / ((q @ b) * n_samples)  # each sample: total mass 1/B (samples are local)
    q *= a.unsqueeze(1)
    q *= b.unsqueeze(0) * n_samples  # each sample's row sums to 1: an assignment
    return q


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
    def __init__(
        self, out_dim: int, centering: str, center_momentum: float, sinkhorn_iterations: int, fused: bool
    ) -> None:
        super().__init__()
        self.fused = fused
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
        return sinkhorn_knopp(teacher_logits, temperature, self.sinkhorn_iterations, self.fused)


class _SoftCrossEntropy(torch.autograd.Function):
    """Per-row ``-sum_k t_k log softmax(s / T)_k`` = ``logsumexp(s / T) · sum_k t_k - (t · s) / T``.

    Same value and gradient as composing ``log_softmax``, ``*`` and ``sum``, with less memory traffic: autograd's
    composition writes several ``(N, K)`` float32 tensors and keeps the log-softmax for backward, while this keeps
    only the logits as they came (bf16 under autocast) and recomputes the softmax in place in backward. At K = 65536
    and ~10k masked patches each such tensor is 2.6 GB, so this is most of what a DINOv2 step adds to its bare
    forward and backward on a GPU.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
        with torch.autocast(device_type=logits.device.type, enabled=False):
            dtype = torch.promote_types(logits.dtype, torch.float32)
            scaled = logits.to(dtype, copy=True).div_(temperature)
            log_normaliser = torch.logsumexp(scaled, dim=-1)
            mass = targets.sum(dim=-1, dtype=dtype)
            dots = scaled.mul_(targets).sum(dim=-1)  # in place: the scaled logits are not needed again
        ctx.save_for_backward(logits, targets, log_normaliser, mass)
        ctx.temperature = temperature
        return log_normaliser * mass - dots

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, targets, log_normaliser, mass = ctx.saved_tensors
        temperature = ctx.temperature
        # d/ds = (softmax(s / T) · sum_k t_k - t) / T, built in one float32 buffer.
        gradient = (
            logits.to(log_normaliser.dtype, copy=True).div_(temperature).sub_(log_normaliser.unsqueeze(-1)).exp_()
        )
        gradient.mul_(mass.unsqueeze(-1)).sub_(targets).mul_((grad / temperature).unsqueeze(-1))
        return gradient.to(logits.dtype), None, None


def _composed_cross_entropy(student_logits: torch.Tensor, targets: torch.Tensor, student_temp: float) -> torch.Tensor:
    scaled = _at_least_float32(student_logits) / student_temp
    return -(targets * F.log_softmax(scaled, dim=-1)).sum(dim=-1)


def soft_cross_entropy(
    student_logits: torch.Tensor, targets: torch.Tensor, student_temp: float, fused: bool = False
) -> torch.Tensor:
    """``(N, K)`` student logits and ``(N, K)`` target distributions → ``(N,)``
    ``-sum_k t_k log softmax(s / student_temp)_k``, computed in float32 or wider (gradient to the logits only).

    ``fused=False`` runs :class:`_SoftCrossEntropy` eagerly; ``fused=True`` compiles the plain composition with
    ``torch.compile``, which fuses forward and backward into a few passes over the logits (the choice for GPUs).
    """
    if fused:
        return _compiled(_composed_cross_entropy)(student_logits, targets.detach(), student_temp)
    return _SoftCrossEntropy.apply(student_logits, targets.detach(), student_temp)


class DINOLoss(_CenteredTargets):
    """DINO's image-level loss (DINOv2 ``DINOLoss``).

    ``loss(student, teacher)`` sums, over every (student chunk, teacher chunk) pair, the batch-mean cross-entropy
    ``-sum_k t_k log softmax(s / student_temp)_k``; the caller passes matching chunks and divides by the number of
    loss terms. Targets come from :meth:`teacher_targets` (Sinkhorn-Knopp by default, or softmax centering).
    ``fused=True`` compiles the cross-entropy and Sinkhorn-Knopp with ``torch.compile`` (same values).

    Shapes: each student chunk ``(B, K)`` logits, each teacher chunk ``(B, K)`` probabilities.
    """

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        centering: str = "sinkhorn_knopp",
        center_momentum: float = 0.9,
        sinkhorn_iterations: int = 3,
        fused: bool = False,
    ) -> None:
        super().__init__(out_dim, centering, center_momentum, sinkhorn_iterations, fused)
        self.student_temp = student_temp

    def forward(self, student_logits: Sequence[torch.Tensor], teacher_targets: Sequence[torch.Tensor]) -> torch.Tensor:
        # The cross-entropy is linear in the targets, so the pairs of one student chunk cost one cross-entropy
        # against the summed teacher chunks (rows then sum to the number of teacher chunks).
        summed_targets = teacher_targets[0] if len(teacher_targets) == 1 else sum(teacher_targets)
        return sum(
            soft_cross_entropy(student, summed_targets, self.student_temp, self.fused).mean()
            for student in student_logits
        )


class iBOTPatchLoss(_CenteredTargets):
    """iBOT's masked-patch loss (DINOv2 ``iBOTPatchLoss.forward_masked``).

    Inputs: ``student_logits`` and ``teacher_targets`` ``(M, K)`` for the M masked patches of the batch, in the
    order of ``masks.flatten().nonzero()``; ``masks`` ``(B, N)`` bool over the student's global crops. Each masked
    patch's cross-entropy is weighted by ``1 / (masked patches of its image)``, and the sum is divided by B, so every
    masked image counts equally and unmasked images count zero. ``fused`` as in :class:`DINOLoss`.
    """

    def __init__(
        self,
        out_dim: int,
        student_temp: float = 0.1,
        centering: str = "sinkhorn_knopp",
        center_momentum: float = 0.9,
        sinkhorn_iterations: int = 3,
        fused: bool = False,
    ) -> None:
        super().__init__(out_dim, centering, center_momentum, sinkhorn_iterations, fused)
        self.student_temp = student_temp

    @staticmethod
    def patch_weights(masks: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` bool masks → ``(M,)`` weights, one over the masked-patch count of each patch's image."""
        per_image = 1.0 / masks.sum(dim=-1).clamp(min=1).float()
        return per_image.unsqueeze(-1).expand_as(masks)[masks]

    def forward(self, student_logits: torch.Tensor, teacher_targets: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        per_patch = soft_cross_entropy(student_logits, teacher_targets, self.student_temp, self.fused)
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
