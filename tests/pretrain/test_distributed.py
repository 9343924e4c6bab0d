"""Distributed correctness on CPU (gloo): Sinkhorn-Knopp over ranks, and a 2-process DDP fit."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from signmusketeers.pretrain.losses import sinkhorn_knopp

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sinkhorn_worker(rank: int, port: int, logits: torch.Tensor, splits: list[int], out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        start = sum(splits[:rank])
        torch.save(sinkhorn_knopp(logits[start : start + splits[rank]], 0.07), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("splits", [[5, 5], [7, 3]])  # unequal: iBOT's masked-patch counts differ per rank
def test_sinkhorn_knopp_over_two_ranks_equals_one_process(tmp_path, splits):
    logits = torch.randn(10, 6)
    mp.spawn(_sinkhorn_worker, args=(_free_port(), logits, splits, str(tmp_path)), nprocs=2, join=True)
    gathered = torch.cat([torch.load(tmp_path / f"rank{r}.pt") for r in range(2)])
    assert torch.allclose(gathered, sinkhorn_knopp(logits, 0.07), atol=1e-6)


def test_ddp_fit_keeps_teacher_identical_on_both_ranks(crop_shards, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MASTER_PORT": str(_free_port())}
    result = subprocess.run(
        [sys.executable, str(REPO / "tests/pretrain/ddp_fit.py"), str(crop_shards[0]), str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / "out" / f"rank{r}.pt") for r in range(2)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 3
    for key, value in ranks[0]["teacher"].items():
        assert torch.equal(value, ranks[1]["teacher"][key]), key
    for key, value in ranks[0]["student"].items():
        assert torch.equal(value, ranks[1]["student"][key]), key
    qkv = "backbone.vit.blocks.0.attn.qkv.weight"
    assert not torch.equal(ranks[0]["teacher"][qkv], ranks[0]["student"][qkv])  # an EMA, not a copy
