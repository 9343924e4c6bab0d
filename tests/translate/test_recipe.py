"""The paper configs (configs/translate/*.yaml) run as written, scaled down: which weights the best checkpoint
holds, test/validate/predict of a fine-tuning config, and the values taken from SSVP-SLT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from signmusketeers.cli import main
from signmusketeers.translate import TranslationModule
from tests.translate.conftest import TINY_T5

REPO = Path(__file__).resolve().parents[2]
PAPER_CONFIGS = ["h2s", "yt", "yt_plus_h2s", "yt_to_h2s"]


def scaled_paper_config(tmp_path: Path, name: str, feature_shards, max_steps: int = 8, every: int = 2, **model) -> Path:
    """A paper config with a tiny T5, CPU, and its 500-step cadence scaled to ``every`` steps (nothing else)."""
    config = yaml.safe_load((REPO / f"configs/translate/{name}.yaml").read_text())
    config["model"]["init_args"].update(t5=TINY_T5, tokenizer="byt5", num_beams=1, max_new_tokens=4, **model)
    config["data"]["init_args"].update(
        train=str(feature_shards["train"]),
        val=str(feature_shards["val"]),
        test=str(feature_shards["val"]),
        batch_size=1,
        num_workers=0,
    )
    # batch 1: an epoch (8 clips) is longer than the validation interval, as in real runs (no epoch-end saves)
    trainer = config["trainer"]
    assert trainer["val_check_interval"] == 500
    trainer.update(
        accelerator="cpu",
        devices=1,
        strategy="auto",
        max_steps=max_steps,
        val_check_interval=every,
        log_every_n_steps=1,
        enable_progress_bar=False,
        default_root_dir=str(tmp_path / "run"),
    )
    for callback in trainer["callbacks"]:
        if callback["init_args"].get("every_n_train_steps") == 500:
            callback["init_args"]["every_n_train_steps"] = every
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("scores", [[10.0, 20.0, 50.0], [10.0, 50.0, 20.0]], ids=["best-is-last", "best-in-the-middle"])
def test_best_checkpoint_holds_the_weights_that_scored_best(tmp_path, feature_shards, monkeypatch, scores):
    """Validation k reports ``scores[k]`` for the weights it validated; the best file must hold exactly those."""
    validated: list[dict[str, torch.Tensor]] = []

    def scripted_scores(self) -> None:
        self._gather_outputs()
        if self.trainer.sanity_checking:
            self.log("val/bleu4", 0.0)
            return
        validated.append({k: v.detach().clone() for k, v in self.state_dict().items()})
        self.log("val/bleu4", scores[len(validated) - 1])

    monkeypatch.setattr(TranslationModule, "on_validation_epoch_end", scripted_scores)
    config = scaled_paper_config(tmp_path, "h2s", feature_shards, max_steps=2 * len(scores))
    assert main(["fit", "--config", str(config)]) == 0
    assert len(validated) == len(scores)  # the final step's validation ran too

    best = list((tmp_path / "run").rglob("step*.ckpt"))
    assert len(best) == 1, best
    winner = max(range(len(scores)), key=scores.__getitem__)
    assert f"bleu{scores[winner]:.2f}" in best[0].name
    state = torch.load(best[0], map_location="cpu", weights_only=True)
    assert state["global_step"] == 2 * (winner + 1)
    for key, value in validated[winner].items():
        assert torch.equal(state["state_dict"][key], value), key
    # the weights move between validations, so the comparison above tells them apart
    assert all(any(not torch.equal(a[k], b[k]) for k in a) for a, b in zip(validated, validated[1:]))


def test_test_validate_predict_of_the_fine_tuning_config_ignore_init_from(
    tmp_path, feature_shards, monkeypatch, capsys
):
    """yt_to_h2s.yaml names fit's starting point (``init_from: runs/yt/best.ckpt``, absent here); with --ckpt_path
    the checkpoint's own weights are evaluated and the starting point is never read."""
    monkeypatch.chdir(tmp_path)
    config = scaled_paper_config(tmp_path, "yt_to_h2s", feature_shards, max_steps=2)
    assert yaml.safe_load(config.read_text())["model"]["init_args"]["init_from"] == "runs/yt/best.ckpt"
    assert not (tmp_path / "runs/yt/best.ckpt").exists()
    first = scaled_paper_config(tmp_path, "yt", feature_shards, max_steps=2)
    assert main(["fit", "--config", str(first)]) == 0
    checkpoint = next((tmp_path / "run").rglob("step*.ckpt"))
    for subcommand in ("test", "validate", "predict"):
        assert (
            main(
                [
                    subcommand,
                    "--config",
                    str(config),
                    "--ckpt_path",
                    str(checkpoint),
                    "--model.hypotheses_path",
                    str(tmp_path / f"{subcommand}.jsonl"),
                ]
            )
            == 0
        ), subcommand
    assert (tmp_path / "test.jsonl").exists() and (tmp_path / "predict.jsonl").exists()
    # fit itself still needs its starting point: the placeholder is reported in one line
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_code:
        main(["fit", "--config", str(config)])
    assert exit_code.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "signmusketeers fit: model.init_from runs/yt/best.ckpt: no such "
        "checkpoint (name the run to start from: --model.init_from PATH)"
    )


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_take_ssvp_slt_values_where_table_8_is_silent(name):
    config = yaml.safe_load((REPO / f"configs/translate/{name}.yaml").read_text())
    model, data, trainer = (
        config[k]["init_args"] if "init_args" in config[k] else config[k] for k in ("model", "data", "trainer")
    )
    assert (model["t5_dropout"], model["min_lr"], model["warmup_steps"]) == (0.3, 1.0e-4, 250)
    assert (data["max_frames"], data["max_target_tokens"]) == (1024, 128)
    checkpoint = next(c["init_args"] for c in trainer["callbacks"] if c["class_path"].endswith("ModelCheckpoint"))
    assert checkpoint["save_on_train_epoch_end"] is False and "every_n_train_steps" not in checkpoint
    assert checkpoint["monitor"] == "val/bleu4" and checkpoint["mode"] == "max"


def test_min_lr_and_t5_dropout_reach_the_optimiser_and_the_t5():
    import lightning

    module = TranslationModule(t5=TINY_T5, tokenizer="byt5", lr=1e-3, min_lr=1e-4, warmup_steps=5, t5_dropout=0.3)
    assert module.t5.config.dropout_rate == 0.3
    trainer = lightning.Trainer(max_steps=100, accelerator="cpu", logger=False, enable_checkpointing=False)
    trainer.strategy.connect(module)
    module.trainer = trainer
    optimisation = module.configure_optimizers()
    optimizer, schedule = optimisation["optimizer"], optimisation["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == 0.0 and rates[5] == pytest.approx(1e-3)  # linear warm-up over 5 steps
    assert min(rates[5:]) == pytest.approx(1e-4, rel=1e-2) and rates[-1] == pytest.approx(1e-4, rel=1e-2)
