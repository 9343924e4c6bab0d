"""TranslationModule: fused per-frame crop/pose features → T5 → English (paper §3.3, Table 8).

Training step, as in the paper's Fig. 1: per-frame features of the face, both hands and the pose are projected
per stream and fused (:class:`~signmusketeers.translate.fusion.StreamFusion`), the fused sequence enters the T5
encoder as ``inputs_embeds`` with the frame mask, and the decoder is trained with label-smoothed cross-entropy
(0.2). Evaluation decodes with beam search (5 beams, at most 128 new tokens) and scores BLEU-1…4 and chrF with
sacrebleu (:mod:`signmusketeers.translate.metrics`).

A checkpoint carries everything needed to translate from it (``TranslationModule.from_checkpoint``): the T5
config (weights are in the state dict), the tokenizer's files, the stream choice (hyper-parameters) and — when
known — the frozen face/hand encoders (their export JSON and weights) so ``signmusketeers translate`` needs one
file.

Exact resume: each training step's dropout draws from a generator seeded with (the run seed, the step, the
batch index, the rank; :class:`signmusketeers.seeding.StepSeeds`, the run seed saved in checkpoints); with the LitData
loader's mid-epoch state (``bucket_by_length=False``) a run killed mid-epoch and resumed from its last checkpoint
logs the same losses as a straight run (``tests/translate/test_resume.py``).
"""

from __future__ import annotations

import inspect
import json
import os
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info

from signmusketeers.constants import DEFAULT_T5
from signmusketeers.seeding import StepSeeds, seeded_torch
from signmusketeers.translate.fusion import DEFAULT_STREAMS, StreamFusion
from signmusketeers.translate.metrics import corpus_scores
from signmusketeers.translate.t5 import build_t5
from signmusketeers.translate.tokenizer import (
    BYTE_LEVEL,
    build_tokenizer,
    tokenizer_from_files,
    tokenizer_to_files,
    write_tokenizer_files,
)

IGNORE_INDEX = -100


class TranslationModule(LightningModule):
    """Sign-language translation from cached per-frame features (SignMusketeers, paper §3.3).

    Args:
        t5: HF name or local folder of a pre-trained T5 (``google/t5-v1_1-base`` in the paper), or a dict of
            ``T5Config`` fields for a randomly initialised one (tests, the offline demo).
        tokenizer: ``"byt5"`` (byte level, built offline), an HF name or a local folder; ``None`` means the T5's
            own tokenizer when ``t5`` is a name, else ``"byt5"``.
        streams: which per-frame streams are fused (any subset of face, left, right, pose, global; Tables 2, 4).
        feature_dim / pose_dim / projected_dims: stream widths (Table 8: 384 → 256 per crop stream, 14 → 128).
        global_dim: width of the whole-frame ``global`` stream (``extract --global-encoder``); ``None``:
            ``feature_dim``.
        t5_dropout: the T5's dropout rate (``dropout_rate``); ``None`` keeps the checkpoint's or the dict's value.
        lr / weight_decay / warmup_steps / min_lr: AdamW with a linear warm-up over ``warmup_steps`` then a cosine
            from ``lr`` down to ``min_lr`` at ``trainer.max_steps`` (Table 8: 1e-3, 0.1). Weight decay skips biases
            and norm weights.
        label_smoothing: 0.2 (Table 8).
        num_beams / max_new_tokens: beam search for evaluation (5 beams, 128 tokens).
        init_from: a TranslationModule checkpoint whose weights start this run (YT→H2S fine-tuning).
        face_encoder / hand_encoder: the encoder exports the features were made with; stored in checkpoints so
            ``signmusketeers translate`` can run from one file. ``None``: taken from the feature shards' manifest
            (:meth:`adopt_features`, when a :class:`~signmusketeers.translate.ClipFeatureDataModule` connects).
        hypotheses_path: where ``test``/``predict`` write JSON lines ``{clip_id, reference, hypothesis}``
            (default: ``<log dir>/hypotheses-<stage>.jsonl``).
        face_privacy: whether the face features come from masked faces (paper §3.2); ``None``: taken from the
            feature shards' manifests. Stored in checkpoints: ``signmusketeers translate`` masks faces accordingly.
            Features of the other kind (or an ``init_from`` checkpoint of the other kind) are refused.
    """

    def __init__(
        self,
        t5: str | dict[str, Any] = DEFAULT_T5,
        tokenizer: str | None = None,
        streams: Sequence[str] = DEFAULT_STREAMS,
        feature_dim: int = 384,
        pose_dim: int = 14,
        global_dim: int | None = None,
        projected_dims: dict[str, int] | None = None,
        fusion_dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        warmup_steps: int = 0,
        min_lr: float = 0.0,
        t5_dropout: float | None = None,
        label_smoothing: float = 0.2,
        num_beams: int = 5,
        max_new_tokens: int = 128,
        init_from: str | None = None,
        face_encoder: str | None = None,
        hand_encoder: str | None = None,
        hypotheses_path: str | None = None,
        face_privacy: bool | None = None,
    ) -> None:
        super().__init__()
        # Run-specific paths are not hyper-parameters: LightningCLI re-applies a checkpoint's hyper-parameters over
        # the command line on `test --ckpt_path`, and a fine-tuned model must not re-read its initialisation.
        self.save_hyperparameters(ignore=["init_from", "hypotheses_path"])
        self.hypotheses_path = hypotheses_path
        if tokenizer is None:
            tokenizer = t5 if isinstance(t5, str) else BYTE_LEVEL
        self.tokenizer = build_tokenizer(tokenizer)
        self.t5 = build_t5(t5, self.tokenizer, t5_dropout)
        if self.t5.config.vocab_size < len(self.tokenizer):
            raise ValueError(
                f"the T5 vocabulary ({self.t5.config.vocab_size}) is smaller than the tokenizer's "
                f"({len(self.tokenizer)})"
            )
        input_dims = {
            "face": feature_dim,
            "left": feature_dim,
            "right": feature_dim,
            "global": feature_dim if global_dim is None else global_dim,
            "pose": pose_dim,
        }
        self.fusion = StreamFusion(streams, self.t5.config.d_model, input_dims, projected_dims, fusion_dropout)
        self.streams = tuple(streams)
        self.encoder_paths = {"face": face_encoder, "hand": hand_encoder}
        self.face_privacy = face_privacy
        self._encoder_payload: dict[str, Any] | None = None
        self._outputs: list[dict[str, str]] = []
        self.step_seeds = StepSeeds()  # the run seed is set in on_train_start, or from the checkpoint
        if init_from is not None:
            self.load_weights_from(init_from)

    # ------------------------------------------------------------------------------------------ model

    def embed(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Fused frame embeddings ``(B, T, d_model)`` from the batch's ``(B, T, dim)`` stream features."""
        return self.fusion({s: batch[s] for s in self.streams})

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Label-smoothed cross-entropy of the reference tokens ``batch["labels"]`` (B, L; -100 = padding)."""
        # Decoder inputs are given (not labels) so that T5 does not compute an unsmoothed loss we would discard.
        decoder_input_ids = self.t5.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        logits = self.t5(
            inputs_embeds=self.embed(batch),
            attention_mask=batch["attention_mask"],
            decoder_input_ids=decoder_input_ids,
            use_cache=False,
        ).logits
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            batch["labels"].reshape(-1),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.hparams.label_smoothing,
        )

    @torch.no_grad()
    def generate(self, batch: Mapping[str, Any], num_beams: int | None = None) -> list[str]:
        """Beam-search translations, one string per clip of the batch."""
        tokens = self.t5.generate(
            inputs_embeds=self.embed(batch),
            attention_mask=batch["attention_mask"],
            num_beams=num_beams or self.hparams.num_beams,
            max_new_tokens=self.hparams.max_new_tokens,
            do_sample=False,
            decoder_start_token_id=self.t5.config.decoder_start_token_id,
        )
        return [text.strip() for text in self.tokenizer.batch_decode(tokens, skip_special_tokens=True)]

    # ------------------------------------------------------------------------------------------ steps

    def on_train_start(self) -> None:
        self.step_seeds.on_train_start(self)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        # Dropout of this step depends on (run seed, step, batch, rank) only: a resumed run drops the same units.
        with seeded_torch(self.step_seeds.for_step(self, batch_idx), self.device):
            loss = self(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["labels"].shape[0])
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self.log("val/loss", self(batch), batch_size=batch["labels"].shape[0], sync_dist=True)
        self._collect(batch)

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        self._collect(batch)

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> list[dict[str, str]]:
        return self._collect(batch)

    def _collect(self, batch: Mapping[str, Any]) -> list[dict[str, str]]:
        rows = [
            {"clip_id": clip_id, "reference": reference, "hypothesis": hypothesis}
            for clip_id, reference, hypothesis in zip(batch["clip_id"], batch["text"], self.generate(batch))
        ]
        self._outputs.extend(rows)
        return rows

    def on_validation_epoch_start(self) -> None:
        self._outputs = []

    on_test_epoch_start = on_validation_epoch_start
    on_predict_epoch_start = on_validation_epoch_start

    def on_validation_epoch_end(self) -> None:
        rows = self._gather_outputs()
        if rows:
            scores = corpus_scores([r["hypothesis"] for r in rows], [r["reference"] for r in rows])
            # Every rank holds the same gathered rows, hence the same scores: no further reduction needed.
            for name, value in scores.items():
                if name != "signature":
                    self.log(f"val/{name}", float(value), prog_bar=name == "bleu4")

    def on_test_epoch_end(self) -> None:
        self._finish_evaluation("test")

    def on_predict_epoch_end(self) -> None:
        self._finish_evaluation("predict")

    def _finish_evaluation(self, stage: str) -> None:
        rows = self._gather_outputs()
        if not rows:
            return
        scores = corpus_scores([r["hypothesis"] for r in rows], [r["reference"] for r in rows])
        if stage == "test":
            self.log_dict({f"test/{k}": float(v) for k, v in scores.items() if k != "signature"})
        if self.trainer.is_global_zero:
            path = self._hypotheses_file(stage)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as handle:
                for row in rows:
                    handle.write(json.dumps(row) + "\n")
            line = ", ".join(f"BLEU-{n} {scores[f'bleu{n}']:.2f}" for n in (1, 2, 3, 4))
            rank_zero_info(
                f"{stage}: {len(rows)} clips, {line}, chrF {scores['chrf']:.2f}, "
                f"ROUGE-L {scores['rouge_l']:.2f}\n"
                f"{scores['signature']}\nhypotheses: {path}"
            )

    def _hypotheses_file(self, stage: str) -> Path:
        if self.hypotheses_path:
            return Path(self.hypotheses_path)
        folder = self.trainer.log_dir or self.trainer.default_root_dir
        return Path(folder) / f"hypotheses-{stage}.jsonl"

    def _gather_outputs(self) -> list[dict[str, str]]:
        """This rank's rows, or every rank's under DDP (each clip is scored once: no duplicates in eval)."""
        rows, self._outputs = self._outputs, []
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, rows)
            rows = [row for part in gathered for row in part]
        return rows

    # ------------------------------------------------------------------------------------------ optimisation

    def configure_optimizers(self) -> dict[str, Any]:
        from transformers import get_cosine_with_min_lr_schedule_with_warmup

        decay, no_decay = [], []
        for parameter in self.parameters():
            if not parameter.requires_grad:
                continue
            # Biases and norm gains are not decayed (they set scales, not features).
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams.lr,
        )
        total = (
            int(self.trainer.max_steps)
            if self.trainer.max_steps and self.trainer.max_steps > 0
            else int(self.trainer.estimated_stepping_batches)
        )
        schedule = get_cosine_with_min_lr_schedule_with_warmup(
            optimizer, self.hparams.warmup_steps, max(total, 1), min_lr=self.hparams.get("min_lr", 0.0)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # ------------------------------------------------------------------------------------------ checkpoints

    def adopt_features(
        self, encoder_paths: Mapping[str, str], face_privacy: bool | None, source: str = "feature shards"
    ) -> None:
        """Take what the feature shards record: the encoder exports that made them (for the encoders not given)
        and whether their faces were masked (a mismatch raises in one line). Called by
        :meth:`signmusketeers.translate.ClipFeatureDataModule.connect`."""
        for part in ("face", "hand"):
            if self.encoder_paths.get(part) is None and encoder_paths.get(part):
                self.encoder_paths[part] = encoder_paths[part]
        self.adopt_face_privacy(face_privacy, source)

    def adopt_face_privacy(self, value: bool | None, source: str) -> None:
        """Take ``value`` (whether faces were masked) from ``source`` if not known yet; refuse a mismatch in one
        line."""
        from signmusketeers.parsing.privacy import FacePrivacyError, describe

        if value is None:
            return
        if self.face_privacy is None:
            self.face_privacy = bool(value)
            self.hparams["face_privacy"] = self.face_privacy
        elif bool(value) != self.face_privacy:
            raise FacePrivacyError(
                f"{source}: {describe(bool(value))}; the model: {describe(self.face_privacy)} "
                "(face_privacy); masked and unmasked faces do not mix"
            )

    def encoder_payload(self) -> dict[str, Any]:
        """``{"face"|"hand": {"spec": export JSON, "state_dict": tensors}}`` for the known encoder exports."""
        if self._encoder_payload is None:
            from safetensors.torch import load_file

            from signmusketeers.formats.encoder_file import encoder_paths

            payload = {}
            for part, path in self.encoder_paths.items():
                if path is None:
                    continue
                weights, meta = encoder_paths(path)
                if weights.exists() and meta.exists():
                    payload[part] = {"spec": json.loads(meta.read_text()), "state_dict": load_file(str(weights))}
            self._encoder_payload = payload
        return self._encoder_payload

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["t5_config"] = self.t5.config.to_dict()
        checkpoint["tokenizer_files"] = tokenizer_to_files(self.tokenizer)
        checkpoint["encoders"] = self.encoder_payload()
        checkpoint["face_privacy"] = self.face_privacy  # read by signmusketeers translate
        self.step_seeds.save(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "tokenizer_files" in checkpoint:
            self.tokenizer = tokenizer_from_files(checkpoint["tokenizer_files"])
        self._encoder_payload = checkpoint.get("encoders") or None
        self.adopt_face_privacy(checkpoint.get("face_privacy"), "checkpoint")
        self.step_seeds.load(checkpoint)

    def load_weights_from(self, path: str | os.PathLike) -> None:
        """Start from another TranslationModule checkpoint's weights (same streams and T5 shape)."""
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only
            self.load_state_dict(checkpoint["state_dict"], strict=True)
            # fine-tuning (YT→H2S) goes on with faces masked as in the first stage
            self.adopt_face_privacy(checkpoint.get("face_privacy"), f"init_from {path}")
        except FileNotFoundError:
            raise ValueError(f"{path}: no such checkpoint") from None
        except (RuntimeError, KeyError, pickle.UnpicklingError) as error:
            reason = str(error).strip().splitlines()[0]
            raise ValueError(f"{path}: not a matching TranslationModule checkpoint ({reason})") from None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> TranslationModule:
        """Rebuild a trained module from one checkpoint file, with no download: the T5 is rebuilt from the stored
        config, the tokenizer from the stored files, the weights from the state dict."""
        try:
            # weights_only: tensors and plain data only, so a checkpoint from elsewhere cannot run code on loading.
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise ValueError(f"{path}: no such checkpoint") from None
        except Exception as error:  # noqa: BLE001 - unpickling errors have many types
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{path}: not a readable checkpoint ({reason})") from None
        if "t5_config" not in checkpoint or "state_dict" not in checkpoint:
            raise ValueError(f"{path}: not a TranslationModule checkpoint (no t5_config/state_dict)")
        # LightningCLI adds its own entries (_class_path, _instantiator) beside the constructor's arguments.
        accepted = inspect.signature(cls.__init__).parameters
        hparams = {k: v for k, v in checkpoint.get("hyper_parameters", {}).items() if k in accepted}
        original_tokenizer = hparams.get("tokenizer")
        with tempfile.TemporaryDirectory() as folder:
            # The tokenizer is rebuilt from the files stored in the checkpoint, never from its original source.
            try:
                write_tokenizer_files(checkpoint.get("tokenizer_files", {}), folder)
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from None
            tokenizer = folder if checkpoint.get("tokenizer_files") else BYTE_LEVEL
            module = cls(**{**hparams, "t5": checkpoint["t5_config"], "tokenizer": tokenizer})
        module.hparams["tokenizer"] = original_tokenizer
        module.on_load_checkpoint(checkpoint)
        try:
            module.load_state_dict(checkpoint["state_dict"], strict=True)
        except RuntimeError as error:
            raise ValueError(f"{path}: weights do not fit the stored config ({str(error).splitlines()[0]})") from None
        return module.eval()
