"""Sinkhorn-Knopp compiled by torch.compile (``compile_losses``) keeps its all-reduces over ranks: 2 gloo processes
with different numbers of rows get the same targets compiled and eager."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        from signmusketeers.pretrain.losses import sinkhorn_knopp

        logits = 0.3 * torch.randn(20 + 7 * rank, 64, generator=torch.Generator().manual_seed(rank))
        # Many iterations at a mild temperature, so that the prototypes end up balanced over both ranks.
        eager, fused = (sinkhorn_knopp(logits, 0.1, n_iterations=50, fused=f) for f in (False, True))
        results[rank] = ((eager - fused).abs().max().item(), eager.sum(dim=0))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.distributed
def test_compiled_sinkhorn_knopp_equals_eager_over_two_ranks():
    results = mp.Manager().dict()
    mp.spawn(_rank, args=(_free_port(), results), nprocs=2)
    assert results[0][0] < 1e-6 and results[1][0] < 1e-6
    # balanced over the global batch: each prototype's mass summed over both ranks is 47 rows / 64 prototypes
    assert torch.allclose(results[0][1] + results[1][1], torch.full((64,), 47 / 64), atol=1e-3)
