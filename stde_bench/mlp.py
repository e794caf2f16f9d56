"""The PINN network of docs/protocol.md §2, framework-free part: its shape and parameter count.

    NN(x) = W_L tanh(... tanh(W_1 phi(x) + b_1) ...) + b_L,   depth L linear layers, width h

``phi`` is the identity, or with weight sharing of block size B (paper Table 10) the
shared first layer  phi(x)_k = tanh(w . x[kB:(k+1)B] + c),  k < d/B,  one Linear(B -> 1)
applied to every block.  Initialisation is PyTorch's nn.Linear default:
weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """depth: number of linear layers (paper: 4); width: hidden size (paper: 128);
    block: weight-sharing block size B, or None for a plain first layer."""

    depth: int = 4
    width: int = 128
    block: int | None = None

    def __post_init__(self) -> None:
        if self.depth < 2:
            raise ValueError(f"depth must be >= 2 linear layers, got {self.depth}")
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if self.block is not None and self.block < 1:
            raise ValueError(f"block must be None or >= 1, got {self.block}")

    def features(self, input_dim: int) -> int:
        """Width of the first dense layer's input: d, or d/B with weight sharing."""
        if self.block is None or self.block == 1:
            return input_dim
        if input_dim % self.block:
            raise ValueError(
                f"weight sharing needs the input dimension ({input_dim}) to be a multiple "
                f"of the block size ({self.block}); choose a block that divides it"
            )
        return input_dim // self.block

    def layer_sizes(self, input_dim: int) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of each dense layer after the optional shared layer."""
        sizes = [self.features(input_dim)] + [self.width] * (self.depth - 1) + [1]
        return list(zip(sizes[:-1], sizes[1:], strict=True))

    def n_params(self, input_dim: int) -> int:
        """Number of trainable parameters, without building the network.

        d = 10^6, depth 4, width 128: 128,033,281; with B = 50: 2,593,332 (docs/protocol.md §2).
        """
        shared = self.block + 1 if self.block not in (None, 1) else 0
        return shared + sum(i * o + o for i, o in self.layer_sizes(input_dim))
