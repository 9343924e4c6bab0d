"""The DINO / iBOT projection head (DINOv2 ``layers/dino_head.py``; Caron et al. 2021, §3).

An MLP (``n_layers`` linear layers, GELU between, no batch norm) to a ``bottleneck_dim`` vector, L2-normalised,
then a weight-normalised linear layer without bias onto ``n_prototypes`` logits. The prototype layer's norm
``g`` starts at 1, so at initialisation every logit lies in [-1, 1]. The prototype layer is called ``last_layer``:
the optimiser freezes it (learning rate 0) for the first epoch by that name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class DINOHead(nn.Module):
    """``(..., in_dim)`` tokens → ``(..., n_prototypes)`` logits. Table 7: 3 layers, hidden 2048, bottleneck 256."""

    def __init__(
        self,
        in_dim: int,
        n_prototypes: int = 65536,
        n_layers: int = 3,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        dims = [in_dim] + [hidden_dim] * (n_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < n_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for module in self.mlp.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, n_prototypes, bias=False))
        with torch.no_grad():
            self.last_layer.parametrizations.weight.original0.fill_(1.0)  # g = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        x = F.normalize(x, p=2, dim=-1, eps=1e-6 if x.dtype == torch.float16 else 1e-12)
        return self.last_layer(x)
