"""Counter-based seeds for exact resume: randomness that depends on *where* it is used, not on what ran before.

A run that is killed and resumed from a checkpoint cannot replay the history of a global random generator (loader
prefetching, worker processes and other ranks all draw from their own). Instead each random decision gets its own
seed made of a run seed and integer keys — (epoch, sample index) for a sample's augmentation, (step, batch, rank)
for a training step's masks, drop path and dropout — so a straight and a resumed run draw the same numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def derive_seed(base_seed: int, *keys: int) -> int:
    """A well-mixed 63-bit seed from ``base_seed`` and integer ``keys``: nearby keys give unrelated seeds
    (NumPy's ``SeedSequence`` hashing), so e.g. consecutive sample indices do not get correlated streams."""
    entropy = [int(base_seed) % 2**64, *(int(key) % 2**64 for key in keys)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> np.uint64(1))


@contextlib.contextmanager
def seeded_torch(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Within the block, torch's CPU generator (and ``device``'s, when it is a CUDA device) start from ``seed``;
    afterwards they are back where they were, so the block neither consumes nor disturbs the process's stream."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    on_cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if on_cuda else [], device_type="cuda" if on_cuda else None):
        # The generators themselves, not torch.manual_seed (which also visits every other backend: 100x slower,
        # and this runs once per augmented crop).
        torch.default_generator.manual_seed(seed)
        if on_cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


class StepSeeds:
    """The seeds of a LightningModule's training steps: ``derive_seed(run seed, step, batch index, rank)``.

    The run seed is rank 0's ``torch.initial_seed()`` broadcast at the start of a fresh fit (ranks differ without
    ``seed_everything``), and travels in checkpoints as a plain int (``weights_only=True`` still loads them), so a
    resumed run draws the same step seeds as a straight one. Outside ``trainer.fit`` (a bare call of
    ``training_step``) the process's own initial seed is used.
    """

    CHECKPOINT_KEY = "step_seed"

    def __init__(self) -> None:
        self.run_seed: int | None = None

    def on_train_start(self, module: Any) -> None:
        if self.run_seed is None:  # a fresh run; a resumed one has it from its checkpoint
            self.run_seed = int(module.trainer.strategy.broadcast(torch.initial_seed() % 2**63, src=0))

    def for_step(self, module: Any, batch_idx: int) -> int:
        if self.run_seed is None:
            self.run_seed = int(torch.initial_seed() % 2**63)
        return derive_seed(self.run_seed, module.global_step, batch_idx, module.global_rank)

    def save(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[self.CHECKPOINT_KEY] = self.run_seed

    def load(self, checkpoint: dict[str, Any]) -> None:
        self.run_seed = checkpoint.get(self.CHECKPOINT_KEY)
