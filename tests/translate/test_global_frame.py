"""The whole-frame `global` stream (Table 2, "+ global frame"): `extract --global-encoder` writes it from the source
videos of boxes-only clip records, refuses full records in one line, and `configs/ablations/global_frame.yaml`
trains on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from signmusketeers.cli import main
from signmusketeers.data.shards import open_dataset
from signmusketeers.parsing.recrop import whole_frame
from signmusketeers.parsing.video import read_frames
from signmusketeers.pretrain.encoder import build_encoder, load_encoder, save_encoder
from signmusketeers.translate import TranslationModule
from tests.parsing.test_command import synth_folder
from tests.translate.conftest import TINY_T5

REPO = Path(__file__).resolve().parents[2]
CROP = 32
FEATURE_DIM, GLOBAL_DIM = 32, 48  # another width for the whole-frame encoder: global_dim is its own setting


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, Path]:
    """Three SynthSign-style clips (2 train, 1 val; 160x120 video, 7 frames) parsed as boxes-only and full records,
    with tiny random encoders (no weights can be downloaded in tests)."""
    root = tmp_path_factory.mktemp("global")
    synth = synth_folder(root / "synth", 3, frames=7)
    rows = [json.loads(line) for line in (synth / "manifest.jsonl").read_text().splitlines()]
    rows[2]["split"] = "val"
    (synth / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for kind in ("boxes", "full"):
        assert (
            main(["parse", str(synth), "--out", str(root / kind), "--clip-records", kind, "--crop-size", str(CROP)])
            == 0
        )
    small = {"img_size": CROP, "depth": 1, "num_heads": 2, "init_values": 1.0}
    return {
        "root": root,
        "synth": synth,
        "boxes": root / "boxes",
        "full": root / "full",
        "face": save_encoder(build_encoder(embed_dim=FEATURE_DIM, seed=1, **small), root / "face"),
        "hand": save_encoder(build_encoder(embed_dim=FEATURE_DIM, seed=2, **small), root / "hand"),
        "global": save_encoder(
            build_encoder(embed_dim=GLOBAL_DIM, seed=3, **{**small, "img_size": 28}), root / "global"
        ),
    }


def extract(parsed: dict[str, Path], kind: str, out: Path, *extra: str) -> int:
    return main(
        [
            "extract",
            str(parsed[kind]),
            "--face-encoder",
            str(parsed["face"]),
            "--hand-encoder",
            str(parsed["hand"]),
            "--out",
            str(out),
            "--workers",
            "0",
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def global_features(parsed) -> Path:
    out = parsed["root"] / "features"
    assert extract(parsed, "boxes", out, "--global-encoder", str(parsed["global"])) == 0
    return out


def test_global_stream_is_the_encoder_on_whole_frames(parsed, global_features):
    train = {r["clip_id"]: r for r in open_dataset(global_features / "train", "features")}
    assert sorted(train) == ["clip000", "clip001"]
    record = train["clip001"]
    assert record["global"].dtype == np.float16 and record["global"].shape == (4, GLOBAL_DIM)  # 7 frames, stride 2
    assert record["face"].shape == (4, FEATURE_DIM)
    # the whole 160x120 frames, padded to 160x160 (black bars above and below) and resized to the encoder's 28 px
    frames = [f.image for f in read_frames(parsed["synth"] / "clip001.mp4", end=None)][::2]
    whole = np.stack([whole_frame(image, 28) for image in frames])
    assert whole.shape == (4, 28, 28, 3) and whole[:, :2].max() == 0 and whole[:, 12:16].mean() > 50
    expected = load_encoder(parsed["global"])(torch.from_numpy(whole)).numpy()
    np.testing.assert_allclose(record["global"].astype(np.float32), expected, atol=2e-3, rtol=1e-2)
    made_by = json.loads((global_features / "train" / "manifest.json").read_text())["made_by"]
    assert made_by["global_encoder"]["path"] == str(parsed["global"].resolve())
    assert len(made_by["global_encoder"]["sha256"]) == 64


def test_full_records_are_refused_in_one_line(parsed, tmp_path, capsys):
    assert extract(parsed, "full", tmp_path / "features", "--global-encoder", str(parsed["global"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(parsed["full"]) in err[0] and "--clip-records boxes" in err[0]
    assert not (tmp_path / "features" / "train" / "index.json").exists()


def test_a_resume_must_keep_the_global_stream_choice(parsed, global_features, capsys):
    # The folder was written with the global stream; going on without it would mix two record layouts.
    assert extract(parsed, "boxes", global_features) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "with the global stream" in err[0]


def test_global_frame_overlay_trains_on_the_extracted_stream(parsed, global_features, tmp_path):
    config = yaml.safe_load((REPO / "configs/demo/translate.yaml").read_text())
    config["model"]["init_args"].update(
        t5=TINY_T5,
        tokenizer="byt5",
        num_beams=1,
        max_new_tokens=4,
        warmup_steps=0,
        feature_dim=FEATURE_DIM,
        global_dim=GLOBAL_DIM,
        face_encoder=None,
        hand_encoder=None,
    )
    config["data"]["init_args"].update(
        train=str(global_features / "train"),
        val=str(global_features / "val"),
        test=str(global_features / "val"),
        batch_size=2,
        eval_batch_size=1,
        num_workers=0,
    )
    config["trainer"].update(
        max_steps=2,
        val_check_interval=2,
        log_every_n_steps=1,
        logger=False,
        default_root_dir=str(tmp_path / "run"),
        enable_progress_bar=False,
    )
    config["trainer"].pop("callbacks", None)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    overlay = REPO / "configs/ablations/global_frame.yaml"
    assert (
        main(
            [
                "fit",
                "--config",
                str(path),
                "--config",
                str(overlay),
                "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
                f"--trainer.callbacks.dirpath={tmp_path / 'ckpt'}",
            ]
        )
        == 0
    )
    (checkpoint,) = (tmp_path / "ckpt").glob("*.ckpt")
    module = TranslationModule.from_checkpoint(checkpoint)
    assert module.streams == ("face", "left", "right", "pose", "global")
    assert module.fusion.projections["global"].in_features == GLOBAL_DIM
    # the trained model reads the stream: other whole-frame features give other frame embeddings
    (record,) = open_dataset(global_features / "val", "features")
    batch = {k: torch.from_numpy(np.asarray(record[k], np.float32))[None] for k in module.streams}
    with torch.no_grad():
        embedded = module.embed(batch)
        batch["global"] = torch.zeros_like(batch["global"])
        assert not torch.allclose(module.embed(batch), embedded)
        with pytest.raises(KeyError, match="global"):
            module.embed({k: v for k, v in batch.items() if k != "global"})
