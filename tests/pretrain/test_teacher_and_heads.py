"""EMA teacher updates, the projection head and multi-crop augmentation."""

import numpy as np
import pytest
import torch
from PIL import Image

from signmusketeers.pretrain.augment import BLUR_PROBABILITY, MultiCropAugmentation, collate_multicrop
from signmusketeers.pretrain.heads import DINOHead
from signmusketeers.pretrain.teacher import ema_update


def _pair():
    torch.manual_seed(0)
    student, teacher = DINOHead(8, 16, hidden_dim=12, bottleneck_dim=4), DINOHead(8, 16, hidden_dim=12, bottleneck_dim=4)
    return student, teacher


def test_ema_momentum_one_keeps_and_zero_copies():
    student, teacher = _pair()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    ema_update(teacher, student, 1.0)
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    ema_update(teacher, student, 0.0)
    assert all(torch.equal(student.state_dict()[k], v) for k, v in teacher.state_dict().items())


def test_ema_hand_value():
    student, teacher = _pair()
    s, t = student.mlp[0].weight.detach().clone(), teacher.mlp[0].weight.detach().clone()
    ema_update(teacher, student, 0.994)
    assert torch.allclose(teacher.mlp[0].weight, 0.994 * t + 0.006 * s)


def test_head_shapes_and_weight_norm():
    head = DINOHead(32, n_prototypes=100, hidden_dim=64, bottleneck_dim=16)
    assert head(torch.randn(5, 32)).shape == (5, 100)
    assert len([m for m in head.mlp if isinstance(m, torch.nn.Linear)]) == 3
    # g = 1 and a unit bottleneck: every logit of the fresh head lies in [-1, 1]
    assert head(torch.randn(50, 32) * 100).abs().max() <= 1.0 + 1e-5


def test_multicrop_views_and_collate():
    augmentation = MultiCropAugmentation(global_size=56, local_size=28, n_local=3)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    views = augmentation(image)
    assert [v.shape for v in views["global_crops"]] == [(3, 56, 56)] * 2
    assert [v.shape for v in views["local_crops"]] == [(3, 28, 28)] * 3
    batch = collate_multicrop([views, augmentation(image)])
    assert batch["global_crops"].shape == (2, 2, 3, 56, 56) and batch["local_crops"].shape == (3, 2, 3, 28, 28)
    assert torch.equal(batch["global_crops"][1, 0], views["global_crops"][1])  # crop-major order
    assert BLUR_PROBABILITY == {"global_1": 0.0, "global_2": 0.9, "local": 0.5}  # as the official code applies
    assert -3 < float(batch["global_crops"].mean()) < 3  # ImageNet-normalised
