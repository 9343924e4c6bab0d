"""The DINOv2 losses against values computed by hand."""

import math

import pytest
import torch

from signmusketeers.pretrain.losses import DINOLoss, KoLeoLoss, iBOTPatchLoss, sinkhorn_knopp


def test_sinkhorn_knopp_hand_computed_2x2():
    # exp(logits): sample 1 → [1, 3], sample 2 → [1, 1]. One iteration (worked on paper, K = B = 2):
    # Q = [[1,1],[3,1]]/6; prototype rows → [[1/4,1/4],[3/8,1/8]]; sample columns → [2/5,3/5] and [2/3,1/3].
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    targets = sinkhorn_knopp(logits, temperature=1.0, n_iterations=1)
    assert torch.allclose(targets, torch.tensor([[2 / 5, 3 / 5], [2 / 3, 1 / 3]]), atol=1e-6)


def test_sinkhorn_knopp_rows_sum_to_one_and_prototypes_balance():
    logits = torch.randn(32, 8)
    targets = sinkhorn_knopp(logits, temperature=0.5, n_iterations=3)
    assert targets.shape == (32, 8)
    assert torch.allclose(targets.sum(dim=1), torch.ones(32), atol=1e-5)
    converged = sinkhorn_knopp(logits, temperature=0.5, n_iterations=200)
    assert torch.allclose(converged.sum(dim=0), torch.full((8,), 32 / 8), atol=1e-3)  # each prototype B/K
    assert (targets >= 0).all()


def test_sinkhorn_knopp_uniform_logits_give_uniform_targets():
    assert torch.allclose(sinkhorn_knopp(torch.zeros(5, 4), 0.04), torch.full((5, 4), 0.25))


def test_sinkhorn_knopp_temperature_and_shift():
    logits = torch.randn(6, 5)
    a = sinkhorn_knopp(logits, 0.04)
    assert torch.allclose(a, sinkhorn_knopp(logits / 0.04, 1.0), atol=1e-5)
    assert torch.allclose(a, sinkhorn_knopp(logits + 7.0, 0.04), atol=1e-5)
    # exp(10 / 0.04) overflows float32; the shift by the maximum keeps the same targets finite
    assert torch.allclose(sinkhorn_knopp(logits + 10.0, 0.04), a, atol=1e-4)


def test_sinkhorn_knopp_empty_input():
    assert sinkhorn_knopp(torch.zeros(0, 4), 0.07).shape == (0, 4)


def test_dino_loss_uniform_is_log_k_per_pair():
    k = 16
    loss = DINOLoss(k)
    student = [torch.zeros(3, k), torch.zeros(3, k)]
    teacher = [torch.full((3, k), 1 / k)] * 2
    assert loss(student, teacher).item() == pytest.approx(4 * math.log(k), rel=1e-6)


def test_dino_loss_hand_value():
    # student logits / 0.1 = [0, ln 3] → p = [1/4, 3/4]; target [1/2, 1/2]: CE = ½ ln 4 + ½ ln 4/3 = ½ ln 16/3
    student = torch.tensor([[0.0, 0.1 * math.log(3.0)]])
    loss = DINOLoss(2, student_temp=0.1)([student], [torch.tensor([[0.5, 0.5]])])
    assert loss.item() == pytest.approx(0.5 * math.log(16 / 3), rel=1e-6)


def test_dino_loss_teacher_targets_by_centering():
    logits = torch.randn(4, 6)
    assert torch.allclose(DINOLoss(6).teacher_targets(logits, 0.07), sinkhorn_knopp(logits, 0.07))
    softmax = DINOLoss(6, centering="softmax")
    first = softmax.teacher_targets(logits, 0.1)
    assert torch.allclose(first, torch.softmax(logits / 0.1, dim=-1))  # centre starts at 0
    assert torch.allclose(softmax.softmax_center.center, 0.1 * logits.mean(dim=0, keepdim=True))
    second = softmax.teacher_targets(logits, 0.1)
    assert torch.allclose(second, torch.softmax((logits - 0.1 * logits.mean(0)) / 0.1, dim=-1), atol=1e-6)
    with pytest.raises(ValueError, match="centering"):
        DINOLoss(6, centering="mean")


def test_ibot_patch_weights():
    masks = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.allclose(iBOTPatchLoss.patch_weights(masks), torch.tensor([1.0, 1 / 3, 1 / 3, 1 / 3]))


def test_ibot_loss_weights_images_equally():
    # Image 0: one masked patch with CE a; image 1: three with CE b, c, d; image 2: none. Loss = (a + (b+c+d)/3) / 3.
    masks = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    gaps = torch.tensor([0.0, 0.1, 0.2, 0.3])  # student logit of class 1 minus class 0, before the 0.1 temperature
    student = torch.stack([torch.zeros(4), gaps], dim=1)
    teacher = torch.tensor([[1.0, 0.0]] * 4)  # one-hot on class 0: CE = log(1 + exp(gap / 0.1))
    ce = [math.log(1 + math.exp(g / 0.1)) for g in gaps.tolist()]
    expected = (ce[0] + sum(ce[1:]) / 3) / 3
    assert iBOTPatchLoss(2)(student, teacher, masks).item() == pytest.approx(expected, rel=1e-6)


def test_ibot_loss_with_no_masked_patch_is_zero():
    masks = torch.zeros(2, 4, dtype=torch.bool)
    student = torch.zeros(0, 8, requires_grad=True)
    loss = iBOTPatchLoss(8)(student, sinkhorn_knopp(torch.zeros(0, 8), 0.07), masks)
    assert loss.item() == 0.0


def test_koleo_orthogonal_points():
    features = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])  # normalised: each nearest neighbour at √2
    assert KoLeoLoss()(features).item() == pytest.approx(-math.log(math.sqrt(2) + 1e-4), rel=1e-5)


def test_koleo_eps_placement_pins_identical_rows():
    # Identical rows: distance ≈ 1e-8·√D (the pairwise-distance epsilon), so the loss is -log(1e-4 + 1e-8·√D).
    features = torch.ones(4, 9)
    expected = -math.log(1e-4 + 1e-8 * 3)
    assert KoLeoLoss(eps=1e-4)(features).item() == pytest.approx(expected, rel=1e-4)
    assert KoLeoLoss(eps=1e-8)(features).item() == pytest.approx(-math.log(1e-8 + 3e-8), rel=1e-3)


def test_koleo_has_gradients_and_ignores_scale():
    x = torch.randn(10, 16, requires_grad=True)
    loss = KoLeoLoss()(x)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert KoLeoLoss()(x.detach() * 5).item() == pytest.approx(loss.item(), rel=1e-5)
