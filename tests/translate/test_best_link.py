"""``fit`` leaves ``<default_root_dir>/best.ckpt``: the stable name of the file that scored best, which the next
stage is given (``yt_to_h2s.yaml``'s ``init_from: runs/yt/best.ckpt``, ``test --ckpt_path``, ``translate``)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from signmusketeers.cli import link_best_checkpoint, main
from signmusketeers.translate import TranslationModule
from tests.translate.test_recipe import scaled_paper_config


def test_best_ckpt_points_at_the_file_that_scored_best_and_follows_the_next_fit(
    tmp_path, feature_shards, monkeypatch, capsys
):
    scores = iter([10.0, 50.0, 20.0, 5.0, 7.0])  # first fit: the middle validation wins; second fit: its last
    validated: list[dict[str, torch.Tensor]] = []

    def scripted_scores(self) -> None:
        self._gather_outputs()
        if self.trainer.sanity_checking:
            self.log("val/bleu4", 0.0)
            return
        validated.append({k: v.detach().clone() for k, v in self.state_dict().items()})
        self.log("val/bleu4", next(scores))

    monkeypatch.setattr(TranslationModule, "on_validation_epoch_end", scripted_scores)
    config = scaled_paper_config(tmp_path, "yt", feature_shards, max_steps=6)
    assert main(["fit", "--config", str(config)]) == 0
    link = tmp_path / "run" / "best.ckpt"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # relative: the run folder can move
    assert link.resolve().name == "step4-bleu50.00.ckpt"
    state = torch.load(link, map_location="cpu", weights_only=True)
    for key, value in validated[1].items():
        assert torch.equal(state["state_dict"][key], value), key
    assert "points at it" in capsys.readouterr().err

    config = scaled_paper_config(tmp_path, "yt", feature_shards, max_steps=4)
    assert main(["fit", "--config", str(config)]) == 0  # a new version_N under the same root
    assert link.resolve().name == "step4-bleu7.00.ckpt" and "version_1" in str(link.resolve())
    state = torch.load(link, map_location="cpu", weights_only=True)
    for key, value in validated[4].items():
        assert torch.equal(state["state_dict"][key], value), key


def test_no_best_ckpt_without_a_monitored_checkpoint(tmp_path: Path) -> None:
    """Pre-training saves by step with no metric: there is no best file to name."""
    saved = tmp_path / "last.ckpt"
    saved.write_bytes(b"x")
    callback = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    callback.best_model_path = str(saved)
    trainer = SimpleNamespace(is_global_zero=True, checkpoint_callbacks=[callback], default_root_dir=str(tmp_path))
    assert link_best_checkpoint(trainer) is None and not (tmp_path / "best.ckpt").exists()
    callback.monitor = "val/bleu4"
    assert link_best_checkpoint(trainer) == str(tmp_path / "best.ckpt")
    assert (tmp_path / "best.ckpt").read_bytes() == b"x"
    trainer.is_global_zero = False  # other ranks leave the link to rank 0
    (tmp_path / "best.ckpt").unlink()
    assert link_best_checkpoint(trainer) is None and not (tmp_path / "best.ckpt").exists()
