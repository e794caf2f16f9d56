"""The PINN network in JAX (see ``stde_bench.mlp`` for the architecture and init).

Parameters are a dict ``{"shared": (w (B,), c ()) or None,
"layers": [(W (in, out), b (out,)), ...]}``;
``apply(params, x)`` maps one point ``x: (d,)`` to a scalar; ``restrict(params, x, J)`` is
the same network as a function of the coordinates J of x only (coordinate restriction).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from stde_bench.mlp import MLPConfig


def _uniform(key: jax.Array, shape: tuple[int, ...], fan_in: int, dtype) -> jax.Array:
    bound = 1.0 / jnp.sqrt(jnp.asarray(fan_in, dtype))
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def init(key: jax.Array, input_dim: int, config: MLPConfig = MLPConfig(), dtype=None):
    """PyTorch-style uniform init; returns the parameter pytree (default float dtype:
    float32, or float64 with ``jax_enable_x64``)."""
    dtype = dtype or jnp.result_type(float)
    sizes = config.layer_sizes(input_dim)
    keys = jax.random.split(key, 2 * len(sizes) + 2)
    layers = [
        (
            _uniform(keys[2 * k], (i, o), i, dtype),
            _uniform(keys[2 * k + 1], (o,), i, dtype),
        )
        for k, (i, o) in enumerate(sizes)
    ]
    shared = None
    if config.block not in (None, 1):
        b = config.block
        shared = (_uniform(keys[-2], (b,), b, dtype), _uniform(keys[-1], (), b, dtype))
    return {"shared": shared, "layers": layers}


def features(params, x: jax.Array) -> jax.Array:
    """phi(x), the first dense layer's input: x itself ``(d,)``, or with weight sharing
    tanh(w . x[kB:(k+1)B] + c) per block ``(d/B,)``."""
    if params["shared"] is None:
        return x
    w, c = params["shared"]
    return jnp.tanh(x.reshape(-1, w.shape[0]) @ w + c)


def head(params, pre_activation: jax.Array) -> jax.Array:
    """NN from the first dense layer's pre-activation ``(width,)`` to the scalar output."""
    _, *hidden, (w_out, b_out) = params["layers"]
    h = jnp.tanh(pre_activation)
    for w, b in hidden:
        h = jnp.tanh(h @ w + b)
    return (h @ w_out + b_out)[0]


def apply(params, x: jax.Array) -> jax.Array:
    """NN(x) for one point x: (d,) -> scalar."""
    w1, b1 = params["layers"][0]
    return head(params, features(params, x) @ w1 + b1)


def restrict(params, x: jax.Array, index: jax.Array) -> Callable[[jax.Array], jax.Array]:
    """``y -> NN(x with the coordinates index replaced by y)``, ``y: (K,) -> scalar``,
    built without a d-sized array per direction (``stde_bench.restrict``).

    A sampled coordinate j changes one first-layer feature: phi_j = x_j itself, or the
    block k = j // B (weight w_{j mod B}) with sharing.  With ``first`` marking the first
    sampled coordinate of each touched feature k_m (two may share a block),

        a(y) = [phi(x) W1 + b1 - sum_m first_m phi_{k_m}(x) W1[k_m]]      (once per point)
               + sum_m first_m phi_{k_m}(y) W1[k_m]                       (K rows of W1)

    and a block's pre-activation moves by the sampled coordinates it holds:
    s_{k_m}(y) = s_{k_m}(x) + sum_{m'} [k_m' = k_m] w_{j_m' mod B} (y_m' - x_{j_m'}).
    """
    w1, b1 = params["layers"][0]
    x_index = x[index]
    if params["shared"] is None:
        rows = w1[index]  # (K, width): W1[J]
        base = x @ w1 + b1 - x_index @ rows
        return lambda y: head(params, base + y @ rows)
    w, c = params["shared"]
    block = index // w.shape[0]  # (K,) the feature each sampled coordinate moves
    same = block[:, None] == block[None, :]  # (K, K)
    first = ~jnp.any(jnp.tril(same, -1), axis=1)  # no earlier sampled coordinate in the block
    moves = jnp.where(same, w[index % w.shape[0]][None, :], 0.0)  # (K, K)
    pre_blocks = x.reshape(-1, w.shape[0]) @ w + c  # (d/B,)
    touched = pre_blocks[block]  # (K,)
    rows = w1[block] * first[:, None].astype(w1.dtype)  # (K, width), repeated blocks zeroed
    base = jnp.tanh(pre_blocks) @ w1 + b1 - jnp.tanh(touched) @ rows
    return lambda y: head(params, base + jnp.tanh(touched + moves @ (y - x_index)) @ rows)


def count(params) -> int:
    """Number of scalars in a parameter pytree (works on ShapeDtypeStructs too)."""
    return sum(int(jnp.size(p)) if hasattr(p, "size") else 0 for p in jax.tree.leaves(params))


def abstract_count(input_dim: int, config: MLPConfig = MLPConfig()) -> int:
    """Parameter count of the real init function traced abstractly: nothing is allocated."""
    shapes = jax.eval_shape(lambda k: init(k, input_dim, config), jax.random.key(0))
    return sum(int(s.size) for s in jax.tree.leaves(shapes))
