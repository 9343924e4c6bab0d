"""Layer-wise lr decay, patch-embed multiplier, no-weight-decay rules and the last-layer freeze."""

import pytest
import torch

from signmusketeers.pretrain.backbone import DinoV2Backbone, create_vit
from signmusketeers.pretrain.heads import DINOHead
from signmusketeers.pretrain.param_groups import dinov2_param_groups

TINY = dict(img_size=56, embed_dim=32, depth=2, num_heads=2)


def _by_name(groups):
    return {name: g for g in groups for name in g["names"]}


def test_multipliers_of_named_parameters():
    backbone = DinoV2Backbone(create_vit(**TINY))
    head = DINOHead(32, n_prototypes=64, hidden_dim=48, bottleneck_dim=16)
    groups = _by_name(dinov2_param_groups({"backbone": backbone, "dino_head": head}, 0.9, 0.2))
    d = 0.9
    expected = {  # name: (lr multiplier, wd multiplier); L = 2 blocks, embeddings are layer 0
        "backbone.vit.patch_embed.proj.weight": (d**3 * 0.2, 1.0),
        "backbone.vit.patch_embed.proj.bias": (d**3 * 0.2, 0.0),
        "backbone.vit.cls_token": (d**3, 1.0),  # the official rule decays tokens (no bias/norm/gamma in name)
        "backbone.vit.reg_token": (d**3, 1.0),
        "backbone.vit.pos_embed": (d**3, 1.0),
        "backbone.mask_token": (d**3, 1.0),
        "backbone.vit.blocks.0.attn.qkv.weight": (d**2, 1.0),
        "backbone.vit.blocks.0.attn.qkv.bias": (d**2, 0.0),
        "backbone.vit.blocks.0.ls1.gamma": (d**2, 0.0),
        "backbone.vit.blocks.1.norm1.weight": (d**1, 0.0),
        "backbone.vit.blocks.1.mlp.fc2.weight": (d**1, 1.0),
        "backbone.vit.norm.weight": (1.0, 0.0),
        "dino_head.mlp.0.weight": (1.0, 1.0),
        "dino_head.mlp.0.bias": (1.0, 0.0),
    }
    for name, (lr, wd) in expected.items():
        assert groups[name]["lr_multiplier"] == pytest.approx(lr), name
        assert groups[name]["wd_multiplier"] == wd, name
        assert groups[name]["is_last_layer"] is False
    last = [n for n in groups if "last_layer" in n]
    assert last and all(groups[n]["is_last_layer"] and groups[n]["lr_multiplier"] == 1.0 for n in last)
    n_params = sum(1 for _ in backbone.parameters()) + sum(1 for _ in head.parameters())
    assert len(groups) == n_params  # every trainable parameter in exactly one group


def test_module_applies_schedules_to_groups():
    from signmusketeers.pretrain import DinoV2PretrainModule

    module = DinoV2PretrainModule(
        model_kwargs=TINY,
        n_prototypes=64,
        head_hidden_dim=48,
        head_bottleneck_dim=16,
        epochs=4,
        official_epoch_length=10,
        warmup_epochs=1,
    )
    optimizer = module.configure_optimizers()
    module.schedules = module.build_schedules(1024)
    module.apply_optimizer_schedules(optimizer, 5)  # inside the freeze of the last layer
    peak_at_5 = module.schedules.lr[5]
    for group in optimizer.param_groups:
        if group["is_last_layer"]:
            assert group["lr"] == 0.0
        else:
            assert group["lr"] == pytest.approx(peak_at_5 * group["lr_multiplier"])
        assert group["weight_decay"] == pytest.approx(module.schedules.weight_decay[5] * group["wd_multiplier"])
    module.apply_optimizer_schedules(optimizer, 10)
    last = [g for g in optimizer.param_groups if g["is_last_layer"]]
    assert all(g["lr"] == pytest.approx(module.schedules.lr[10]) for g in last) and module.schedules.lr[10] > 0
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["betas"] == (0.9, 0.999)
