"""Per-frame stream fusion (paper §3.3, Fig. 1, Table 8).

Each stream gets its own linear projection — face, left hand and right hand 384 → 256, pose 14 → 128 — the
projections are concatenated per frame (256 · 3 + 128 = 896) and a last linear layer maps them to the T5 width
(768 for T5.1.1-Base). The result is fed to the T5 encoder as ``inputs_embeds``.

Which streams take part is a constructor argument, so the paper's stream ablations (Tables 2 and 4) are configs:
any subset of ``face``, ``left``, ``right``, ``pose`` and the optional whole-frame ``global`` stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

STREAMS = ("face", "left", "right", "pose", "global")
DEFAULT_STREAMS = ("face", "left", "right", "pose")
# Table 8: 384 → 256 for each crop stream, 14 → 128 for pose.
DEFAULT_INPUT_DIMS = {"face": 384, "left": 384, "right": 384, "pose": 14, "global": 384}
DEFAULT_PROJECTED_DIMS = {"face": 256, "left": 256, "right": 256, "pose": 128, "global": 256}


class StreamFusion(nn.Module):
    """``{stream: (B, T, in_dim)}`` → ``(B, T, d_model)``: per-stream Linear, concatenation, Linear to ``d_model``.

    Args:
        streams: the streams used, in concatenation order (a subset of :data:`STREAMS`).
        d_model: output width (the T5 ``d_model``).
        input_dims / projected_dims: per-stream widths; defaults are Table 8's.
        dropout: dropout on the concatenated projections (0 in the paper).
    """

    def __init__(
        self,
        streams: Sequence[str] = DEFAULT_STREAMS,
        d_model: int = 768,
        input_dims: Mapping[str, int] | None = None,
        projected_dims: Mapping[str, int] | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        streams = tuple(streams)
        unknown = [s for s in streams if s not in STREAMS]
        if not streams or unknown or len(set(streams)) != len(streams):
            raise ValueError(f"streams must be distinct names from {STREAMS}, got {list(streams)}")
        self.streams = streams
        input_dims = {**DEFAULT_INPUT_DIMS, **(input_dims or {})}
        projected_dims = {**DEFAULT_PROJECTED_DIMS, **(projected_dims or {})}
        self.input_dims = {s: int(input_dims[s]) for s in streams}
        self.projections = nn.ModuleDict({s: nn.Linear(input_dims[s], projected_dims[s]) for s in streams})
        self.dropout = nn.Dropout(dropout)
        self.to_model = nn.Linear(sum(projected_dims[s] for s in streams), d_model)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [s for s in self.streams if s not in features]
        if missing:
            raise KeyError(f"the batch has no {', '.join(missing)} features (streams {list(self.streams)})")
        projected = [self.projections[s](features[s].to(self.to_model.weight.dtype)) for s in self.streams]
        return self.to_model(self.dropout(torch.cat(projected, dim=-1)))
