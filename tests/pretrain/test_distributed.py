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
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
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


@pytest.mark.slow
def test_ddp_head_warmup_keeps_the_backbone_and_trains_the_heads(crop_shards, tmp_path):
    """Under DDP the backbone's gradients are still all-reduced (every parameter takes part in every backward) and
    dropped afterwards on both ranks: 3 warm-up steps of 3 leave both students' backbones as they started."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MASTER_PORT": str(_free_port())}
    result = subprocess.run(
        [sys.executable, str(REPO / "tests/pretrain/ddp_fit.py"), str(crop_shards[0]), str(tmp_path / "out"), "3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / "out" / f"rank{r}.pt") for r in range(2)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 3
    for rank in ranks:
        backbone = [k for k in rank["student"] if k.startswith("backbone.")]
        assert backbone and all(torch.equal(rank["student"][k], rank["start"][k]) for k in backbone)
        head = [k for k in rank["student"] if k.startswith("dino_head.") and "last_layer" not in k]
        assert any(not torch.equal(rank["student"][k], rank["start"][k]) for k in head)
    for key, value in ranks[0]["student"].items():
        assert torch.equal(value, ranks[1]["student"][key]), key


def test_ddp_resume_matches_a_straight_run_per_rank_and_probe_scores_the_whole_set(crop_shards, tmp_path):
    """2 ranks: a run killed before step 3 and resumed from its last checkpoint logs each rank's losses of the
    straight run and ends with its teacher and student; the k-NN probe gives every rank the score of the whole
    probe set (the same as one process measuring the same teacher)."""
    from signmusketeers.pretrain import DinoV2PretrainModule
    from signmusketeers.pretrain.probe import KNNProbe

    sys.path.insert(0, str(REPO / "tests/pretrain"))
    import ddp_resume

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MASTER_PORT": str(_free_port())}
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests/pretrain/ddp_resume.py"),
            str(crop_shards[0]),
            str(crop_shards[1]),
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    straight = [torch.load(out / f"straight-rank{r}.pt") for r in range(2)]
    resumed = [torch.load(out / f"resumed-rank{r}.pt") for r in range(2)]
    resumed_steps = list(range(ddp_resume.KILLED_AT, ddp_resume.STEPS))
    for rank in range(2):
        assert straight[rank]["steps"] == resumed[rank]["steps"] == ddp_resume.STEPS
        assert sorted(resumed[rank]["losses"]) == resumed_steps
        for step in resumed_steps:
            assert resumed[rank]["losses"][step] == pytest.approx(straight[rank]["losses"][step], rel=1e-6), (
                rank,
                step,
            )
        for part in ("teacher", "student"):
            for key, value in straight[rank][part].items():
                assert torch.allclose(resumed[rank][part][key], value, rtol=1e-5, atol=1e-7), (rank, part, key)
    # The ranks saw different crops (different losses), yet both probe the whole set: the same scores, and those of
    # one process measuring the final teacher.
    assert straight[0]["losses"][0] != straight[1]["losses"][0]
    assert straight[0]["probe"] == straight[1]["probe"] and len(straight[0]["probe"]) == 2
    module = DinoV2PretrainModule(**ddp_resume.MODEL)
    module.teacher.load_state_dict(straight[0]["teacher"])
    alone = KNNProbe(str(crop_shards[0]), str(crop_shards[1]), k=5).measure(module)
    assert straight[0]["probe"][-1]["top1"] == pytest.approx(alone["top1"])
    assert straight[0]["probe"][-1]["balanced"] == pytest.approx(alone["balanced"])
