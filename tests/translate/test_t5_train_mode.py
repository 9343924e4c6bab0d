"""A pre-trained T5 (HF name or folder) trains with its dropout on: ``from_pretrained`` hands the model back in eval
mode and Lightning keeps each submodule's mode, so the module must put it in train mode itself."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, Trainer

from signmusketeers.translate import ClipFeatureDataModule, TranslationModule
from tests.translate.conftest import TINY_T5


def saved_t5(folder):
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        **{**TINY_T5, "dropout_rate": 0.1}, vocab_size=384, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return str(folder)


def test_a_t5_folder_trains_with_dropout(tmp_path, feature_shards):
    module = TranslationModule(
        t5=saved_t5(tmp_path / "t5"), tokenizer="byt5", t5_dropout=0.3, feature_dim=384, max_new_tokens=4, num_beams=1
    )
    assert module.t5.config.dropout_rate == 0.3
    seen: list[bool] = []

    class Modes(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(all(m.training for m in pl_module.t5.modules()))
            labels = pl_module.tokenizer(["hello world"], return_tensors="pt").input_ids
            frames = {s: torch.randn(1, 4, 384) for s in ("face", "left", "right")}
            example = {
                **frames,
                "pose": torch.rand(1, 4, 14),
                "attention_mask": torch.ones(1, 4, dtype=torch.long),
                "labels": labels,
            }
            with torch.no_grad():  # dropout on: the same example gives two different losses
                seen.append(not torch.equal(pl_module(example), pl_module(example)))

    data = ClipFeatureDataModule(
        train=str(feature_shards["train"]), val=str(feature_shards["val"]), batch_size=2, num_workers=0
    )
    trainer = Trainer(
        accelerator="cpu",
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Modes()],
    )
    trainer.fit(module, datamodule=data)
    assert seen == [True, True]
