"""Block-wise masking of the student's global crops for iBOT (BEiT's masking generator, as DINOv2 uses it).

:class:`BlockMaskGenerator` draws rectangles (area ≥ 4 patches, aspect ratio 0.3–3.3) until a target number of
patches is masked; :func:`sample_masks` picks which images of a batch are masked and how much, as DINOv2's
``collate_data_and_cast``: ``int(B * probability)`` images, their ratios drawn from consecutive slices of
``linspace(ratio_min, ratio_max)`` so the batch covers the whole range, in a shuffled order; the rest unmasked.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch


class BlockMaskGenerator:
    """Masks ``(height, width)`` patch grids block by block (BEiT / DINOv2 ``MaskingGenerator``).

    ``max_num_patches`` caps one block; DINOv2 sets it to half the grid.
    """

    def __init__(
        self,
        grid: tuple[int, int],
        min_num_patches: int = 4,
        max_num_patches: float | None = None,
        min_aspect: float = 0.3,
        max_aspect: float | None = None,
    ) -> None:
        self.height, self.width = grid
        self.num_patches = self.height * self.width
        self.min_num_patches = min_num_patches
        self.max_num_patches = 0.5 * self.num_patches if max_num_patches is None else max_num_patches
        max_aspect = max_aspect or 1 / min_aspect
        self.log_aspect_ratio = (math.log(min_aspect), math.log(max_aspect))

    def _add_block(self, mask: np.ndarray, max_patches: float, rng: random.Random) -> int:
        """Try (10 times) to add one rectangle that masks at least one new patch; returns patches added."""
        added = 0
        for _ in range(10):
            target_area = rng.uniform(self.min_num_patches, max_patches)
            aspect = math.exp(rng.uniform(*self.log_aspect_ratio))
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < self.width and h < self.height:
                top = rng.randint(0, self.height - h)
                left = rng.randint(0, self.width - w)
                block = mask[top : top + h, left : left + w]
                new = h * w - int(block.sum())
                if 0 < new <= max_patches:
                    block[...] = True
                    added += new
            if added > 0:
                break
        return added

    def __call__(self, num_masking_patches: int, rng: random.Random | None = None) -> np.ndarray:
        """A ``(height, width)`` bool mask with about ``num_masking_patches`` True (never more)."""
        rng = rng or random
        mask = np.zeros((self.height, self.width), dtype=bool)
        count = 0
        while count < num_masking_patches:
            max_patches = min(num_masking_patches - count, self.max_num_patches)
            added = self._add_block(mask, max_patches, rng)
            if added == 0:
                break
            count += added
        return mask


def sample_masks(
    batch_size: int,
    generator: BlockMaskGenerator,
    ratio_range: tuple[float, float] = (0.1, 0.5),
    probability: float = 0.5,
    rng: random.Random | None = None,
) -> torch.Tensor:
    """``(batch_size, N)`` bool masks for the student's global crops (N = patches per crop).

    ``int(batch_size * probability)`` images are masked, image i of them with ratio drawn uniformly from
    ``[p_i, p_{i+1}]`` of ``linspace(*ratio_range, n + 1)``; masks are shuffled over the batch.
    """
    rng = rng or random
    n_masked_images = int(batch_size * probability)
    bounds = np.linspace(ratio_range[0], ratio_range[1], n_masked_images + 1)
    n = generator.num_patches
    masks = [generator(int(n * rng.uniform(bounds[i], bounds[i + 1])), rng) for i in range(n_masked_images)]
    masks += [np.zeros((generator.height, generator.width), dtype=bool)] * (batch_size - n_masked_images)
    rng.shuffle(masks)
    return torch.from_numpy(np.stack(masks).reshape(batch_size, n))
