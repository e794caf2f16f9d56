"""The PINN network in PyTorch (see ``stde_bench.mlp``): batches ``(N, d) -> (N,)``."""

from __future__ import annotations

import torch
from torch import nn

from stde_bench.mlp import MLPConfig


class MLP(nn.Module):
    """tanh MLP with nn.Linear's default (PyTorch-style uniform) init and optional
    weight-shared first layer of block size B."""

    def __init__(self, input_dim: int, config: MLPConfig = MLPConfig()) -> None:
        super().__init__()
        self.block = config.block if config.block not in (None, 1) else None
        self.shared = nn.Linear(self.block, 1) if self.block else None
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in config.layer_sizes(input_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.shared is not None:
            h = torch.tanh(self.shared(h.reshape(*h.shape[:-1], -1, self.block))).squeeze(-1)
        for layer in self.layers[:-1]:
            h = torch.tanh(layer(h))
        return self.layers[-1](h).squeeze(-1)


def build(input_dim: int, config: MLPConfig = MLPConfig(), seed: int = 0, dtype=None) -> MLP:
    """The network with a seeded init (torch.manual_seed-free: a local generator state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(input_dim, config)
    return model.to(dtype) if dtype is not None else model
