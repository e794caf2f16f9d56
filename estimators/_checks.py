"""Input checks shared by the estimators: the error that tells a user which backend to use.

Nothing here imports torch: a tensor can only be a ``torch.Tensor`` if torch is already
imported, so ``sys.modules`` answers the question for free.
"""

from __future__ import annotations

import sys
from typing import Any


def is_torch_tensor(x: Any) -> bool:
    """Whether ``x`` is a ``torch.Tensor`` (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _supplying(backend: str, operator: str) -> list[tuple[str, Any]]:
    """``(id, factory)`` of every registered ``backend`` estimator that supplies ``operator``."""
    import estimators  # late import: the registry imports the estimator modules

    out = []
    for name in estimators.names():
        factory = estimators.REGISTRY.factory(name)
        if factory.backend == backend and operator in factory.operators:
            out.append((name, factory))
    return out


def _ids(backend: str, operator: str) -> str:
    return ", ".join(name for name, _ in _supplying(backend, operator)) or "none"


def without_jets(operator: str) -> str:
    """The JAX estimators that compute ``operator`` without Taylor-mode jets (the floor,
    which returns zeros, left out): the alternatives when a jet rule is missing."""
    ids = [
        name
        for name, factory in _supplying("jax", operator)
        if not getattr(factory, "uses_jets", False) and not getattr(factory, "floor", False)
    ]
    return ", ".join(ids) or "none"


def jax_point(estimator: Any, x: Any, operator: str = "laplacian"):
    """``x`` as a JAX array of shape ``(d,)``; ValueError for a torch tensor or a batch."""
    import jax.numpy as jnp

    if is_torch_tensor(x):
        raise ValueError(
            f"{estimator.name!r} is a JAX estimator and got a torch.Tensor; it takes a JAX "
            f"function f: (d,) -> scalar and a JAX array x of shape (d,). For PyTorch use: "
            f"{_ids('torch', operator)}."
        )
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(
            f"{estimator.name!r} takes one point x of shape (d,), got shape {x.shape}; "
            "for a batch, vmap over the points: "
            "jax.vmap(lambda x: estimator.laplacian(f, x, key))(xs)"
        )
    return x


def torch_batch(estimator: Any, x: Any, operator: str = "laplacian"):
    """``x`` checked to be a ``torch.Tensor`` of shape ``(N, d)``; ValueError otherwise."""
    if not is_torch_tensor(x):
        raise ValueError(
            f"{estimator.name!r} is the PyTorch estimator: it takes a torch function "
            f"f: (N, d) -> (N,) and a torch.Tensor x of shape (N, d), got "
            f"{type(x).__module__}.{type(x).__qualname__}. For JAX use: "
            f"{_ids('jax', operator)}."
        )
    if x.ndim != 2:
        raise ValueError(
            f"{estimator.name!r} takes a batch x of shape (N, d), got shape {tuple(x.shape)}"
        )
    return x


def need_key(estimator: Any, key: Any) -> None:
    """ValueError unless a PRNG key was passed to an estimator that always samples."""
    if key is None:
        raise ValueError(
            f"{estimator.name!r} draws random directions: pass a PRNG key, "
            "e.g. jax.random.key(seed)"
        )
