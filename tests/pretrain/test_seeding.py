"""Per-sample and per-step seeds: the same (seed, keys) give the same randomness, other keys other randomness, and
the process's global generator is left alone."""

import numpy as np
import torch
from PIL import Image

from signmusketeers.pretrain import CropShardDataModule
from signmusketeers.pretrain.augment import MultiCropAugmentation
from signmusketeers.seeding import derive_seed, seeded_torch


def test_derived_seeds_are_stable_and_differ_by_every_key():
    seeds = {derive_seed(0, epoch, index) for epoch in range(3) for index in range(100)}
    assert len(seeds) == 300 and all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(7, 1, 2) == derive_seed(7, 1, 2) != derive_seed(8, 1, 2)


def test_seeded_views_repeat_and_leave_the_global_generator_alone():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    augment = MultiCropAugmentation(global_size=32, local_size=16, n_local=2)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, again, other = augment(image, seed=5), augment(image, seed=5), augment(image, seed=6)
    assert torch.equal(torch.get_rng_state(), before)
    for key in ("global_crops", "local_crops"):
        assert all(torch.equal(a, b) for a, b in zip(first[key], again[key]))
    assert not torch.equal(first["global_crops"][0], other["global_crops"][0])
    with seeded_torch(9):
        drawn = torch.rand(3)
    with seeded_torch(9):
        assert torch.equal(torch.rand(3), drawn)
    assert torch.equal(torch.get_rng_state(), before)


def test_crop_views_depend_on_epoch_and_index_only(crop_shards):
    data = CropShardDataModule(
        str(crop_shards[0]),
        batch_size=4,
        num_workers=0,
        global_crops_size=32,
        local_crops_size=16,
        n_local_crops=1,
        seed=2,
    )
    data.setup("fit")
    dataset = data.dataset
    dataset.set_epoch(1)
    torch.manual_seed(0)
    first = dataset[3]["global_crops"][0]
    torch.manual_seed(1)  # the global generator does not matter
    assert torch.equal(dataset[3]["global_crops"][0], first)
    dataset.set_epoch(2)
    assert not torch.equal(dataset[3]["global_crops"][0], first)  # a new epoch, new views of the same crop
