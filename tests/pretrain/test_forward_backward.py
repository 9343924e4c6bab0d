"""One DINOv2 training step against the composition of DINOv2's ``SSLMetaArch.forward_backward``, restated here.

The reference below recomputes the step's loss from the module's own parts (student and teacher backbones and
heads) with its own Sinkhorn-Knopp, cross-entropy and KoLeo, on a tiny ViT with fixed inputs and fixed iBOT masks:

* the teacher sees the two global crops unmasked; Sinkhorn-Knopp centres its CLS logits over both crops together,
  and its masked-patch logits over all masked patches of the batch;
* DINO: every local crop against both teacher crops, and each global crop against the *other* teacher crop (never
  the same crop: the swap), each pair a batch-mean cross-entropy, the sum divided by the number of such pairs;
* iBOT: each masked patch's cross-entropy weighted by one over its image's masked-patch count, summed and divided by
  the number of global-crop images (unmasked images count zero);
* KoLeo: summed over the two global crops, each on its own student CLS tokens (backbone output, before the head);
* total = dino_weight · DINO + koleo_weight · KoLeo + ibot_weight · iBOT.

Drop path is off, so the student's forward is the same in the step and here; distinct loss weights make any swap
or rescaling of a term visible in the total.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from signmusketeers.pretrain import DinoV2PretrainModule

BATCH, N_LOCAL, GLOBAL_SIZE, LOCAL_SIZE, PATCH = 4, 3, 56, 28, 14
GRID = (GLOBAL_SIZE // PATCH) ** 2  # 16 patches per global crop
WEIGHTS = dict(dino_loss_weight=0.7, koleo_loss_weight=0.3, ibot_loss_weight=1.3)
TEACHER_TEMP, STUDENT_TEMP, KOLEO_EPS = 0.05, 0.1, 1e-4


def _module(separate_ibot_head: bool) -> DinoV2PretrainModule:
    torch.manual_seed(0)
    module = DinoV2PretrainModule(
        model_kwargs=dict(img_size=GLOBAL_SIZE, embed_dim=32, depth=2, num_heads=2, init_values=1.0),
        n_prototypes=64,
        head_hidden_dim=48,
        head_bottleneck_dim=16,
        drop_path_rate=0.0,
        separate_ibot_head=separate_ibot_head,
        teacher_temp=TEACHER_TEMP,
        student_temp=STUDENT_TEMP,
        koleo_eps=KOLEO_EPS,
        **WEIGHTS,
    )
    with torch.no_grad():  # a teacher unlike its student, so that targets from the student would be caught
        for parameter in module.teacher.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return module.double()


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {
        "global_crops": torch.randn(2, BATCH, 3, GLOBAL_SIZE, GLOBAL_SIZE, generator=generator, dtype=torch.float64),
        "local_crops": torch.randn(N_LOCAL, BATCH, 3, LOCAL_SIZE, LOCAL_SIZE, generator=generator, dtype=torch.float64),
    }


def _masks() -> torch.Tensor:
    """``(2·BATCH, GRID)`` masks, crop-major: different counts per image, three images unmasked."""
    counts = [3, 0, 7, 1, 0, 5, 2, 0]
    masks = torch.zeros(2 * BATCH, GRID, dtype=torch.bool)
    for image, count in enumerate(counts):
        masks[image, (torch.arange(count) * 5 + image) % GRID] = True
    return masks


def _sinkhorn(logits: torch.Tensor, temperature: float, iterations: int = 3) -> torch.Tensor:
    """The paper's form: Q (K × B) scaled to total mass 1, then prototype rows to 1/K and sample columns to 1/B."""
    q = torch.exp((logits - logits.max()) / temperature).t()
    n_prototypes, n_samples = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / n_prototypes
        q = q / q.sum(dim=0, keepdim=True) / n_samples
    return (q * n_samples).t()


def _cross_entropy(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(student_logits / STUDENT_TEMP, dim=-1)).sum(dim=-1)


def _koleo(features: torch.Tensor) -> torch.Tensor:
    x = F.normalize(features, p=2, dim=-1, eps=KOLEO_EPS)
    distances = torch.cdist(x, x) + torch.diag(torch.full((len(x),), float("inf"), dtype=x.dtype))
    return -torch.log(distances.min(dim=1).values + KOLEO_EPS).mean()


def reference_loss(module: DinoV2PretrainModule, batch: dict, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """The step's loss terms, composed as DINOv2's ``forward_backward`` composes them."""
    n_global, n_local = batch["global_crops"].shape[0], batch["local_crops"].shape[0]
    global_crops = batch["global_crops"].flatten(0, 1)
    student, teacher = module.student, module.teacher
    ibot_key = "ibot_head" if "ibot_head" in student else "dino_head"
    with torch.no_grad():
        out = teacher["backbone"](global_crops)
        teacher_cls = _sinkhorn(teacher["dino_head"](out["cls"]), TEACHER_TEMP).chunk(n_global)  # per teacher crop
        teacher_patch = _sinkhorn(teacher[ibot_key](out["patch"][masks]), TEACHER_TEMP)
    global_out = student["backbone"](global_crops, masks=masks)
    global_logits = student["dino_head"](global_out["cls"]).chunk(n_global)
    local_logits = student["dino_head"](student["backbone"](batch["local_crops"].flatten(0, 1))["cls"]).chunk(n_local)

    n_pairs = n_global * (n_global - 1) + max(n_global * n_local, 1)
    dino_local = sum(_cross_entropy(s, t).mean() for s in local_logits for t in teacher_cls) / n_pairs
    dino_global = (
        sum(
            _cross_entropy(global_logits[i], teacher_cls[j]).mean()
            for i in range(n_global)
            for j in range(n_global)
            if i != j
        )
        / n_pairs
    )
    koleo = sum(_koleo(cls) for cls in global_out["cls"].chunk(n_global))
    per_image = masks.sum(dim=1, keepdim=True).expand_as(masks)[masks].to(global_crops.dtype)
    ibot = (_cross_entropy(student[ibot_key](global_out["patch"][masks]), teacher_patch) / per_image).sum()
    ibot = ibot / masks.shape[0]
    total = (
        WEIGHTS["dino_loss_weight"] * (dino_local + dino_global)
        + WEIGHTS["koleo_loss_weight"] * koleo
        + WEIGHTS["ibot_loss_weight"] * ibot
    )
    return {"dino_local": dino_local, "dino_global": dino_global, "koleo": koleo, "ibot": ibot, "loss": total}


def _module_step(module: DinoV2PretrainModule, batch: dict, masks: torch.Tensor, monkeypatch) -> dict:
    """The module's training step with ``masks`` injected; its logged terms and its returned loss."""
    logged: dict[str, torch.Tensor] = {}
    monkeypatch.setattr(module, "sample_masks", lambda crops: masks.clone())
    monkeypatch.setattr(module, "log_dict", lambda values, **_: logged.update(values))
    monkeypatch.setattr(module, "log", lambda name, value, **_: logged.update({name: value}))
    loss = module.training_step(batch, 0)
    return {**{k.removeprefix("train/"): v for k, v in logged.items()}, "loss": loss}  # loss keeps its graph


@pytest.mark.parametrize("separate_ibot_head", [False, True])
def test_training_step_equals_the_official_composition(separate_ibot_head, monkeypatch):
    module, batch, masks = _module(separate_ibot_head), _batch(), _masks()
    expected = reference_loss(module, batch, masks)
    got = _module_step(module, batch, masks, monkeypatch)
    assert float(got["masked_patches"]) == float(masks.sum())  # the injected masks were the ones used
    # KoLeo runs in float32 in the module (as the official code, outside autocast) and the iBOT patch weights are
    # float32; the rest is float64 here, so those two terms get float32 tolerances.
    for term, rel in (("dino_local", 1e-9), ("dino_global", 1e-9), ("ibot", 1e-6), ("koleo", 1e-5), ("loss", 1e-6)):
        assert float(got[term].detach()) == pytest.approx(float(expected[term].detach()), rel=rel), term

    # Backward: the same gradient on every student parameter, none on the teacher.
    parameters = [p for p in module.student.parameters() if p.requires_grad]
    ours = torch.autograd.grad(got["loss"], parameters, allow_unused=True)
    reference = torch.autograd.grad(expected["loss"], parameters, allow_unused=True)
    names = [n for n, p in module.student.named_parameters() if p.requires_grad]
    for name, a, b in zip(names, ours, reference):
        assert (a is None) == (b is None), name
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max())), name
    assert all(p.grad is None for p in module.teacher.parameters())


def test_reference_depends_on_every_choice_it_pins():
    """The fixture discriminates: same-crop pairs and other masks change the terms, and no term is zero."""
    with torch.no_grad():
        _reference_discriminates(_module(False), _batch(), _masks())


def _reference_discriminates(module: DinoV2PretrainModule, batch: dict, masks: torch.Tensor) -> None:
    base = reference_loss(module, batch, masks)
    n_pairs = 2 * 1 + 2 * N_LOCAL
    out = module.teacher["backbone"](batch["global_crops"].flatten(0, 1))
    targets = _sinkhorn(module.teacher["dino_head"](out["cls"]), TEACHER_TEMP).chunk(2)
    student = module.student["dino_head"](
        module.student["backbone"](batch["global_crops"].flatten(0, 1), masks=masks)["cls"]
    ).chunk(2)
    same_crop = sum(_cross_entropy(student[i], targets[i]).mean() for i in range(2)) / n_pairs
    assert abs(float(same_crop - base["dino_global"])) > 1e-3  # pairing a crop with itself gives another loss
    other = _masks().roll(1, dims=0)
    assert abs(float(reference_loss(module, batch, other)["ibot"] - base["ibot"])) > 1e-3
    assert min(float(base[k]) for k in ("dino_local", "dino_global", "koleo", "ibot")) > 1e-3  # no term vanishes
