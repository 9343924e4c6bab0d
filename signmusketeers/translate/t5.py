"""The T5 the translator is built on (:class:`~signmusketeers.translate.module.TranslationModule`): pre-trained, from
an HF name or a local folder (``google/t5-v1_1-base`` in the paper), or randomly initialised from a dict of
``T5Config`` fields (tests, the offline demo; a checkpoint rebuilds its T5 this way from the stored config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def build_t5(t5: str | Mapping[str, Any], tokenizer, dropout: float | None = None) -> torch.nn.Module:
    """``T5ForConditionalGeneration`` from an HF name / local path (pre-trained) or a dict of ``T5Config`` fields.

    A config dict is trained from scratch; its vocabulary, pad/eos and decoder-start ids default to the tokenizer's.
    ``dropout`` (when given) replaces the T5's ``dropout_rate`` (0.1 in the released T5.1.1 configs).
    """
    from transformers import T5Config, T5ForConditionalGeneration

    overrides = {} if dropout is None else {"dropout_rate": float(dropout)}
    if isinstance(t5, str):
        try:
            # from_pretrained returns the model in eval mode and Lightning keeps each submodule's mode, so without
            # .train() the T5's dropout (t5_dropout, SSVP-SLT's 0.3) would never act during fit
            return T5ForConditionalGeneration.from_pretrained(t5, **overrides).train()
        except OSError as error:
            raise ValueError(
                f"{t5}: cannot load T5 weights ({str(error).splitlines()[0]}); give a local folder or a config dict"
            ) from None
    fields = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
        **dict(t5),
        **overrides,
    }
    fields.pop("transformers_version", None)
    return T5ForConditionalGeneration(T5Config(**fields))
