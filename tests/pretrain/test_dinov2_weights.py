"""The public DINOv2 weights, whole: by torch.hub name (the official file, from the hub cache), and by timm name
(timm's conversion, from the HF cache). Checkpoints are built here in each key layout at the released shape
(37×37 positions at 518 px) with a narrow, shallow ViT so nothing is downloaded."""

from __future__ import annotations

import urllib.error

import pytest
import torch

from signmusketeers.pretrain import DinoV2PretrainModule
from signmusketeers.pretrain.backbone import (
    DinoV2Backbone,
    create_vit,
    dinov2_checkpoint_url,
    fetch_dinov2_checkpoint,
    load_pretrained,
)
from tests.pretrain.test_backbone import official_interpolate_pos_encoding

DIM, DEPTH = 32, 2
MODEL = dict(img_size=224, patch_size=14, reg_tokens=4, init_values=1e-5, embed_dim=DIM, depth=DEPTH, num_heads=2)
RELEASED_GRID = 37  # trained at 518 px


def official_checkpoint(seed: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor of a DINOv2 ViT/14-reg4 ``*_pretrain.pth`` (facebookresearch/dinov2's key names)."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    state = {
        "cls_token": rand(1, 1, DIM),
        "pos_embed": rand(1, 1 + RELEASED_GRID**2, DIM),
        "register_tokens": rand(1, 4, DIM),
        "mask_token": rand(1, DIM),
        "patch_embed.proj.weight": rand(DIM, 3, 14, 14),
        "patch_embed.proj.bias": rand(DIM),
        "norm.weight": rand(DIM),
        "norm.bias": rand(DIM),
    }
    for n in range(DEPTH):
        block = {
            "norm1.weight": (DIM,),
            "norm1.bias": (DIM,),
            "attn.qkv.weight": (3 * DIM, DIM),
            "attn.qkv.bias": (3 * DIM,),
            "attn.proj.weight": (DIM, DIM),
            "attn.proj.bias": (DIM,),
            "ls1.gamma": (DIM,),
            "norm2.weight": (DIM,),
            "norm2.bias": (DIM,),
            "mlp.fc1.weight": (4 * DIM, DIM),
            "mlp.fc1.bias": (4 * DIM,),
            "mlp.fc2.weight": (DIM, 4 * DIM),
            "mlp.fc2.bias": (DIM,),
            "ls2.gamma": (DIM,),
        }
        state.update({f"blocks.{n}.{key}": rand(*shape) for key, shape in block.items()})
    return state


def assert_every_tensor_arrived(official: dict[str, torch.Tensor], backbone: DinoV2Backbone) -> None:
    vit = backbone.vit.state_dict()
    seen = set()
    for key, value in official.items():
        if key.startswith(("blocks.", "patch_embed.", "norm.")):
            assert torch.equal(vit[key], value), key
            seen.add(key)
    assert torch.equal(vit["reg_token"], official["register_tokens"])
    assert torch.equal(backbone.mask_token, official["mask_token"])
    # the class position is folded into the class token; patch positions resampled 37×37 → 16×16 as DINOv2 does
    assert torch.allclose(vit["cls_token"], official["cls_token"] + official["pos_embed"][:, :1], atol=1e-6)
    expected = official_interpolate_pos_encoding(official["pos_embed"], 16, 16)[:, 1:]
    assert vit["pos_embed"].shape == (1, 16 * 16, DIM) and torch.allclose(vit["pos_embed"], expected, atol=1e-6)
    seen |= {"register_tokens", "mask_token", "cls_token", "pos_embed"}
    assert seen == set(official)


@pytest.fixture()
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache; any download attempt is answered as offline."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "hub"


def test_official_checkpoint_by_its_torch_hub_name_arrives_whole(hub_dir):
    url = dinov2_checkpoint_url("dinov2_vits14_reg")
    assert url == "https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth"
    official = official_checkpoint()
    (hub_dir / "checkpoints").mkdir(parents=True)
    torch.save(official, hub_dir / "checkpoints" / "dinov2_vits14_reg4_pretrain.pth")  # as torch.hub caches it

    module = DinoV2PretrainModule(
        model_kwargs=MODEL, pretrained="dinov2_vits14_reg", n_prototypes=64, head_hidden_dim=48, head_bottleneck_dim=16
    )
    for model in (module.student, module.teacher):  # the paper starts both from these weights
        assert_every_tensor_arrived(official, model["backbone"])


def test_official_checkpoint_from_a_local_file_arrives_whole(tmp_path):
    official = official_checkpoint(seed=1)
    torch.save(official, tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    backbone = DinoV2Backbone(create_vit(**MODEL))
    load_pretrained(backbone, str(tmp_path / "dinov2_vits14_reg4_pretrain.pth"))
    assert_every_tensor_arrived(official, backbone)


def test_torch_hub_name_offline_and_not_cached_is_one_line(hub_dir):
    with pytest.raises(ValueError) as error:
        fetch_dinov2_checkpoint("dinov2_vits14_reg")
    message = str(error.value)
    assert "\n" not in message and "dinov2_vits14_reg: not in the torch hub cache" in message
    assert str(hub_dir / "checkpoints" / "dinov2_vits14_reg4_pretrain.pth") in message
    with pytest.raises(ValueError, match="not a DINOv2 torch.hub name"):
        dinov2_checkpoint_url("dinov2_vits16")


def test_timm_name_loads_timm_layout_from_the_hf_cache(tmp_path, monkeypatch):
    """timm's conversion of the same weights (reg_token, patch-only positions at 518 px, no mask_token)."""
    import huggingface_hub.constants
    from safetensors.torch import save_file

    official = official_checkpoint(seed=2)
    timm_layout = {
        k: v for k, v in official.items() if k not in ("register_tokens", "mask_token", "cls_token", "pos_embed")
    }
    timm_layout["reg_token"] = official["register_tokens"]
    timm_layout["cls_token"] = official["cls_token"] + official["pos_embed"][:, :1]
    timm_layout["pos_embed"] = official["pos_embed"][:, 1:]
    repo = tmp_path / "hf" / "models--timm--vit_small_patch14_reg4_dinov2.lvd142m"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    weights = repo / "snapshots" / commit / "model.safetensors"
    save_file({k: v.contiguous() for k, v in timm_layout.items()}, str(weights))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    backbone = DinoV2Backbone(create_vit(**MODEL))
    load_pretrained(backbone, "vit_small_patch14_reg4_dinov2.lvd142m", MODEL)
    vit = backbone.vit.state_dict()
    for key, value in timm_layout.items():
        if key != "pos_embed":
            assert torch.equal(vit[key], value), key
    expected = official_interpolate_pos_encoding(official["pos_embed"], 16, 16)[:, 1:]
    assert torch.allclose(vit["pos_embed"], expected, atol=1e-6)  # the same rule as the official path
    assert torch.count_nonzero(backbone.mask_token) == 0  # timm's file has none: the official name has it
