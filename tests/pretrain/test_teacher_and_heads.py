"""EMA teacher updates, the projection head and multi-crop augmentation."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from signmusketeers.pretrain.augment import MultiCropAugmentation, collate_multicrop, draw_view_params
from signmusketeers.pretrain.heads import DINOHead
from signmusketeers.pretrain.teacher import ema_update


def _pair():
    torch.manual_seed(0)
    return DINOHead(8, 16, hidden_dim=12, bottleneck_dim=4), DINOHead(8, 16, hidden_dim=12, bottleneck_dim=4)


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
    assert -3 < float(batch["global_crops"].mean()) < 3  # ImageNet-normalised


def test_blur_rates_are_those_the_official_code_applies():
    """DINOv2's ``GaussianBlur(p)`` hands ``1 - p`` to RandomApply: its p = 1.0 / 0.1 / 0.5 blur the first global
    crop never, the second 90% of the time and local crops half the time. Both augmentation paths must do that."""
    blurred = np.stack([draw_view_params(seed, 64, 64, n_local=4)["blur"] for seed in range(2000)]).mean(axis=0)
    assert blurred[0] == 0.0
    assert blurred[1] == pytest.approx(0.9, abs=0.03)
    assert blurred[2:] == pytest.approx([0.5] * 4, abs=0.05)

    augmentation = MultiCropAugmentation(global_size=56, local_size=28, n_local=1)
    applied = {"global_1": augmentation.global_1, "global_2": augmentation.global_2, "local": augmentation.local}
    for name, expected in (("global_1", 0.0), ("global_2", 0.9), ("local", 0.5)):
        blur = next(
            t
            for t in applied[name].transforms
            if isinstance(t, T.RandomApply) and isinstance(t.transforms[0], T.GaussianBlur)
        )
        calls = []
        blur.transforms[0].forward = lambda image, calls=calls: calls.append(1) or image
        torch.manual_seed(0)
        image = Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8))
        for _ in range(400):
            applied[name](image)
        assert len(calls) / 400 == pytest.approx(expected, abs=0.07), name
