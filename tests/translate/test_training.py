"""fit/test through the CLI with the demo config's shape on tiny shards, and checkpoint round trips."""

import json
from pathlib import Path

import torch
import yaml

from signmusketeers.cli import main
from signmusketeers.translate import TranslationModule
from signmusketeers.translate.datamodule import FeatureCollator
from tests.translate.conftest import TINY_T5, make_record

REPO = Path(__file__).resolve().parents[2]


def tiny_config(tmp_path, feature_shards, **trainer) -> Path:
    config = yaml.safe_load((REPO / "configs/demo/translate.yaml").read_text())
    config["model"]["init_args"].update(
        t5=TINY_T5, num_beams=2, max_new_tokens=8, warmup_steps=0, feature_dim=384, tokenizer="byt5"
    )
    config["data"]["init_args"].update(
        train=str(feature_shards["train"]),
        val=str(feature_shards["val"]),
        test=str(feature_shards["val"]),
        batch_size=4,
        eval_batch_size=4,
    )
    config["trainer"].update(
        max_steps=4,
        val_check_interval=2,
        log_every_n_steps=1,
        default_root_dir=str(tmp_path / "run"),
        enable_progress_bar=False,
        **trainer,
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_fit_then_test_writes_hypotheses_and_best_checkpoint(tmp_path, feature_shards):
    config = tiny_config(tmp_path, feature_shards)
    assert main(["fit", "--config", str(config)]) == 0
    checkpoints = sorted((tmp_path / "run").rglob("*.ckpt"))
    best = [c for c in checkpoints if c.name.startswith("step")]
    assert best and any(c.name == "last.ckpt" for c in checkpoints)
    hypotheses = tmp_path / "hyp.jsonl"
    assert (
        main(["test", "--config", str(config), "--ckpt_path", str(best[0]), "--model.hypotheses_path", str(hypotheses)])
        == 0
    )
    rows = [json.loads(line) for line in hypotheses.read_text().splitlines()]
    assert sorted(r["clip_id"] for r in rows) == ["clip0000", "clip0001", "clip0002"]
    assert set(rows[0]) == {"clip_id", "reference", "hypothesis"}
    predictions = tmp_path / "predict.jsonl"
    assert (
        main(
            [
                "predict",
                "--config",
                str(config),
                "--ckpt_path",
                str(best[0]),
                "--model.hypotheses_path",
                str(predictions),
            ]
        )
        == 0
    )
    assert [json.loads(line) for line in predictions.read_text().splitlines()] == rows  # same clips, same decoding
    assert TranslationModule.from_checkpoint(best[0]).streams == ("face", "left", "right", "pose")  # a CLI checkpoint


def test_checkpoint_round_trip_gives_identical_generations(tmp_path):
    import lightning

    torch.manual_seed(0)
    module = TranslationModule(t5=TINY_T5, tokenizer="byt5", num_beams=3, max_new_tokens=10, streams=["face", "pose"])
    with torch.no_grad():  # random weights stop at once; keep only lower-case letters (and eos at 0) in play
        letters = torch.zeros(module.t5.lm_head.weight.shape[0], 1)
        letters[3 + ord("a") : 3 + ord("z") + 1] = 20.0
        module.t5.lm_head.weight.mul_(letters)
    trainer = lightning.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(module)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    batch = FeatureCollator(module.tokenizer)([make_record(i, 3 + 2 * i) for i in range(3)])
    before = module.eval().generate(batch)
    restored = TranslationModule.from_checkpoint(path)
    assert restored.streams == ("face", "pose")
    assert restored.generate(batch) == before
    assert all(len(text) >= 5 for text in before), before  # real text, not empty strings


def test_init_from_starts_a_second_fit_from_a_checkpoint(tmp_path):
    import lightning
    import pytest

    torch.manual_seed(1)
    first = TranslationModule(t5=TINY_T5, tokenizer="byt5")
    trainer = lightning.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(first)
    trainer.save_checkpoint(tmp_path / "yt.ckpt")
    torch.manual_seed(2)
    second = TranslationModule(t5=TINY_T5, tokenizer="byt5", init_from=str(tmp_path / "yt.ckpt"))
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    assert "init_from" not in second.hparams  # a later checkpoint of the second fit does not re-read it
    with pytest.raises(ValueError, match="not a matching TranslationModule checkpoint"):
        TranslationModule(t5=TINY_T5, tokenizer="byt5", streams=["face"], init_from=str(tmp_path / "yt.ckpt"))


def test_checkpoint_carries_a_locally_trained_tokenizer(tmp_path):
    import shutil

    import lightning

    from signmusketeers.translate.tokenizer import train_subword_tokenizer

    train_subword_tokenizer(["hello world", "sign language", "good morning"], vocab_size=60).save_pretrained(
        tmp_path / "tok"
    )
    torch.manual_seed(0)
    module = TranslationModule(t5=TINY_T5, tokenizer=str(tmp_path / "tok"), num_beams=2, max_new_tokens=6)
    assert module.t5.config.vocab_size == len(module.tokenizer) < 100
    trainer = lightning.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    shutil.rmtree(tmp_path / "tok")  # the checkpoint alone is enough
    restored = TranslationModule.from_checkpoint(tmp_path / "model.ckpt")
    batch = FeatureCollator(module.tokenizer)([make_record(i, 4) for i in range(2)])
    assert restored.generate(batch) == module.eval().generate(batch)
    assert restored.tokenizer("good morning").input_ids == module.tokenizer("good morning").input_ids
