"""Block masking and the per-batch masking plan."""

import random

import numpy as np
import pytest

from signmusketeers.pretrain.masking import BlockMaskGenerator, sample_masks


def test_generator_masks_at_most_the_target_in_blocks():
    generator = BlockMaskGenerator((16, 16))
    assert generator.max_num_patches == 128  # DINOv2: half the grid
    rng = random.Random(0)
    for target in (0, 10, 50, 128):
        mask = generator(target, rng)
        assert mask.shape == (16, 16) and mask.dtype == bool
        assert mask.sum() <= target
        if target >= 10:
            assert mask.sum() >= 0.5 * target  # blocks fill most of the target on a 16×16 grid
    assert generator(0, rng).sum() == 0


def test_sample_masks_plan():
    generator = BlockMaskGenerator((16, 16))
    rng = random.Random(1)
    ratios = []
    for _ in range(20):
        masks = sample_masks(32, generator, (0.1, 0.5), 0.5, rng)
        assert masks.shape == (32, 256) and masks.dtype.is_floating_point is False
        counts = masks.sum(dim=1).numpy()
        assert (counts > 0).sum() == 16  # int(B · 0.5) images masked, the rest not
        ratios += list(counts[counts > 0] / 256)
    assert max(ratios) <= 0.5
    assert np.mean(ratios) == pytest.approx(0.3, abs=0.05)  # linspace(0.1, 0.5) slices cover the range
    assert min(ratios) < 0.15
