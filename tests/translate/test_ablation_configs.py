"""Every overlay of configs/ablations trains a translator on the streams it names (pose only included), and the
ablations README gives each overlay a command."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from signmusketeers.translate import TranslationModule
from signmusketeers.translate.datamodule import FeatureCollator
from tests.translate.conftest import TINY_T5, make_record

ABLATIONS = Path(__file__).resolve().parents[2] / "configs" / "ablations"
OVERLAYS = sorted(ABLATIONS.glob("*.yaml"))


def test_readme_maps_every_overlay_to_a_command():
    readme = (ABLATIONS / "README.md").read_text()
    commands = "\n".join(re.findall(r"```bash\n(.*?)```", readme, flags=re.S))
    assert "signmusketeers fit --config configs/translate/h2s.yaml --config configs/ablations/" in commands
    for overlay in OVERLAYS:
        assert re.search(rf"\b{overlay.stem}\b", commands), f"no command uses {overlay.name}"
    assert "--global-encoder" in commands and "export --from-dinov2" in commands


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.stem for p in OVERLAYS])
def test_overlay_streams_train(overlay):
    streams = yaml.safe_load(overlay.read_text())["model"]["init_args"]["streams"]
    torch.manual_seed(0)
    module = TranslationModule(t5=TINY_T5, tokenizer="byt5", streams=streams, feature_dim=16, global_dim=24)
    records = []
    for index in range(2):
        record = make_record(index, 5 + index, dim=16)
        record["global"] = np.random.default_rng(index).standard_normal((5 + index, 24)).astype(np.float16)
        records.append(record)
    batch = FeatureCollator(module.tokenizer)(records)
    loss = module(batch)
    loss.backward()
    assert torch.isfinite(loss)
    used = {name for name, p in module.fusion.projections.named_parameters() if p.grad is not None}
    assert {name.split(".")[0] for name in used} == set(streams)  # each named stream, and only those, is read
