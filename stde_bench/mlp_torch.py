"""The PINN network in PyTorch (see ``stde_bench.mlp``): batches ``(N, d) -> (N,)``."""

from __future__ import annotations

from collections.abc import Callable

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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): x itself, or tanh of the shared layer on each block ``(N, d/B)``."""
        if self.shared is None:
            return x
        return torch.tanh(self.shared(x.reshape(*x.shape[:-1], -1, self.block))).squeeze(-1)

    def head(self, pre_activation: torch.Tensor) -> torch.Tensor:
        """The network from the first dense layer's pre-activation ``(N, width)`` on: ``(N,)``."""
        h = torch.tanh(pre_activation)
        for layer in self.layers[1:-1]:
            h = torch.tanh(layer(h))
        return self.layers[-1](h).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers[0](self.features(x)))


def restrict(model: MLP, x: torch.Tensor, index: torch.Tensor) -> Callable:
    """``y -> NN(x with the columns index replaced by y)``, ``y: (N, K) -> (N,)``, built
    without a d-sized array per (point, direction) (see ``stde_bench.restrict``).

    x: ``(N, input_dim)``; index: ``(K,)`` distinct ints.  A sampled coordinate j moves one
    first-layer feature: x_j itself, or the block k = j // B (weight w_{j mod B}) with
    sharing.  With ``first`` marking the first sampled coordinate of each touched feature,

        a(y) = [phi(x) W1ᵀ + b1 - sum_m first_m phi_{k_m}(x) W1[:, k_m]ᵀ]    (once per point)
               + sum_m first_m phi_{k_m}(y) W1[:, k_m]ᵀ                      (K columns of W1)

    and a block's pre-activation moves by the sampled coordinates it holds:
    s_{k_m}(y) = s_{k_m}(x) + sum_{m'} [k_m' = k_m] w_{j_m' mod B} (y_m' - x_{j_m'}).
    """
    first_layer = model.layers[0]
    w1 = first_layer.weight  # (width, features)
    x_index = x[:, index]  # (N, K)
    if model.shared is None:
        columns = w1[:, index]  # (width, K): W1[:, J]
        base = first_layer(x) - x_index @ columns.T  # (N, width), once per point
        return lambda y: model.head(base + y @ columns.T)
    w, c = model.shared.weight[0], model.shared.bias  # (B,), (1,)
    block = index // model.block  # (K,) the feature each sampled coordinate moves
    same = block[:, None] == block[None, :]  # (K, K)
    first = ~torch.tril(same, -1).any(dim=1)  # no earlier sampled coordinate in the block
    moves = torch.where(same, w[index % model.block][None, :], torch.zeros_like(w1[:1, :1]))
    pre_blocks = x.reshape(x.shape[0], -1, model.block) @ w + c  # (N, d/B)
    touched = pre_blocks[:, block]  # (N, K)
    columns = w1[:, block] * first[None, :].to(w1.dtype)  # (width, K), repeated blocks zeroed
    base = first_layer(torch.tanh(pre_blocks)) - torch.tanh(touched) @ columns.T
    return lambda y: model.head(base + torch.tanh(touched + (y - x_index) @ moves.T) @ columns.T)


def build(input_dim: int, config: MLPConfig = MLPConfig(), seed: int = 0, dtype=None) -> MLP:
    """The network with a seeded init (torch.manual_seed-free: a local generator state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(input_dim, config)
    return model.to(dtype) if dtype is not None else model
