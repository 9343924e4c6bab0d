"""The DINOv2 losses against values computed by hand."""

import math

import pytest
import torch

from signmusketeers.pretrain.losses import DINOLoss, KoLeoLoss, iBOTPatchLoss, sinkhorn_knopp, soft_cross_entropy


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


def test_sinkhorn_knopp_equals_the_rescaled_matrix_algorithm():
    # The official form: normalise the whole matrix, then divide it by its column and row sums in turn.
    logits = 3 * torch.randn(40, 96, dtype=torch.float64)
    q = torch.exp((logits - logits.max()) / 0.07)
    q /= q.sum()
    for _ in range(3):
        q /= q.sum(dim=0, keepdim=True) * 96
        q /= q.sum(dim=1, keepdim=True) * 40
    assert torch.allclose(sinkhorn_knopp(logits, 0.07, n_iterations=3), q * 40, rtol=1e-9, atol=1e-12)


def test_sinkhorn_knopp_empty_input():
    assert sinkhorn_knopp(torch.zeros(0, 4), 0.07).shape == (0, 4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_soft_cross_entropy_value_and_gradient_equal_autograd_composition(dtype):
    logits = (4 * torch.randn(12, 50)).to(dtype).requires_grad_()
    targets = torch.softmax(torch.randn(12, 50, dtype=torch.float64), dim=-1) * 2  # rows summing to 2 (summed chunks)
    weights = torch.rand(12, dtype=torch.float64)
    ours = soft_cross_entropy(logits, targets, 0.1)
    (ours.double() * weights).sum().backward()
    ours_grad, logits.grad = logits.grad.clone(), None
    reference = -(targets * torch.log_softmax(logits.double() / 0.1, dim=-1)).sum(dim=-1)
    (reference * weights).sum().backward()
    tolerance = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    assert ours.dtype == torch.float32 or dtype == torch.float64
    assert torch.allclose(ours.double(), reference.detach(), **tolerance)
    assert ours_grad.dtype == dtype
    assert torch.allclose(
        ours_grad.double(),
        logits.grad.double(),
        rtol=1e-2 if dtype == torch.bfloat16 else 1e-9,
        atol=1e-3 if dtype == torch.bfloat16 else 1e-12,
    )


def test_dino_loss_equals_the_sum_over_every_pair():
    student = [torch.randn(4, 10, dtype=torch.float64) for _ in range(3)]
    teacher = [torch.softmax(torch.randn(4, 10, dtype=torch.float64), dim=-1) for _ in range(2)]
    pairs = sum(-(t * torch.log_softmax(s / 0.1, dim=-1)).sum(dim=-1).mean() for s in student for t in teacher)
    assert DINOLoss(10)(student, teacher).item() == pytest.approx(pairs.item(), rel=1e-10)


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


@pytest.mark.gpu
def test_losses_on_cuda_with_tf32_matmuls_match_float64():
    """Lightning's "high" matmul precision lets float32 matrix products run in TF32 (10-bit mantissa); the
    Sinkhorn-Knopp matrix-vector products and the cross-entropy must stay float32-exact all the same."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        generator = torch.Generator().manual_seed(0)
        # Head logits are cosines (weight-normalised last layer), so |logit| <= 1.
        logits = 0.3 * torch.randn(4096, 65536, generator=generator, dtype=torch.float64)
        student = 0.3 * torch.randn(4096, 65536, generator=generator, dtype=torch.float64)
        q = torch.exp((logits - logits.max()) / 0.04)
        q /= q.sum()
        for _ in range(3):
            q /= q.sum(dim=0, keepdim=True) * q.shape[1]
            q /= q.sum(dim=1, keepdim=True) * q.shape[0]
        targets = sinkhorn_knopp(logits.float().cuda(), 0.04).double().cpu()
        assert torch.allclose(targets, q * q.shape[0], rtol=1e-4, atol=1e-9)  # TF32 sums would miss by ~1e-3
        reference = -(targets * torch.log_softmax(student / 0.1, dim=-1)).sum(dim=-1)
        ours = soft_cross_entropy(student.bfloat16().cuda(), targets.float().cuda(), 0.1).double().cpu()
        rounded = -(targets * torch.log_softmax(student.bfloat16().double() / 0.1, dim=-1)).sum(dim=-1)
        assert torch.allclose(ours, rounded, rtol=1e-5, atol=1e-4)  # float32 arithmetic on the bf16 logits
        assert (ours - reference).abs().max() < 0.1  # what bf16 rounding of the logits itself costs
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False


def _fused_equals_eager(device: str) -> None:
    generator = torch.Generator().manual_seed(1)
    for rows in (37, 300):  # two sizes: one compiled graph (dynamic shapes) must serve both
        teacher = (0.3 * torch.randn(rows, 512, generator=generator)).to(device)
        logits = (0.3 * torch.randn(rows, 512, generator=generator)).to(device).bfloat16()
        for temperature in (0.04, 0.05):  # the teacher temperature follows a schedule
            eager, fused = (sinkhorn_knopp(teacher, temperature, fused=f) for f in (False, True))
            assert torch.allclose(fused, eager, rtol=1e-4, atol=1e-7)
        grads = []
        for fused in (False, True):
            student = logits.clone().requires_grad_()
            value = soft_cross_entropy(student, eager, 0.1, fused=fused)
            value.sum().backward()
            grads.append((value.detach(), student.grad.float()))
        assert torch.allclose(grads[0][0], grads[1][0], rtol=1e-5, atol=1e-4)
        assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-2, atol=1e-4)  # bf16 gradients


@pytest.mark.slow
def test_fused_losses_equal_eager_on_cpu():
    _fused_equals_eager("cpu")


@pytest.mark.gpu
def test_fused_losses_equal_eager_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    _fused_equals_eager("cuda")
