"""The PINN network in JAX (see ``stde_bench.mlp`` for the architecture and init).

Parameters are a dict ``{"shared": (w (B,), c ()) or None,
"layers": [(W (in, out), b (out,)), ...]}``;
``apply(params, x)`` maps one point ``x: (d,)`` to a scalar.
"""

from __future__ import annotations

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


def apply(params, x: jax.Array) -> jax.Array:
    """NN(x) for one point x: (d,) -> scalar."""
    h = x
    if params["shared"] is not None:
        w, c = params["shared"]
        h = jnp.tanh(h.reshape(-1, w.shape[0]) @ w + c)
    *hidden, (w_out, b_out) = params["layers"]
    for w, b in hidden:
        h = jnp.tanh(h @ w + b)
    return (h @ w_out + b_out)[0]


def count(params) -> int:
    """Number of scalars in a parameter pytree (works on ShapeDtypeStructs too)."""
    return sum(int(jnp.size(p)) if hasattr(p, "size") else 0 for p in jax.tree.leaves(params))


def abstract_count(input_dim: int, config: MLPConfig = MLPConfig()) -> int:
    """Parameter count of the real init function traced abstractly: nothing is allocated."""
    shapes = jax.eval_shape(lambda k: init(k, input_dim, config), jax.random.key(0))
    return sum(int(s.size) for s in jax.tree.leaves(shapes))
