"""The backbone's token path, DINOv2 position-embedding interpolation and weight loading."""

import math

import pytest
import torch
import torch.nn.functional as F

from signmusketeers.pretrain.backbone import DinoV2Backbone, create_vit, interpolate_pos_embed, load_pretrained

TINY = dict(img_size=56, embed_dim=32, depth=2, num_heads=2)


def official_interpolate_pos_encoding(pos_embed_with_cls, w0, h0, offset=0.1):
    """DINOv2's ``interpolate_pos_encoding`` for a class token + M×M patch position embedding, restated."""
    class_pos, patch_pos = pos_embed_with_cls[:, :1], pos_embed_with_cls[:, 1:]
    m = int(math.sqrt(patch_pos.shape[1]))
    dim = patch_pos.shape[-1]
    out = F.interpolate(
        patch_pos.reshape(1, m, m, dim).permute(0, 3, 1, 2),
        mode="bicubic",
        antialias=False,
        scale_factor=((w0 + offset) / m, (h0 + offset) / m),
    )
    return torch.cat((class_pos, out.permute(0, 2, 3, 1).reshape(1, -1, dim)), dim=1)


def test_interpolation_matches_official_rule_for_local_crops():
    torch.manual_seed(0)
    pos = torch.randn(1, 1 + 16 * 16, 24)  # ViT-S/14 at 224: 16×16 patches
    official = official_interpolate_pos_encoding(pos, 7, 7)  # a 98 px local crop: 7×7 patches
    ours = interpolate_pos_embed(pos[:, 1:], (7, 7), offset=0.1)
    assert torch.equal(ours, official[:, 1:])
    by_size = F.interpolate(pos[:, 1:].reshape(1, 16, 16, 24).permute(0, 3, 1, 2), size=(7, 7), mode="bicubic")
    assert not torch.allclose(ours, by_size.permute(0, 2, 3, 1).reshape(1, 49, 24))  # the offset matters
    patch_pos = pos[:, 1:]
    assert interpolate_pos_embed(patch_pos, (16, 16)) is patch_pos  # global crops: unchanged


def test_backbone_equals_timm_forward_features_without_masks():
    vit = create_vit(**TINY).eval()
    backbone = DinoV2Backbone(vit).eval()
    x = torch.randn(2, 3, 56, 56)
    out = backbone(x)
    reference = vit.forward_features(x)
    assert torch.allclose(out["cls"], reference[:, 0], atol=1e-6)
    assert torch.allclose(out["patch"], reference[:, 5:], atol=1e-6)  # after cls + 4 registers
    assert backbone(torch.randn(2, 3, 28, 28))["patch"].shape == (2, 4, 32)  # a local crop, 2×2 patches


def test_fully_masked_images_look_alike():
    backbone = DinoV2Backbone(create_vit(**TINY)).eval()
    masks = torch.ones(2, 16, dtype=torch.bool)
    out = backbone(torch.randn(2, 3, 56, 56), masks=masks)
    assert torch.allclose(out["cls"][0], out["cls"][1], atol=1e-6)  # only the mask token was seen


def test_load_pretrained_from_a_local_timm_file(tmp_path):
    from safetensors.torch import save_file

    source = create_vit(**TINY)  # stands in for the public weights, which cannot be downloaded here
    path = tmp_path / "vits14_reg4.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    backbone = DinoV2Backbone(create_vit(**TINY))
    missing, unexpected = load_pretrained(backbone, str(path))
    assert missing == [] and unexpected == []
    for key, value in source.state_dict().items():
        assert torch.equal(backbone.vit.state_dict()[key], value), key


def test_load_pretrained_official_layout_keeps_mask_token(tmp_path):
    # DINOv2's own key layout: register_tokens, a class position in pos_embed, and the learnt mask token.
    source = create_vit(**TINY).state_dict()
    official = {k: v for k, v in source.items() if k not in ("reg_token", "cls_token", "pos_embed")}
    official["register_tokens"] = source["reg_token"]
    official["cls_token"] = source["cls_token"] - 1.0
    official["pos_embed"] = torch.cat([torch.ones(1, 1, 32), source["pos_embed"]], dim=1)
    official["mask_token"] = torch.full((1, 32), 0.5)
    path = tmp_path / "official.pth"
    torch.save(official, path)
    backbone = DinoV2Backbone(create_vit(**TINY))
    load_pretrained(backbone, str(path))
    assert torch.allclose(backbone.vit.cls_token, source["cls_token"], atol=1e-6)  # class position folded in
    assert torch.equal(backbone.vit.pos_embed, source["pos_embed"])
    assert torch.equal(backbone.mask_token, official["mask_token"])


def test_load_pretrained_refuses_another_architecture(tmp_path):
    from safetensors.torch import save_file

    other = create_vit(img_size=56, embed_dim=32, depth=3, num_heads=2)
    path = tmp_path / "deeper.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="deeper.safetensors: weights do not fit"):
        load_pretrained(DinoV2Backbone(create_vit(**TINY)), str(path))


def test_module_initialises_student_and_teacher_from_pretrained(tmp_path):
    from safetensors.torch import save_file

    from signmusketeers.pretrain import DinoV2PretrainModule

    source = create_vit(**TINY)
    path = tmp_path / "init.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    module = DinoV2PretrainModule(
        model_kwargs=TINY, pretrained=str(path), n_prototypes=64, head_hidden_dim=48, head_bottleneck_dim=16
    )
    for key, value in source.state_dict().items():
        assert torch.equal(module.student["backbone"].vit.state_dict()[key], value)
        assert torch.equal(module.teacher["backbone"].vit.state_dict()[key], value)
    for (name, s), (_, t) in zip(module.student.named_parameters(), module.teacher.named_parameters()):
        assert torch.equal(s, t), name  # the heads start equal too (random, copied)
        assert s.requires_grad and not t.requires_grad
    dpr = [float(getattr(b.drop_path1, "drop_prob", 0.0)) for b in module.student["backbone"].blocks]
    assert dpr == pytest.approx([0.0, 0.4])  # drop path 0.4, increasing over depth (not uniform)
