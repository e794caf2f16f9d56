"""The randomization shared by the sampled estimators (SDGD family, sparse STDE).

One index set J of |J| = ``samples`` distinct coordinates is drawn per call, without
replacement (docs/protocol.md §2); the harness passes the same key to every residual point of a
step, so the whole step shares J.  With ``samples >= d`` J is every coordinate and the
rescaling factor d/|J| is 1, so the estimate is exact.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def index_set(key: jax.Array, dim: int, samples: int) -> tuple[jax.Array, float]:
    """Sampled coordinates J, shape ``(min(samples, dim),)``, and the scale ``d / |J|``.

    ``sum_{j in J} a_j * scale`` is an unbiased estimate of ``sum_j a_j``.
    """
    if samples >= dim:
        return jnp.arange(dim), 1.0
    if key is None:
        raise ValueError(
            f"a PRNG key is needed to sample {samples} of {dim} dimensions; "
            "pass jax.random.key(seed)"
        )
    return jax.random.choice(key, dim, (samples,), replace=False), dim / samples


def one_hot(index: jax.Array, dim: int, dtype) -> jax.Array:
    """Rows ``e_j`` for j in ``index``: shape ``(len(index), dim)``."""
    return jax.nn.one_hot(index, dim, dtype=dtype)


def sampled_tangents(key: jax.Array, x: jax.Array, samples: int) -> tuple[jax.Array, float]:
    """One-hot tangents e_j for the sampled J, shape ``(|J|, d)``, and the scale d/|J|
    (the common first step of the SDGD family and sparse STDE)."""
    index, scale = index_set(key, x.shape[-1], samples)
    return one_hot(index, x.shape[-1], x.dtype), scale
