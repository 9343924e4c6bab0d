"""translate: one checkpoint file → English per video, timed per stage."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import signmusketeers.parsing
from signmusketeers.cli import main
from signmusketeers.inference import Translator
from signmusketeers.pretrain.encoder import build_encoder, save_encoder
from signmusketeers.translate import TranslationModule
from tests.translate.conftest import TINY_T5

SHARED_CLIP = Path(__file__).resolve().parents[2] / "../shared/data/clips/signer_blue_screen.mp4"


def demo_checkpoint(tmp_path: Path) -> Path:
    """A randomly initialised translator whose checkpoint embeds tiny random face/hand encoders."""
    import lightning

    face = save_encoder(build_encoder(img_size=56, embed_dim=32, depth=1, num_heads=2, seed=1), tmp_path / "face")
    hand = save_encoder(build_encoder(img_size=56, embed_dim=32, depth=1, num_heads=2, seed=2), tmp_path / "hand")
    torch.manual_seed(0)
    module = TranslationModule(
        t5=TINY_T5,
        tokenizer="byt5",
        feature_dim=32,
        num_beams=2,
        max_new_tokens=8,
        face_encoder=str(face),
        hand_encoder=str(hand),
    )
    trainer = lightning.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(module)
    path = tmp_path / "demo.ckpt"
    trainer.save_checkpoint(path)
    face.unlink()  # the checkpoint alone must be enough
    hand.unlink()
    return path


class FakeClip:
    def __init__(self, frames: int) -> None:
        rng = np.random.default_rng(frames)
        self.crops = rng.integers(0, 256, (frames, 3, 40, 40, 3), dtype=np.uint8)
        self.pose = rng.random((frames, 14)).astype(np.float32)


class FakeParser:
    made_with: dict = {}

    def __init__(self, crop_size: int = 224, stride: int = 1, **_) -> None:
        self.stride = stride
        FakeParser.made_with = {"crop_size": crop_size, "stride": stride}
        self.calls = []

    def parse_video(self, path, **options):
        self.calls.append((str(path), options))
        if "broken" in str(path):
            raise ValueError(f"{path}: not a video")
        return FakeClip(12 // self.stride)


def test_translate_json_lines_with_stage_timings(tmp_path, monkeypatch, capsys):
    checkpoint = demo_checkpoint(tmp_path)
    monkeypatch.setattr(signmusketeers.parsing, "FrameParser", FakeParser)
    assert main(["translate", "a.mp4", "b.mp4", "--checkpoint", str(checkpoint), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["video"] for line in lines] == ["a.mp4", "b.mp4"]
    assert all(isinstance(line["text"], str) for line in lines)
    assert set(lines[0]["seconds"]) == {"parse", "encode", "generate"} and lines[0]["frames"] == 6
    assert FakeParser.made_with == {"crop_size": 56, "stride": 2}  # the encoders' input size, every second frame


def test_translate_a_manifest_with_references_and_landmarks(tmp_path, monkeypatch, capsys):
    checkpoint = demo_checkpoint(tmp_path)
    monkeypatch.setattr(signmusketeers.parsing, "FrameParser", FakeParser)
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(
        json.dumps({"clip_id": "c1", "video": "v1.mp4", "landmarks": "l1.npz", "text": "I see you."})
        + "\n"
        + json.dumps({"clip_id": "c2", "video": "broken.mp4", "text": "We go."})
        + "\n"
    )
    output = tmp_path / "out" / "translations.jsonl"
    assert main(["translate", str(manifest), "--checkpoint", str(checkpoint), "--output", str(output)]) == 1
    captured = capsys.readouterr()
    assert "reference: I see you." in captured.out and "broken.mp4: not a video" in captured.err
    (line,) = [json.loads(text) for text in output.read_text().splitlines()]
    assert line["clip_id"] == "c1" and line["reference"] == "I see you." and line["video"] == str(tmp_path / "v1.mp4")


def test_translate_matches_the_module_on_the_same_features(tmp_path):
    checkpoint = demo_checkpoint(tmp_path)
    parser = FakeParser()
    translator = Translator(checkpoint, parser=parser)
    clip = FakeClip(12)
    batch = translator.features(torch.from_numpy(clip.crops), torch.from_numpy(clip.pose))
    assert batch["face"].shape == (1, 12, 32) and batch["pose"].shape == (1, 12, 14)
    assert translator.translate("x.mp4")["text"] == translator.module.generate(batch)[0]
    translator.translate("y.mp4", clip_id="y", landmarks="y.npz", start=1.0)
    assert parser.calls[-1] == ("y.mp4", {"clip_id": "y", "landmarks": "y.npz", "start": 1.0})


def test_translate_reports_bad_videos_and_goes_on(tmp_path, monkeypatch, capsys):
    checkpoint = demo_checkpoint(tmp_path)
    monkeypatch.setattr(signmusketeers.parsing, "FrameParser", FakeParser)
    assert main(["translate", "broken.mp4", "ok.mp4", "--checkpoint", str(checkpoint)]) == 1
    captured = capsys.readouterr()
    assert "signmusketeers translate: broken.mp4: not a video" in captured.err
    assert captured.out.startswith("ok.mp4: ")
    assert main(["translate", "ok.mp4", "--checkpoint", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt: no such checkpoint" in capsys.readouterr().err


@pytest.mark.needs_shared_data
def test_translate_real_video_with_mediapipe(tmp_path, capsys):
    if not SHARED_CLIP.exists():
        pytest.skip(f"{SHARED_CLIP} not present")
    checkpoint = demo_checkpoint(tmp_path)
    assert main(["translate", str(SHARED_CLIP), "--checkpoint", str(checkpoint), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["frames"] == 67  # 133 frames, every second one
    assert all(result["seconds"][stage] > 0 for stage in ("parse", "encode", "generate"))
