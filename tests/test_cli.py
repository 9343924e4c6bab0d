import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from signmusketeers.cli import COMMANDS, main, run_lightning


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "signmusketeers", *args], capture_output=True, text=True, timeout=300)


def test_top_level_help_lists_training_and_pipeline_commands(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in ("fit", "validate", "test", "predict", *COMMANDS):
        assert f"  {name}" in text


def test_unknown_command_is_one_clear_line(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_pipeline_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"signmusketeers {name}" in capsys.readouterr().out


def test_lightning_fit_help_and_print_config():
    result = _run("fit", "--help")
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout and "--print_config" in result.stdout
    result = _run("fit", "--print_config")
    assert result.returncode == 0, result.stderr
    for key in ("trainer:", "model:", "data:", "ckpt_path:"):
        assert key in result.stdout


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Each YAML of configs/ as it is used: stage configs alone, ablation overlays on the H2S config, trainer overlays on a
# pre-training config.
CONFIG_RUNS = [
    *([path] for path in sorted(CONFIGS.glob("*/*.yaml")) if path.parent.name not in ("ablations", "trainer")),
    *([CONFIGS / "translate/h2s.yaml", path] for path in sorted((CONFIGS / "ablations").glob("*.yaml"))),
    *([CONFIGS / "pretrain/face.yaml", path] for path in sorted((CONFIGS / "trainer").glob("*.yaml"))),
]


def _print_config(paths: list[Path], capsys) -> dict:
    """``fit --config P1 [--config P2] --print_config``, run in this process; returns the printed config."""
    with pytest.raises(SystemExit) as exit_info:
        run_lightning(["fit", *(a for p in paths for a in ("--config", str(p))), "--print_config"])
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    return yaml.safe_load(capsys.readouterr().out)


def _import(class_path: str) -> object:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
@pytest.mark.parametrize("paths", CONFIG_RUNS, ids=["+".join(p.stem for p in run) for run in CONFIG_RUNS])
def test_every_config_prints_and_names_its_stage_datamodule(paths, capsys):
    config = _print_config(paths, capsys)
    stage = config["model"]["class_path"].split(".")[1]  # pretrain | translate
    assert config["data"]["class_path"].startswith(f"signmusketeers.{stage}.")
    assert _import(config["data"]["class_path"]) is _import(
        f"signmusketeers.{stage}.datamodule." + config["data"]["class_path"].rpartition(".")[2]
    )


@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter")
@pytest.mark.parametrize(
    "name, old, new",
    [
        (
            "demo/pretrain_face.yaml",
            "signmusketeers.data.CropShardDataModule",
            "signmusketeers.pretrain.CropShardDataModule",
        ),
        (
            "demo/translate.yaml",
            "signmusketeers.data.ClipFeatureDataModule",
            "signmusketeers.translate.ClipFeatureDataModule",
        ),
    ],
)
def test_a_config_naming_the_old_datamodule_paths_still_loads(name, old, new, tmp_path, capsys):
    text = (CONFIGS / name).read_text()
    assert f"class_path: {new}" in text
    config = tmp_path / "old.yaml"
    config.write_text(text.replace(f"class_path: {new}", f"class_path: {old}"))
    printed = _print_config([config], capsys)
    assert _import(printed["data"]["class_path"]) is _import(new)
    assert printed["data"]["init_args"] == _print_config([CONFIGS / name], capsys)["data"]["init_args"]
