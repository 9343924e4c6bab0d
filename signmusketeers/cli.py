"""The one console script, ``signmusketeers``.

Training stages are LightningCLI subcommands (``fit``, ``validate``, ``test``, ``predict``): the model and the
datamodule are picked in the YAML config by ``class_path``. The steps around training (``synth``, and the other
pipeline steps as they land) are subcommands of the same script, each registered in ``COMMANDS`` below as
``module:function`` pairs so that importing the CLI stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

# name -> ("module:register_function", one-line help). A register function takes an argparse parser, adds its
# arguments and returns the callable ``run(args) -> int`` that executes the command.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("signmusketeers.data.synthsign:register", "render SynthSign, the embedded synthetic signing dataset"),
    "parse": ("signmusketeers.parsing.command:register", "parse videos into face/hand crops + pose (clip and crop shards)"),
    "export": ("signmusketeers.pretrain.export:register", "export a pre-trained teacher as an encoder (safetensors)"),
    "extract": ("signmusketeers.translate.extract:register", "clip shards → per-clip encoder feature shards"),
    "translate": ("signmusketeers.inference:register", "translate sign-language videos into English"),
    "demo": ("signmusketeers.demo:register", "the whole pipeline on SynthSign, on a CPU, with a summary and pictures"),
}


def _top_level_help() -> str:
    lines = [
        "usage: signmusketeers COMMAND [options]",
        "",
        "Sign-language translation from parsed face, hand and pose streams (SignMusketeers).",
        "",
        "training (LightningCLI; see `signmusketeers fit --help`):",
    ]
    for name in LIGHTNING_COMMANDS:
        lines.append(f"  {name:<10} {name} a model from a YAML config: --config CONFIG.yaml [--print_config]")
    lines += ["", "pipeline steps (see `signmusketeers COMMAND --help`):"]
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<10} {text}")
    return "\n".join(lines)


def run_pipeline_command(name: str, argv: Sequence[str]) -> int:
    """Parse ``argv`` for the pipeline step ``name`` and run it; returns the exit code."""
    target, text = COMMANDS[name]
    module_name, function_name = target.split(":")
    register = getattr(importlib.import_module(module_name), function_name)
    parser = argparse.ArgumentParser(prog=f"signmusketeers {name}", description=text)
    run = register(parser)
    args = parser.parse_args(list(argv))
    return int(run(args) or 0)


def run_lightning(argv: Sequence[str] | None = None) -> None:
    """LightningCLI with the model and datamodule chosen by ``class_path`` in the config.

    ``argv=None`` reads ``sys.argv`` as Lightning does; a list runs the CLI from Python (tests, notebooks).
    """
    from lightning.pytorch import LightningDataModule, LightningModule
    from lightning.pytorch.cli import LightningCLI

    LightningCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=None if argv is None else list(argv),
        auto_configure_optimizers=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_level_help())
        return 0
    name, rest = argv[0], argv[1:]
    if name in LIGHTNING_COMMANDS:
        run_lightning(None if from_command_line else argv)
        return 0
    if name in COMMANDS:
        return run_pipeline_command(name, rest)
    print(f"signmusketeers: unknown command {name!r}\n\n{_top_level_help()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
