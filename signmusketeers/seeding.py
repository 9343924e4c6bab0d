"""Counter-based seeds for exact resume: randomness that depends on *where* it is used, not on what ran before.

A run that is killed and resumed from a checkpoint cannot replay the history of a global random generator (loader
prefetching, worker processes and other ranks all draw from their own). Instead each random decision gets its own
seed made of a run seed and integer keys — (epoch, sample index) for a sample's augmentation, (step, batch, rank)
for a training step's masks, drop path and dropout — so a straight and a resumed run draw the same numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
