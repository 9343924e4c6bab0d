import subprocess
import sys

import pytest

from signmusketeers.cli import COMMANDS, main


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
