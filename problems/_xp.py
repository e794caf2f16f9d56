"""A tiny array-namespace shim: every formula is written once, for a batch ``(N, D)``.

Formulas take ``xp`` (``numpy``, ``jax.numpy`` or ``torch``) and use only what the three
share: elementwise ``xp.sin/cos/exp/tanh/arctan/sqrt/sign``, ``xp.amax(a, -1)``,
``xp.concatenate(list, -1)``, ``xp.zeros_like``, slicing and ``a.sum(-1)``.  The JAX
backend evaluates one point ``z`` as ``formula(jnp, z[None])[0]``; the torch backend passes
its batch straight through.

torch is imported only when a torch-backend problem asks for its namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def namespace(backend: str) -> Any:
    """The array module of ``backend``: ``"jax"`` -> jax.numpy, ``"torch"``, ``"numpy"``."""
    if backend == "jax":
        import jax.numpy as jnp

        return jnp
    if backend == "torch":
        import torch

        return torch
    if backend == "numpy":
        return np
    raise ValueError(f"unknown backend {backend!r}; valid backends: jax, torch, numpy")


def pointwise(backend: str, batch_fn: Callable[[Any, Any], Any], z: Any) -> Any:
    """Apply ``batch_fn(xp, Z: (N, D)) -> (N, ...)`` in the backend's calling convention.

    JAX: ``z`` is one point ``(D,)`` and the result is ``batch_fn(jnp, z[None])[0]``.
    torch / numpy: ``z`` is a batch ``(N, D)`` and the result is ``batch_fn(xp, z)``.
    """
    xp = namespace(backend)
    if backend == "jax":
        return batch_fn(xp, z[None])[0]
    return batch_fn(xp, z)


def constant(values: np.ndarray, like: Any) -> Any:
    """A float numpy constant as an array of ``like``'s kind (numpy, JAX or torch), dtype
    and device."""
    if isinstance(like, np.ndarray):
        return np.asarray(values, dtype=like.dtype)
    if type(like).__module__.startswith("torch"):
        import torch

        return torch.as_tensor(values, dtype=like.dtype, device=like.device)
    import jax.numpy as jnp

    return jnp.asarray(values, dtype=like.dtype)


def to_backend(backend: str, values: np.ndarray) -> Any:
    """A float64 numpy array as the backend's default float array (test sets)."""
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(values, dtype=jnp.result_type(float))
    if backend == "torch":
        import torch

        return torch.as_tensor(values, dtype=torch.get_default_dtype())
    return np.asarray(values)
