"""The demo's steps: its sizes, its shipped configs filled in, and :class:`Demo`, which runs each public command
in this process with its output in a log."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from signmusketeers.data.tables import read_rows


@dataclass(frozen=True)
class DemoSize:
    """How much the demo does. ``DEFAULT`` takes 5-8 minutes on 2 CPU cores and reaches a test BLEU-4 near 90
    (README, "The demo"); ``QUICK`` takes about half a minute and only proves that every step runs."""

    clips: int
    crops_per_clip: int
    pretrain_steps: int
    translate_steps: int
    val_every: int


DEFAULT = DemoSize(clips=1000, crops_per_clip=2, pretrain_steps=400, translate_steps=1500, val_every=500)
QUICK = DemoSize(clips=40, crops_per_clip=4, pretrain_steps=6, translate_steps=60, val_every=30)
CROP_SIZE = 56  # the demo encoders' input size (the paper's is 224)
# What a demo run writes into its output folder (an earlier run's are removed first: Demo.remove_earlier_run).
DEMO_FOLDERS = (
    "synthsign",
    "clips",
    "crops",
    "preview_parse",
    "pretrain",
    "encoders",
    "features",
    "tokenizer",
    "translate",
    "configs",
    "logs",
    "pictures",
)
DEMO_FILES = ("summary.json", "preview_clip.jsonl", "heldout.jsonl", "heldout_translations.jsonl")


def configs_dir() -> Path:
    """The repository's ``configs/`` folder (the demo runs the shipped demo configs)."""
    folder = Path(__file__).resolve().parents[2] / "configs"
    if not (folder / "demo").is_dir():
        raise FileNotFoundError(f"{folder / 'demo'}: demo configs not found; run the demo from a source checkout")
    return folder


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors too, for child processes) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "a") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class Demo:
    """The demo's steps, each a public command run in this process (see :mod:`signmusketeers.demo`); ``run_demo``
    chains them.

    Args:
        out: output folder (made absolute, so the paths in ``summary.json`` work from anywhere).
        size: ``DEFAULT`` or ``QUICK``.
        console: a ``rich`` console for the commands, progress and summary.
    """

    def __init__(self, out: Path, size: DemoSize, console: Any) -> None:
        self.out, self.size, self.console = out.resolve(), size, console
        self.seconds: dict[str, float] = {}

    # ---------------------------------------------------------------------------------------------- running

    def run(self, stage: str, argv: list[str]) -> None:
        """Run ``signmusketeers ARGV`` in this process, timed as ``stage``; stop the demo if it fails."""
        from signmusketeers.cli import main

        log = self.out / "logs" / f"{stage.replace(' ', '_')}.log"
        self.console.print(f"$ signmusketeers {shlex.join(argv)}", style="bold cyan", markup=False, soft_wrap=True)
        start = time.perf_counter()
        with self.console.status(f"{stage} … (log: {log})"), _output_to(log):
            crash = None
            try:
                code = main(argv)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except Exception as error:  # noqa: BLE001 - the step's traceback goes to its log; the demo says one line
                traceback.print_exc()
                first_line = (str(error).strip().splitlines() or [""])[0]
                code, crash = 1, f"{type(error).__name__}: {first_line}"
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        if code != 0:
            said = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
            reason = crash or (said[-1] if said else "no output")
            raise RuntimeError(f"step {stage!r} failed (exit {code}): {reason} (whole log: {log})")
        self.console.print(f"  [green]done[/] in {self.seconds[stage]:.1f} s")

    def write_config(self, name: str, edit: Callable[[dict], None]) -> Path:
        """``OUT/configs/NAME.yaml``: the shipped ``configs/demo/NAME.yaml`` changed by ``edit``."""
        config = yaml.safe_load((configs_dir() / "demo" / f"{name}.yaml").read_text())
        edit(config)
        path = self.out / "configs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"# configs/demo/{name}.yaml with this demo run's paths and sizes\n"
            + yaml.safe_dump(config, sort_keys=False)
        )
        return path

    # ---------------------------------------------------------------------------------------------- stages

    def synth(self) -> None:
        """Render the SynthSign set (``OUT/synthsign``)."""
        self.run(
            "synth",
            [
                "synth",
                "--out",
                str(self.synthsign),
                "--clips",
                str(self.size.clips),
                "--seed",
                "0",
                "--workers",
                "2",
                "--preview",
            ],
        )

    def parse(self) -> None:
        """Parse it into clip and crop shards, and one clip with its preview pictures."""
        # SynthSign's faces are drawn, nobody's likeness, and the demo's figures are measured on whole faces: its
        # parse keeps them (--no-face-privacy; the checkpoint records it and translate follows).
        self.run(
            "parse",
            [
                "parse",
                str(self.synthsign),
                "--out",
                str(self.out / "clips"),
                "--crops-out",
                str(self.out / "crops"),
                "--crop-size",
                str(CROP_SIZE),
                "--crops-per-clip",
                str(self.size.crops_per_clip),
                "--workers",
                "2",
                "--no-face-privacy",
                "--checkpoint-every",
                "inf",  # chunks cut by size only: the same bytes on any machine
            ],
        )
        one_clip = self.clip_manifest("preview_clip.jsonl", self.synthsign_rows()[:1])
        self.run(
            "parse preview",
            [
                "parse",
                str(one_clip),
                "--out",
                str(self.out / "preview_parse"),
                "--crop-size",
                str(CROP_SIZE),
                "--preview",
                "--no-face-privacy",
            ],
        )

    def pretrain(self, part: str) -> Path:
        """Pre-train the ``part`` ("face" or "hand") encoder with its k-NN probe, export it; returns the encoder."""
        folder = self.out / "pretrain" / part

        def edit(config: dict) -> None:
            config["data"]["init_args"]["train_dir"] = str(self.out / "crops")  # the config picks its part
            config["trainer"]["max_steps"] = self.size.pretrain_steps
            model = config["model"]["init_args"]  # the schedules run their course within the steps
            model["epochs"] = -(-self.size.pretrain_steps // model["official_epoch_length"])
            config["trainer"]["default_root_dir"] = str(folder)
            config["trainer"].setdefault("callbacks", []).append(
                {
                    "class_path": "signmusketeers.pretrain.probe.KNNProbe",
                    "init_args": {
                        "crops": str(self.out / "crops"),
                        "labels": str(self.synthsign),
                        "part": part,
                        "every_n_steps": max(1, self.size.pretrain_steps // 4),
                        "out": str(folder / "probe.json"),
                    },
                }
            )

        config = self.write_config(f"pretrain_{part}", edit)
        self.run(f"pretrain {part}", ["fit", "--config", str(config)])
        checkpoint = max(folder.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
        encoder = self.out / "encoders" / f"{part}.safetensors"
        self.run(f"export {part}", ["export", str(checkpoint), "--out", str(encoder)])
        return encoder

    def extract(self, face: Path, hand: Path) -> None:
        """Encode the clip shards into per-split feature shards (``OUT/features``)."""
        self.run(
            "extract",
            [
                "extract",
                str(self.out / "clips"),
                "--face-encoder",
                str(face),
                "--hand-encoder",
                str(hand),
                "--out",
                str(self.out / "features"),
            ],
        )

    def tokenizer(self) -> None:
        """Train the subword tokenizer on the training sentences (``OUT/tokenizer``)."""
        self.run(
            "tokenizer", ["tokenizer", str(self.synthsign / "manifest.jsonl"), "--out", str(self.out / "tokenizer")]
        )

    def translate(self, feature_dim: int) -> Path:
        """Train the translator, test its best checkpoint; returns that checkpoint."""
        folder = self.out / "translate"

        def edit(config: dict) -> None:
            data = config["data"]["init_args"]
            for split in ("train", "val", "test"):
                data[split] = str(self.out / "features" / split)
            model = config["model"]["init_args"]
            model.update(
                tokenizer=str(self.out / "tokenizer"),
                feature_dim=feature_dim,
                hypotheses_path=str(folder / "hypotheses-test.jsonl"),
            )
            config["trainer"]["max_steps"] = self.size.translate_steps
            config["trainer"]["val_check_interval"] = self.size.val_every
            config["trainer"]["default_root_dir"] = str(folder)

        config = self.write_config("translate", edit)
        self.run("translate fit", ["fit", "--config", str(config)])
        best = list(folder.rglob("step*.ckpt"))  # the ModelCheckpoint kept by val/bleu4
        if not best:
            raise RuntimeError(f"{folder}: translation training wrote no best checkpoint")
        checkpoint = max(best, key=lambda path: path.stat().st_mtime)
        self.run("translate test", ["test", "--config", str(config), "--ckpt_path", str(checkpoint)])
        return checkpoint

    def translate_heldout(self, checkpoint: Path, count: int = 2) -> list[dict]:
        """``translate`` two held-out test clips (from their SynthSign landmarks) and return its JSON lines."""
        picked = [row for row in self.synthsign_rows() if row["split"] == "test"][:count]
        manifest = self.clip_manifest("heldout.jsonl", picked)
        self.run(
            "translate videos",
            [
                "translate",
                str(manifest),
                "--checkpoint",
                str(checkpoint),
                "--json",
                "--output",
                str(self.out / "heldout_translations.jsonl"),
            ],
        )
        return [row for _, row in read_rows(self.out / "heldout_translations.jsonl")]

    # ---------------------------------------------------------------------------------------------- pieces

    def remove_earlier_run(self) -> None:
        """Delete what an earlier demo wrote into ``out`` (its own folders and files, nothing else).

        ``parse`` and ``extract`` resume: given the folders of an earlier run (a ``--quick`` one, or one stopped
        halfway) they would skip the clips already there and the demo would train on that run's data; and the logs,
        the TensorBoard curves and the best checkpoint would mix two runs. Starting empty, the same command writes
        the same files.
        """
        import shutil

        for name in DEMO_FOLDERS:
            if (self.out / name).is_dir():
                shutil.rmtree(self.out / name)
        for name in DEMO_FILES:
            if (self.out / name).is_file():
                (self.out / name).unlink()

    @property
    def synthsign(self) -> Path:
        """The SynthSign folder of this run."""
        return self.out / "synthsign"

    def synthsign_rows(self) -> list[dict]:
        """The SynthSign manifest's rows."""
        return [row for _, row in read_rows(self.synthsign / "manifest.jsonl")]

    def clip_manifest(self, name: str, rows: list[dict]) -> Path:
        """``OUT/NAME``: SynthSign manifest rows with their paths made relative to ``OUT``."""
        path = self.out / name
        path.write_text(
            "".join(
                json.dumps(
                    {
                        **row,
                        "video": f"{self.synthsign.name}/{row['video']}",
                        "landmarks": f"{self.synthsign.name}/{row['landmarks']}",
                    }
                )
                + "\n"
                for row in rows
            )
        )
        return path


def encoder_width(encoder: Path) -> int:
    """The feature width of an exported encoder (its ``ENCODER.json``)."""
    return int(json.loads(encoder.with_suffix(".json").read_text())["embed_dim"])
