"""The translator and its DataModule share the tokenizer, the encoder exports and the face privacy through
``ClipFeatureDataModule.connect``: by hand, through ``trainer.fit`` and through the ``fit`` command alike; features
and a model of different face privacy are refused in one line."""

from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch
import yaml

from signmusketeers.cli import main, run_lightning
from signmusketeers.parsing.privacy import FacePrivacyError
from signmusketeers.translate import ClipFeatureDataModule, TranslationModule
from tests.translate.conftest import TINY_T5, write_feature_shards
from tests.translate.test_training import tiny_config

MISMATCH = (
    "feature shards: masked faces; the model: unmasked faces (face_privacy); masked and unmasked faces do not mix"
)


@pytest.fixture(scope="module")
def masked_features(tmp_path_factory) -> dict[str, Path]:
    """Feature folders whose manifests say: made by these face/hand encoders, from masked faces."""
    root = tmp_path_factory.mktemp("masked-features")
    made_by = {
        "command": "extract",
        "face_privacy": True,
        "face_encoder": {"path": str(root / "encoders/face")},
        "hand_encoder": {"path": str(root / "encoders/hand")},
    }
    return {
        "train": write_feature_shards(root / "train", [5, 9, 3, 12, 7, 4, 8, 6], made_by=made_by),
        "val": write_feature_shards(root / "val", [6, 11, 4], seed=1, made_by=made_by),
        "encoders": root / "encoders",
    }


def _module(**kwargs) -> TranslationModule:
    torch.manual_seed(0)
    return TranslationModule(t5=TINY_T5, tokenizer="byt5", num_beams=1, max_new_tokens=4, **kwargs)


def _data(features: dict[str, Path]) -> ClipFeatureDataModule:
    return ClipFeatureDataModule(train=str(features["train"]), val=str(features["val"]), batch_size=4, num_workers=0)


def _assert_connected(module: TranslationModule, data: ClipFeatureDataModule, encoders: Path) -> None:
    assert data.tokenizer is module.tokenizer
    assert module.encoder_paths == {"face": str(encoders / "face"), "hand": str(encoders / "hand")}
    assert module.face_privacy is True and module.hparams["face_privacy"] is True


def test_connect_by_hand_without_a_trainer(masked_features):
    module, data = _module(), _data(masked_features)
    assert data.tokenizer is not module.tokenizer  # not connected yet: built from fallback_tokenizer
    assert module.face_privacy is None and module.encoder_paths == {"face": None, "hand": None}
    assert data.connect(module) is data
    _assert_connected(module, data, masked_features["encoders"])
    batch = next(iter(data.train_dataloader()))
    assert torch.isfinite(module(batch))


def test_given_encoders_are_kept(masked_features):
    module = _module(face_encoder="mine/face")
    _data(masked_features).connect(module)
    assert module.encoder_paths == {"face": "mine/face", "hand": str(masked_features["encoders"] / "hand")}


def test_trainer_fit_connects_the_trainers_model(masked_features, tmp_path):
    module, data = _module(), _data(masked_features)
    trainer = lightning.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, data)
    _assert_connected(module, data, masked_features["encoders"])
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    assert torch.load(tmp_path / "model.ckpt", weights_only=True)["face_privacy"] is True


def _config(tmp_path: Path, features: dict[str, Path], data_class: str) -> Path:
    path = tiny_config(tmp_path, features)
    config = yaml.safe_load(path.read_text())
    config["data"]["class_path"] = data_class
    config["trainer"].update(max_steps=1, limit_val_batches=0, num_sanity_val_steps=0)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
@pytest.mark.parametrize(
    "data_class", ["signmusketeers.translate.ClipFeatureDataModule", "signmusketeers.data.ClipFeatureDataModule"]
)  # the old path, kept for users
def test_the_fit_command_connects_the_same_way(masked_features, tmp_path, data_class):
    cli = run_lightning(["fit", "--config", str(_config(tmp_path, masked_features, data_class))])
    assert isinstance(cli.datamodule, ClipFeatureDataModule)
    _assert_connected(cli.model, cli.datamodule, masked_features["encoders"])


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
def test_a_face_privacy_mismatch_is_one_line(masked_features, tmp_path, capsys):
    with pytest.raises(FacePrivacyError) as error:
        _data(masked_features).connect(_module(face_privacy=False))
    assert str(error.value) == MISMATCH
    config = _config(tmp_path, masked_features, "signmusketeers.translate.ClipFeatureDataModule")
    assert main(["fit", "--config", str(config), "--model.init_args.face_privacy", "false"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"signmusketeers fit: {MISMATCH}"]
