"""The demo pre-training on SynthSign crops lowers the loss and raises the teacher's k-NN probe accuracy.

PYTHONPATH=. python -m pytest -m slow tests/pretrain/test_synthsign_demo.py -s   # prints the numbers
"""

import csv
import json
from pathlib import Path

import pytest
import yaml

from signmusketeers.cli import main
from tests.pretrain.synthsign_crops import write_synthsign_crops

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def synthsign_24(tmp_path_factory) -> Path:
    from signmusketeers.synthsign import generate

    out = tmp_path_factory.mktemp("synthsign24")
    generate(out, clips=24, seed=0)
    return out


def _losses(run: Path) -> list[float]:
    rows = list(csv.DictReader(open(next(run.rglob("metrics.csv")))))
    return [float(r["train/loss"]) for r in rows if r.get("train/loss")]


@pytest.mark.slow
@pytest.mark.parametrize("part", ["hand", "face"])
def test_demo_pretraining_improves_the_encoder(synthsign_24, tmp_path, part):
    crops = tmp_path / part
    n_crops = write_synthsign_crops(synthsign_24, crops, part)
    override = tmp_path / "override.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "trainer": {
                    "default_root_dir": str(tmp_path / "run"),
                    "logger": {
                        "class_path": "lightning.pytorch.loggers.CSVLogger",
                        "init_args": {"save_dir": str(tmp_path)},
                    },
                    "callbacks": [
                        {
                            "class_path": "signmusketeers.pretrain.probe.KNNProbe",
                            "init_args": {
                                "crops": str(crops),
                                "labels": str(synthsign_24),
                                "out": str(tmp_path / "probe.json"),
                                "every_n_steps": 20,
                            },
                        }
                    ],
                },
                "data": {"init_args": {"train_dir": str(crops)}},
            }
        )
    )
    main(["fit", "--config", str(REPO / f"configs/demo/pretrain_{part}.yaml"), "--config", str(override)])
    probe = json.loads((tmp_path / "probe.json").read_text())
    losses = _losses(tmp_path)
    print(
        f"\n{part}: {n_crops} crops; loss {losses[0]:.3f} → {losses[-1]:.3f}; "
        f"k-NN top-1 {probe['before']:.3f} → {probe['after']:.3f}; history {probe['history']}"
    )
    assert losses[-1] < losses[0]
    if part == "hand":  # handshape labels are balanced enough for the probe to show learning
        assert probe["after"] > probe["before"]
