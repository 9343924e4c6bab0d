"""The one console script, ``signmusketeers``.

Training stages are LightningCLI subcommands (``fit``, ``validate``, ``test``, ``predict``): the model and the
datamodule are picked in the YAML config by ``class_path``; each stage's DataModule connects itself to the model it
feeds in its ``setup`` (e.g. :meth:`signmusketeers.translate.ClipFeatureDataModule.connect`), so the CLI and Python
code share one path. The pipeline steps around training (``synth``, ``parse``, ``extract``, ...) are subcommands of
the same script, each registered in ``COMMANDS`` below as a ``module:function`` pair so that importing the CLI stays
cheap.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from signmusketeers.errors import InputError, print_error

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

# name -> ("module:register_function", one-line help). A register function takes an argparse parser, adds its
# arguments and returns the callable ``run(args) -> int`` that executes the command.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("signmusketeers.commands.synth:register", "render SynthSign, the embedded synthetic signing dataset"),
    "captions": (
        "signmusketeers.commands.captions:register",
        "videos + caption files (.vtt/.srt/.json3) → a clip manifest",
    ),
    "parse": (
        "signmusketeers.commands.parse:register",
        "parse videos into face/hand crops + pose (clip and crop shards)",
    ),
    "export": ("signmusketeers.commands.export:register", "export a pre-trained teacher as an encoder (safetensors)"),
    "random-encoder": (
        "signmusketeers.commands.random_encoder:register",
        "a randomly initialised encoder export (demos and tests without pre-training)",
    ),
    "probe": ("signmusketeers.commands.probe:register", "k-NN probe of encoder exports on labelled crops"),
    "extract": ("signmusketeers.commands.extract:register", "clip shards → per-clip encoder feature shards"),
    "tokenizer": ("signmusketeers.commands.tokenizer:register", "train a subword tokenizer on a manifest's sentences"),
    "translate": ("signmusketeers.commands.translate:register", "translate sign-language videos into English"),
    "score": (
        "signmusketeers.commands.score:register",
        "BLEU-1..4, chrF, ROUGE-L (+ BLEURT) with 95% CIs; paired test",
    ),
    "demo": (
        "signmusketeers.commands.demo:register",
        "the whole pipeline on SynthSign, on a CPU, with a summary and pictures",
    ),
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
        lines.append(f"  {name:<15} {name} a model from a YAML config: --config CONFIG.yaml [--print_config]")
    lines += ["", "pipeline steps (see `signmusketeers COMMAND --help`):"]
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<15} {text}")
    return "\n".join(lines)


def run_pipeline_command(name: str, argv: Sequence[str]) -> int:
    """Parse ``argv`` for the pipeline step ``name`` and run it; returns the exit code.

    An :class:`~signmusketeers.errors.InputError` escaping the step is printed as one line (exit code 2)."""
    target, text = COMMANDS[name]
    module_name, function_name = target.split(":")
    register = getattr(importlib.import_module(module_name), function_name)
    parser = argparse.ArgumentParser(prog=f"signmusketeers {name}", description=text)
    run = register(parser)
    args = parser.parse_args(list(argv))
    try:
        return int(run(args) or 0)
    except InputError as error:  # bad input: one line naming the file and the problem, no traceback
        print_error(name, error)
        return error.exit_code


def _import_class(path: str) -> object:
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return path


def _checkpoint_problem(subcommand: str, config_class: str | None, ckpt_path: str) -> str | None:
    """The one-line reason why ``ckpt_path`` cannot be resumed from with ``config_class``, or None.

    Checkpoints are loaded with ``weights_only=True`` (tensors and plain data, never pickled code), so one holding
    other objects is refused here in one line. LightningCLI takes the model class from a checkpoint's own
    hyper-parameters, so a checkpoint of another model (a pre-training checkpoint given to a translation config)
    would silently swap the model and fail deep inside the run with a traceback; say that first, in one line, too.
    """
    import pickle

    import torch

    try:
        hparams = torch.load(ckpt_path, weights_only=True, map_location="cpu").get("hyper_parameters", {})
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0]
        return (
            f"signmusketeers {subcommand}: {ckpt_path}: holds objects other than tensors and plain data, "
            f"refused (checkpoints load with weights_only=True): {reason}"
        )
    except Exception:  # noqa: BLE001 - other unreadable files are left to Lightning's own message
        return None
    ckpt_class = hparams.get("_class_path") if isinstance(hparams, dict) else None
    if not ckpt_class or not config_class or _import_class(ckpt_class) is _import_class(config_class):
        return None
    return (
        f"signmusketeers {subcommand}: {ckpt_path}: a checkpoint of {ckpt_class.rpartition('.')[2]}, but the "
        f"config's model is {config_class.rpartition('.')[2]}"
    )


def newest_last_checkpoint(root: str | os.PathLike) -> str | None:
    """The newest ``last*.ckpt`` under ``root`` (a trainer's ``default_root_dir``), or None.

    Lightning's ``--ckpt_path last`` looks only in the checkpoint folder of the run being started, a new
    ``lightning_logs/version_N``, so a killed run would never be found there; the CLI resolves ``last`` to the
    newest ``last.ckpt`` of the earlier runs under the same root instead.
    """
    from pathlib import Path

    found = [p for p in Path(root).rglob("last*.ckpt") if p.is_file()]
    return str(max(found, key=lambda p: p.stat().st_mtime)) if found else None


def _skip_init_from(model: Any) -> None:
    """With ``--ckpt_path`` the weights come from that checkpoint: a config's ``init_from`` (the starting point of a
    fine-tuning fit, such as configs/translate/yt_to_h2s.yaml's) is not loaded, so ``test``/``validate``/``predict``
    of a stage config never need the file it names (nor does resuming a fit)."""
    init_args = getattr(model, "init_args", None) if model is not None else None
    if init_args is not None and init_args.get("init_from") is not None:
        init_args["init_from"] = None


def link_best_checkpoint(trainer: Any) -> str | None:
    """After ``fit``: point ``<default_root_dir>/best.ckpt`` at the best checkpoint of the run, or return None.

    The best file's name holds its step and score (``step4500-bleu14.30.ckpt``) inside a ``version_N`` folder, so no
    command can name it before the run; ``best.ckpt`` is the stable name the next stage is given
    (``configs/translate/yt_to_h2s.yaml``'s ``init_from: runs/yt/best.ckpt``, ``test --ckpt_path``, ``translate``).
    Only a ``ModelCheckpoint`` with a ``monitor`` has a best file; a relative symbolic link keeps one copy of the
    weights (a copy where links cannot be made). Written by the global-zero process only.
    """
    import shutil
    from pathlib import Path

    from lightning.pytorch.callbacks import ModelCheckpoint

    if not trainer.is_global_zero:
        return None
    for callback in trainer.checkpoint_callbacks:
        best = getattr(callback, "best_model_path", "") if isinstance(callback, ModelCheckpoint) else ""
        if best and callback.monitor and os.path.isfile(best):
            break
    else:
        return None
    link = Path(trainer.default_root_dir) / "best.ckpt"
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(f".best.ckpt.{os.getpid()}")
    try:  # made beside it, then renamed over the old link: a reader never sees a missing best.ckpt
        temporary.symlink_to(os.path.relpath(os.path.abspath(best), os.path.abspath(link.parent)))
    except OSError:
        shutil.copyfile(best, temporary)
    os.replace(temporary, link)
    score = callback.best_model_score
    shown = f" ({callback.monitor} {float(score):.2f})" if score is not None else ""
    print(f"signmusketeers fit: best checkpoint {best}{shown}; {link} points at it", file=sys.stderr)
    return str(link)


def _resolve_last(subcommand: str, config: Any) -> str | None:
    """The run's ``ckpt_path``, with ``last`` resolved to the newest ``last*.ckpt`` under the trainer's root."""
    ckpt_path = config.get("ckpt_path")
    if ckpt_path == "last":
        root = config.get("trainer", {}).get("default_root_dir") or os.getcwd()
        ckpt_path = newest_last_checkpoint(root)
        if ckpt_path:
            print(f"signmusketeers {subcommand}: resuming from {ckpt_path}", file=sys.stderr)
            config["ckpt_path"] = ckpt_path
    return ckpt_path


def _refuse_unfit_checkpoint(subcommand: str, config: Any, ckpt_path: str | None) -> None:
    """Exit with one line (code 2) when ``ckpt_path`` cannot be resumed with the config's model."""
    model = config.get("model")
    config_class = getattr(model, "class_path", None) if model is not None else None
    if ckpt_path and os.path.isfile(ckpt_path):
        reason = _checkpoint_problem(subcommand, config_class, ckpt_path)
        if reason:
            print(reason, file=sys.stderr)
            sys.exit(2)


def _refuse_missing_init_from(subcommand: str, config: Any) -> None:
    """Exit with one line (code 2) when the model's ``init_from`` names no file (not a jsonargparse union error)."""
    init_args = getattr(config.get("model"), "init_args", None)
    init_from = init_args.get("init_from") if init_args is not None else None
    if init_from and not os.path.isfile(init_from):
        print(
            f"signmusketeers {subcommand}: model.init_from {init_from}: no such checkpoint (name the run to start "
            "from: --model.init_from PATH)",
            file=sys.stderr,
        )
        sys.exit(2)


def run_lightning(argv: Sequence[str] | None = None) -> Any:
    """LightningCLI with the model and datamodule chosen by ``class_path`` in the config; returns the CLI object
    (its ``model``, ``datamodule`` and ``trainer``).

    ``argv=None`` reads ``sys.argv`` as Lightning does; a list runs the CLI from Python (tests, notebooks).
    """
    from lightning.pytorch import LightningDataModule, LightningModule
    from lightning.pytorch.cli import LightningCLI

    class CLI(LightningCLI):
        def _parse_ckpt_path(self) -> None:
            subcommand = self.config.get("subcommand")
            if subcommand:
                _refuse_unfit_checkpoint(
                    subcommand, self.config[subcommand], _resolve_last(subcommand, self.config[subcommand])
                )
            super()._parse_ckpt_path()
            if subcommand and self.config[subcommand].get("ckpt_path"):
                _skip_init_from(self.config[subcommand].get("model"))
            elif subcommand:
                _refuse_missing_init_from(subcommand, self.config[subcommand])

        def after_fit(self) -> None:
            link_best_checkpoint(self.trainer)

        def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any):
            parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
            if "weights_only" in self._subcommand_method_arguments[subcommand]:
                parser.set_defaults(weights_only=True)  # --ckpt_path loads tensors and plain data, never code
            return parser

    return CLI(
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
        try:
            run_lightning(None if from_command_line else argv)
        except InputError as error:  # e.g. masked and unmasked faces mixed: one line, not a traceback
            print_error(name, error)
            return error.exit_code
        return 0
    if name in COMMANDS:
        return run_pipeline_command(name, rest)
    print(f"signmusketeers: unknown command {name!r}\n\n{_top_level_help()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
