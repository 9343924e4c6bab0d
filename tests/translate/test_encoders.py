import json

import numpy as np
import pytest
import torch

from signmusketeers.formats.encoder_file import EncoderError
from signmusketeers.pretrain.encoder import build_encoder, load_encoder, save_encoder

SHAPE = {"img_size": 28, "embed_dim": 32, "depth": 1, "num_heads": 2}


def test_export_round_trip_gives_the_same_features(tmp_path):
    encoder = build_encoder(seed=0, **SHAPE)
    path = save_encoder(encoder, tmp_path / "dinov2_f")
    meta = json.loads((tmp_path / "dinov2_f.json").read_text())
    assert meta["model_name"] == "vit_small_patch14_reg4_dinov2" and meta["embed_dim"] == 32
    assert meta["model_kwargs"]["img_size"] == 28
    crops = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (5, 28, 28, 3), dtype=np.uint8))
    for name in (path, tmp_path / "dinov2_f.json", tmp_path / "dinov2_f"):
        loaded = load_encoder(name)
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
        assert torch.equal(loaded(crops), encoder(crops))
    assert encoder(crops).shape == (5, 32)


def test_features_are_the_cls_token_after_the_final_norm():
    encoder = build_encoder(seed=0, **SHAPE)
    crops = torch.full((2, 56, 56, 3), 128, dtype=torch.uint8)  # resized to the encoder's 28 px
    images = encoder.preprocess(crops)
    assert images.shape == (2, 3, 28, 28)
    expected = encoder.backbone.norm(
        encoder.backbone.blocks(encoder.backbone._pos_embed(encoder.backbone.patch_embed(images)))
    )[:, 0]
    torch.testing.assert_close(encoder(crops), expected)


def test_paper_shape_builds_vit_small():
    encoder = build_encoder(img_size=56)  # ViT-S/14 with registers; small image only to keep the test fast
    assert encoder.embed_dim == 384 and len(encoder.backbone.blocks) == 12
    assert encoder.backbone.num_reg_tokens == 4


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(EncoderError, match="missing.json: no such file"):
        load_encoder(tmp_path / "missing.safetensors")
    save_encoder(build_encoder(seed=0, **SHAPE), tmp_path / "enc")
    meta = tmp_path / "enc.json"
    spec = json.loads(meta.read_text())
    spec["model_kwargs"]["embed_dim"] = 48
    meta.write_text(json.dumps(spec))
    with pytest.raises(EncoderError, match="enc.safetensors: weights do not match"):
        load_encoder(tmp_path / "enc")
    meta.write_text("{not json")
    with pytest.raises(EncoderError, match="enc.json: not valid JSON"):
        load_encoder(tmp_path / "enc")


def test_loads_what_pretraining_exports(tmp_path):
    """The encoder export contract, end to end with the pre-training stage's own exporter."""
    from signmusketeers.pretrain.export import TEACHER_PREFIX, export_encoder

    teacher = build_encoder(seed=3, **SHAPE)
    kwargs = dict(SHAPE.items())
    torch.save(
        {
            "state_dict": {TEACHER_PREFIX + k: v for k, v in teacher.backbone.state_dict().items()},
            "hyper_parameters": {"model_kwargs": kwargs},
            "global_step": 7,
        },
        tmp_path / "pretrain.ckpt",
    )
    path = export_encoder(tmp_path / "pretrain.ckpt", tmp_path / "dinov2_f.safetensors")
    crops = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 28, 28, 3), dtype=np.uint8))
    torch.testing.assert_close(load_encoder(path)(crops), teacher(crops))


def test_random_encoder_command_writes_a_loadable_encoder_file(tmp_path, capsys):
    from signmusketeers.cli import main

    argv = [
        "random-encoder",
        str(tmp_path / "face"),
        "--img-size",
        "28",
        "--embed-dim",
        "32",
        "--depth",
        "1",
        "--num-heads",
        "2",
        "--seed",
        "3",
    ]
    assert main(argv) == 0
    assert "embed 32, 28 px" in capsys.readouterr().out
    loaded = load_encoder(tmp_path / "face")
    meta = json.loads((tmp_path / "face.json").read_text())
    assert meta["made_by"] == {"command": "random initialisation", "seed": 3}
    assert meta["model_kwargs"] == {"img_size": 28, "embed_dim": 32, "depth": 1, "num_heads": 2, "init_values": 1.0}
    expected = build_encoder(seed=3, **SHAPE, init_values=1.0)
    crops = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 28, 28, 3), dtype=np.uint8))
    assert torch.equal(loaded(crops), expected(crops))
