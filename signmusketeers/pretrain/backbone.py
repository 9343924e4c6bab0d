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

from signmusketeers.constants import DEFAULT_MODEL


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


# torch.hub's public DINOv2 names (facebookresearch/dinov2 hubconf) → their checkpoint files. The paper starts from
# dinov2_vits14_reg: ViT-S/14 with 4 registers, trained at 518 px (a 37×37 position grid), iBOT mask token included.
DINOV2_BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"
DINOV2_HUB_NAMES = tuple(f"dinov2_vit{size}14{reg}" for size in "sblg" for reg in ("", "_reg"))


def dinov2_checkpoint_url(name: str) -> str:
    """The download URL of a torch.hub DINOv2 name, e.g. ``dinov2_vits14_reg`` →
    ``…/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth``."""
    if name not in DINOV2_HUB_NAMES:
        raise ValueError(f"{name}: not a DINOv2 torch.hub name ({', '.join(DINOV2_HUB_NAMES)})")
    arch = name.removesuffix("_reg")
    return f"{DINOV2_BASE_URL}/{arch}/{arch}{'_reg4' if name.endswith('_reg') else ''}_pretrain.pth"


def fetch_dinov2_checkpoint(name: str) -> dict[str, torch.Tensor]:
    """The official checkpoint of a torch.hub DINOv2 name, from the torch hub cache
    (``torch.hub.get_dir()/checkpoints/``) or downloaded into it, as ``torch.hub.load`` does.

    Raises ValueError in one line when it is neither cached nor downloadable (offline).
    """
    url = dinov2_checkpoint_url(name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - network errors come in many types (URLError, HTTPError, OSError)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{name}: not in the torch hub cache ({cached}) and the download from {url} failed ({reason}); "
            "download it there, or give the file's path"
        ) from None


def _resample_pos_embed(pos_embed: torch.Tensor, prefix: int, grid: tuple[int, int], offset: float) -> torch.Tensor:
    """``pos_embed`` ``(1, prefix + M*M, D)`` with its patch part resampled to ``grid`` by DINOv2's rule."""
    patch = pos_embed[:, prefix:]
    if patch.shape[1] == grid[0] * grid[1]:
        return pos_embed
    return torch.cat([pos_embed[:, :prefix], interpolate_pos_embed(patch, grid, offset)], dim=1)


def load_pretrained(
    backbone: DinoV2Backbone, pretrained: str, model_kwargs: dict[str, Any] | None = None
) -> tuple[list[str], list[str]]:
    """Load ``pretrained`` into ``backbone``, every tensor of it; returns ``(missing, unexpected)`` key lists.

    ``pretrained`` is one of:

    * a torch.hub DINOv2 name (``dinov2_vits14_reg``, the paper's initialisation): the official checkpoint, read from
      the torch hub cache or downloaded into it (:func:`fetch_dinov2_checkpoint`);
    * a local file in the official DINOv2 layout (``cls_token``, ``register_tokens``, ``mask_token``, ``pos_embed``
      with the class position, ``blocks.N.…``) or in timm's layout (``.pth``/``.pt``/``.bin``/``.safetensors``);
    * a timm name with its tag (``vit_small_patch14_reg4_dinov2.lvd142m``): timm's conversion of the same weights,
      which has no ``mask_token`` (the iBOT mask token then starts at zero, as timm leaves it).

    Official-layout weights go through timm's converter: the registers become ``reg_token`` and the class
    position embedding is added into ``cls_token`` (timm's DINOv2 models keep positions for patches only; the sum is
    what every forward pass adds anyway). The ``mask_token`` is copied into :attr:`DinoV2Backbone.mask_token`.
    Whatever the source, the patch position embedding (37×37 for weights trained at 518 px) is resampled once to the
    model's grid (16×16 at 224 px) by the rule DINOv2's training code applies at every forward (its
    ``interpolate_pos_encoding`` with the training defaults): bicubic, no antialiasing,
    ``scale_factor = (grid + interpolate_offset) / 37`` (:func:`interpolate_pos_embed`, offset 0.1), so a 224 px
    crop gets the positions continued pre-training with the official code gives it. (torch.hub's inference model
    for the ``_reg`` weights uses antialiasing and offset 0, as timm's own resampling does.) Raises ValueError
    naming the source if any backbone key is missing or unexpected.
    """
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    vit = backbone.vit
    grid = tuple(vit.patch_embed.grid_size)
    offset = backbone.interpolate_offset
    if pretrained in DINOV2_HUB_NAMES:
        state = fetch_dinov2_checkpoint(pretrained)
    elif Path(pretrained).suffix in (".safetensors", ".pth", ".pt", ".bin") or Path(pretrained).exists():
        state = read_state_dict(pretrained)
    else:  # a timm name with its pretrained tag, at the weights' own size (resampled below, by DINOv2's rule)
        kwargs = {k: v for k, v in (model_kwargs or {}).items() if k != "img_size"}
        state = timm.create_model(pretrained, pretrained=True, num_classes=0, **kwargs).state_dict()
    state = dict(state)
    mask_token = state.get("mask_token")
    if "register_tokens" in state or mask_token is not None:  # official layout: the class position is in pos_embed
        if "pos_embed" in state:
            state["pos_embed"] = _resample_pos_embed(state["pos_embed"], 1, grid, offset)
    elif "pos_embed" in state:
        state["pos_embed"] = _resample_pos_embed(
            state["pos_embed"], 0 if vit.no_embed_class else vit.num_prefix_tokens, grid, offset
        )
    state = checkpoint_filter_fn(state, vit)
    head_keys = {k for k in state if k.startswith(("head.", "fc_norm."))}
    weights = {k: v for k, v in state.items() if k not in head_keys}
    missing, unexpected = vit.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{pretrained}: weights do not fit the backbone "
            f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})"
        )
    if mask_token is not None:
        with torch.no_grad():
            backbone.mask_token.copy_(mask_token.reshape_as(backbone.mask_token))
    return list(missing), list(unexpected)
