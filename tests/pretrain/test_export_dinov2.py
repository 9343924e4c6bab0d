"""`export --from-dinov2`: an encoder export of original DINOv2 weights (Table 2's "crop + original DINOv2")."""

import json

import pytest
import torch

from signmusketeers.cli import main
from signmusketeers.pretrain import DinoV2PretrainModule
from signmusketeers.pretrain.backbone import create_vit
from signmusketeers.pretrain.encoder import load_encoder

# A tiny ViT of the DINOv2 family stands in for the public weights, which cannot be downloaded in tests.
TINY = {"img_size": 56, "embed_dim": 32, "depth": 2, "num_heads": 2, "init_values": 1.0}


@pytest.fixture
def original(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(3)
    vit = create_vit(**TINY).eval()
    path = tmp_path / "dinov2_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(path))
    return vit, path


def test_export_from_original_weights_gives_their_features(original, tmp_path, capsys):
    vit, path = original
    out = tmp_path / "enc" / "orig.safetensors"
    assert main(["export", "--from-dinov2", str(path), "--out", str(out), "--model-kwargs", json.dumps(TINY)]) == 0
    config = json.loads(out.with_suffix(".json").read_text())
    assert config["model_name"] == "vit_small_patch14_reg4_dinov2" and config["embed_dim"] == 32
    assert config["img_size"] == 56 and config["made_by"]["pretrained"] == str(path)
    assert config["made_by"]["command"] == "signmusketeers export --from-dinov2"
    assert len(config["made_by"]["pretrained_sha256"]) == 64 and len(config["made_by"]["encoder_sha256"]) == 64

    crops = torch.randint(0, 256, (3, 56, 56, 3), dtype=torch.uint8)
    mean, std = torch.tensor(config["mean"]).view(1, 3, 1, 1), torch.tensor(config["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = vit.forward_features((crops.permute(0, 3, 1, 2).float() / 255 - mean) / std)[:, 0]
        features = load_encoder(out)(crops)
        assert torch.allclose(features, expected, atol=1e-5)
        # the same as the teacher of a pre-training run started from these weights, before its first step
        module = DinoV2PretrainModule(
            model_kwargs=TINY, pretrained=str(path), n_prototypes=16, head_hidden_dim=16, head_bottleneck_dim=8
        ).eval()
        teacher = module.teacher["backbone"]((crops.permute(0, 3, 1, 2).float() / 255 - mean) / std)["cls"]
        assert torch.allclose(features, teacher, atol=1e-5)


def test_export_from_dinov2_errors_are_one_line(original, tmp_path, capsys):
    _, path = original
    out = str(tmp_path / "e.safetensors")
    assert main(["export", "--from-dinov2", str(tmp_path / "missing.pth"), "--out", out]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.pth: no such weights file" in err[0]
    # weights of another shape than the architecture asked for (the default ViT-S/14 here)
    assert main(["export", "--from-dinov2", str(path), "--out", out]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"signmusketeers export: {path}: ")
    assert main(["export", "--out", out]) == 2  # neither a checkpoint nor --from-dinov2
    assert main(["export", "x.ckpt", "--from-dinov2", str(path), "--out", out]) == 2  # both
    assert "either a checkpoint or --from-dinov2" in capsys.readouterr().err
