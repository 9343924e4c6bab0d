"""Face privacy carried parse → extract → feature folders → translation checkpoint → translate; mixes refused."""

from __future__ import annotations

import json
from pathlib import Path

import lightning
import numpy as np
import pytest
import torch

from signmusketeers.cli import main
from signmusketeers.data import ClipFeatureDataModule
from signmusketeers.inference import Translator
from signmusketeers.parsing import FrameParser
from signmusketeers.parsing.privacy import FacePrivacyError
from signmusketeers.pretrain.encoder import build_encoder, save_encoder
from signmusketeers.translate import TranslationModule
from tests.parsing.test_command import synth_folder
from tests.translate.conftest import TINY_T5

CROP = 32


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> dict[str, Path]:
    """A 2-clip synthetic set parsed masked (the default) and unmasked, both extracted with tiny encoders."""
    root = tmp_path_factory.mktemp("privacy")
    synth = synth_folder(root / "synth", 2, frames=7)
    kwargs = {"img_size": CROP, "embed_dim": 32, "depth": 1, "num_heads": 2}
    face = save_encoder(build_encoder(**kwargs, seed=1), root / "face")
    hand = save_encoder(build_encoder(**kwargs, seed=2), root / "hand")
    paths = {"synth": synth, "face": face, "hand": hand, "root": root}
    for name, extra in (("masked", []), ("bare", ["--no-face-privacy"])):
        assert main(["parse", str(synth), "--out", str(root / f"clips-{name}"), "--crop-size", str(CROP), *extra]) == 0
        assert (
            main(
                [
                    "extract",
                    str(root / f"clips-{name}"),
                    "--face-encoder",
                    str(face),
                    "--hand-encoder",
                    str(hand),
                    "--out",
                    str(root / f"features-{name}"),
                    "--workers",
                    "0",
                    "--no-progress",
                ]
            )
            == 0
        )
        paths[name] = root / f"features-{name}"
    return paths


def _made_by(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["made_by"]


def _train(features: Path, folder: Path, **module_kwargs) -> Path:
    torch.manual_seed(0)
    module = TranslationModule(
        t5=TINY_T5, tokenizer="byt5", feature_dim=32, num_beams=1, max_new_tokens=4, **module_kwargs
    )
    data = ClipFeatureDataModule(train=str(features / "train"), batch_size=2, num_workers=0)
    trainer = lightning.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, data)
    path = folder / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_privacy_is_recorded_from_parse_to_the_checkpoint_and_translate_masks(pipeline, tmp_path, capsys) -> None:
    assert _made_by(pipeline["root"] / "clips-masked")["face_privacy"] is True
    assert _made_by(pipeline["masked"] / "train")["face_privacy"] is True
    assert _made_by(pipeline["bare"] / "train")["face_privacy"] is False
    checkpoint = _train(pipeline["masked"], tmp_path)
    assert torch.load(checkpoint, weights_only=True)["face_privacy"] is True
    assert TranslationModule.from_checkpoint(checkpoint).face_privacy is True

    # translate masks faces because the checkpoint says so: its parser's crops are the masked ones
    translator = Translator(checkpoint, "cpu", face_encoder=pipeline["face"], hand_encoder=pipeline["hand"])
    assert translator.parser.face_privacy is True
    video, landmarks = pipeline["synth"] / "clip001.mp4", pipeline["synth"] / "clip001.npz"
    seen = translator.parser.parse_video(video, landmarks=landmarks)
    masked = FrameParser(crop_size=CROP, stride=2, face_privacy=True).parse_video(video, landmarks=landmarks)
    bare = FrameParser(crop_size=CROP, stride=2).parse_video(video, landmarks=landmarks)
    np.testing.assert_array_equal(seen.crops, masked.crops)
    assert np.abs(seen.crops[:, 0].astype(int) - bare.crops[:, 0].astype(int)).mean() > 5

    manifest = tmp_path / "one.jsonl"
    manifest.write_text(json.dumps({"clip_id": "c", "video": str(video), "landmarks": str(landmarks)}) + "\n")
    common = [
        "translate",
        str(manifest),
        "--checkpoint",
        str(checkpoint),
        "--face-encoder",
        str(pipeline["face"]),
        "--hand-encoder",
        str(pipeline["hand"]),
        "--json",
    ]
    assert main(common) == 0
    capsys.readouterr()
    assert main([*common, "--no-face-privacy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on masked faces, asked to translate unmasked faces" in err[0]


def test_unmasked_training_gives_an_unmasked_translator(pipeline, tmp_path) -> None:
    checkpoint = _train(pipeline["bare"], tmp_path)
    translator = Translator(checkpoint, "cpu", face_encoder=pipeline["face"], hand_encoder=pipeline["hand"])
    assert translator.parser.face_privacy is False


def test_mixing_masked_and_unmasked_features_is_refused(pipeline, tmp_path, capsys) -> None:
    data = ClipFeatureDataModule(train=str(pipeline["masked"] / "train"), val=str(pipeline["bare"] / "train"))
    with pytest.raises(FacePrivacyError, match="masked faces.*unmasked faces"):
        _ = data.face_privacy
    # extracting unmasked clips into a folder of masked features: one line, exit 2
    assert (
        main(
            [
                "extract",
                str(pipeline["root"] / "clips-bare"),
                "--face-encoder",
                str(pipeline["face"]),
                "--hand-encoder",
                str(pipeline["hand"]),
                "--out",
                str(pipeline["masked"]),
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds features of masked faces" in err[0]
    # a model set for masked faces refuses unmasked features; fine-tuning from a masked checkpoint likewise
    with pytest.raises(FacePrivacyError, match="unmasked faces; the model: masked faces"):
        _train(pipeline["bare"], tmp_path / "a", face_privacy=True)
    masked_checkpoint = _train(pipeline["masked"], tmp_path / "b")
    with pytest.raises(FacePrivacyError, match="unmasked faces; the model: masked faces"):
        _train(pipeline["bare"], tmp_path / "c", init_from=str(masked_checkpoint))


def test_testing_a_masked_checkpoint_on_unmasked_features_is_refused(pipeline, tmp_path) -> None:
    checkpoint = _train(pipeline["masked"], tmp_path)
    module = TranslationModule(t5=TINY_T5, tokenizer="byt5", feature_dim=32, num_beams=1, max_new_tokens=4)
    data = ClipFeatureDataModule(test=str(pipeline["bare"] / "train"), batch_size=2, num_workers=0)
    trainer = lightning.Trainer(logger=False, accelerator="cpu", enable_progress_bar=False)
    with pytest.raises(FacePrivacyError, match="checkpoint: masked faces; the model: unmasked faces"):
        trainer.test(module, data, ckpt_path=str(checkpoint), weights_only=True)
