"""Optimiser parameter groups of DINOv2 (``dinov2/utils/param_groups.py``).

Every parameter gets an ``lr_multiplier`` (layer-wise decay ``decay ** (L + 1 - layer)`` where the embeddings and
tokens are layer 0, block i is layer i + 1 and everything after the blocks is layer L + 1; × ``patch_embed_lr_mult``
on the patch embedding), a ``wd_multiplier`` (0 for biases, norms and LayerScale ``gamma``; 1 otherwise — as the
official rule, which leaves the cls/register/mask tokens and position embedding decayed) and ``is_last_layer``
(the heads' prototype layer, frozen for the first epoch). Parameters with equal settings share one group.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

_EMBEDDING_NAMES = ("pos_embed", "patch_embed", "mask_token", "cls_token", "reg_token", "register_tokens")


def layer_id(name: str, num_layers: int) -> int:
    """Layer index of a backbone parameter: 0 embeddings/tokens, i + 1 for ``blocks.i``, L + 1 otherwise."""
    if any(token in name for token in _EMBEDDING_NAMES):
        return 0
    if "blocks." in name:
        return int(name[name.find("blocks.") :].split(".")[1]) + 1
    return num_layers + 1


def lr_multiplier(name: str, num_layers: int, layer_decay: float, patch_embed_lr_mult: float) -> float:
    """Learning-rate multiplier of backbone parameter ``name`` (``num_layers`` = 0 for heads: multiplier 1)."""
    multiplier = layer_decay ** (num_layers + 1 - layer_id(name, num_layers)) if num_layers > 0 else 1.0
    if "patch_embed" in name:
        multiplier *= patch_embed_lr_mult
    return multiplier


def no_weight_decay(name: str) -> bool:
    return name.endswith(".bias") or "norm" in name or "gamma" in name


def dinov2_param_groups(
    modules: Mapping[str, nn.Module], layer_decay: float = 0.9, patch_embed_lr_mult: float = 0.2
) -> list[dict]:
    """Parameter groups for ``{"backbone": ..., "dino_head": ..., ...}``; a module with ``blocks`` is a ViT.

    Each group holds ``params``, ``names``, ``lr_multiplier``, ``wd_multiplier`` and ``is_last_layer``; the
    training loop sets ``lr`` and ``weight_decay`` from the schedules and these multipliers every step.
    """
    groups: dict[tuple[float, float, bool], dict] = {}
    for prefix, module in modules.items():
        blocks = getattr(module, "blocks", None)
        num_layers = len(blocks) if blocks is not None else 0
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            key = (
                lr_multiplier(name, num_layers, layer_decay, patch_embed_lr_mult),
                0.0 if no_weight_decay(name) else 1.0,
                "last_layer" in name,
            )
            group = groups.setdefault(
                key,
                {"params": [], "names": [], "lr_multiplier": key[0], "wd_multiplier": key[1], "is_last_layer": key[2]},
            )
            group["params"].append(param)
            group["names"].append(f"{prefix}.{name}")
    return list(groups.values())
