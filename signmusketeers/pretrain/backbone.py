"""The ViT backbone of DINOv2 pre-training: a timm ``VisionTransformer`` plus iBOT's mask token.

timm's ``vit_small_patch14_reg4_dinov2`` is the DINOv2 ViT-S/14 with 4 registers (LayerScale 1e-5, position
embedding for patches only — the class position is folded into ``cls_token``, as timm converts DINOv2 weights).
:class:`DinoV2Backbone` runs its token path itself for two reasons: the student replaces masked patch embeddings by
a learnt ``mask_token`` before the position embedding (iBOT), and crops of another size than ``img_size`` (the 98 px
local crops) get the position embedding interpolated exactly as DINOv2's ``interpolate_pos_encoding`` does:
bicubic, no antialias, with ``scale_factor = (grid + 0.1) / M`` rather than an output size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_MODEL = "vit_small_patch14_reg4_dinov2"
# Table 7: ViT-S/14, 4 registers, LayerScale 1e-5, drop path 0.4 (linearly increasing over depth, not uniform).
DEFAULT_MODEL_KWARGS: dict[str, Any] = {"img_size": 224, "patch_size": 14, "reg_tokens": 4, "init_values": 1e-5}


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int], offset: float = 0.1) -> torch.Tensor:
    """``(1, M*M, D)`` patch position embedding → ``(1, h*w, D)`` for a ``grid = (h, w)`` crop (DINOv2's rule)."""
    n = pos_embed.shape[1]
    side = int(math.sqrt(n))
    if side * side != n:
        raise ValueError(f"position embedding of {n} patches is not a square grid")
    if grid == (side, side):
        return pos_embed
    dim = pos_embed.shape[-1]
    scale = ((grid[0] + offset) / side, (grid[1] + offset) / side)
    resized = F.interpolate(
        pos_embed.float().reshape(1, side, side, dim).permute(0, 3, 1, 2),
        scale_factor=scale,
        mode="bicubic",
        antialias=False,
    )
    if tuple(resized.shape[-2:]) != tuple(grid):
        raise ValueError(f"interpolated position grid {tuple(resized.shape[-2:])} != {grid}")
    return resized.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], dim).to(pos_embed.dtype)


def create_vit(model_name: str = DEFAULT_MODEL, **model_kwargs: Any) -> nn.Module:
    """A randomly initialised timm ViT (``num_classes=0``: features only)."""
    import timm

    return timm.create_model(model_name, pretrained=False, num_classes=0, **model_kwargs)


class DinoV2Backbone(nn.Module):
    """timm ViT + mask token. ``forward(x (B,3,H,W), masks (B,N) bool | None)`` →
    ``{"cls": (B, D), "patch": (B, N, D)}`` after the final norm (DINOv2's x_norm_clstoken / x_norm_patchtokens).
    """

    def __init__(self, vit: nn.Module, interpolate_offset: float = 0.1) -> None:
        super().__init__()
        if not getattr(vit, "no_embed_class", False):
            raise ValueError("DinoV2Backbone expects a timm ViT with no_embed_class=True (the DINOv2 variants)")
        self.vit = vit
        self.vit.patch_embed.strict_img_size = False  # local crops are smaller than img_size
        self.mask_token = nn.Parameter(torch.zeros(1, vit.embed_dim))
        self.interpolate_offset = interpolate_offset

    @property
    def blocks(self) -> nn.Module:
        return self.vit.blocks

    @property
    def patch_size(self) -> int:
        return self.vit.patch_embed.patch_size[0]

    def forward(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        vit = self.vit
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        tokens = vit.patch_embed(x)  # (B, N, D)
        if masks is not None:
            tokens = torch.where(masks.unsqueeze(-1), self.mask_token.to(tokens.dtype).unsqueeze(0), tokens)
        tokens = tokens + interpolate_pos_embed(vit.pos_embed, grid, self.interpolate_offset)
        prefix = [vit.cls_token.expand(x.shape[0], -1, -1)]
        if vit.reg_token is not None:
            prefix.append(vit.reg_token.expand(x.shape[0], -1, -1))
        tokens = vit.pos_drop(torch.cat(prefix + [tokens], dim=1))
        tokens = vit.norm(vit.blocks(vit.norm_pre(tokens)))
        return {"cls": tokens[:, 0], "patch": tokens[:, vit.num_prefix_tokens :]}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (a plain state dict or one under ``model``/``teacher``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("teacher", "model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if any(k.startswith("teacher.backbone.") for k in state):  # an official DINOv2 training checkpoint
        state = {k.removeprefix("teacher.backbone."): v for k, v in state.items() if k.startswith("teacher.backbone.")}
    return state


def load_pretrained(
    backbone: DinoV2Backbone, pretrained: str, model_kwargs: dict[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """Load ``pretrained`` (a timm name such as ``vit_small_patch14_reg4_dinov2.lvd142m``, or a local file in
    timm or official DINOv2 key layout) into ``backbone``; returns ``(missing, unexpected)`` key lists.

    Official-layout files (``register_tokens``, class position embedding) go through timm's own converter,
    which also resamples the position embedding to the model's grid; their ``mask_token`` is kept (continued
    pre-training resumes with the learnt one). ``model_kwargs`` (those the backbone was made with) shape a
    timm-name download. Raises ValueError naming the file if any backbone key is missing
    or unexpected.
    """
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    if Path(pretrained).suffix in (".safetensors", ".pth", ".pt", ".bin") or Path(pretrained).exists():
        state = read_state_dict(pretrained)
        mask_token = state.get("mask_token")
        state = checkpoint_filter_fn(dict(state), backbone.vit)
    else:  # a timm name with its pretrained tag: timm downloads, converts and resamples to ``model_kwargs``
        source = timm.create_model(pretrained, pretrained=True, num_classes=0, **(model_kwargs or {}))
        state, mask_token = source.state_dict(), None
    head_keys = {k for k in state if k.startswith("head.") or k.startswith("fc_norm.")}
    missing, unexpected = backbone.vit.load_state_dict({k: v for k, v in state.items() if k not in head_keys}, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{pretrained}: weights do not fit the backbone (missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})"
        )
    if mask_token is not None:
        with torch.no_grad():
            backbone.mask_token.copy_(mask_token.reshape_as(backbone.mask_token))
    return list(missing), list(unexpected)
