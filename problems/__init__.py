"""Registry of PDE problems: ``problems.names()`` and ``problems.get(name, dim, ...)``.

One file per problem family; each registers its ids with ``@REGISTRY.register``.
Importing this package imports JAX's numpy only where a family needs it at call time
and never imports torch.
"""

from __future__ import annotations

from problems.base import Problem, check_problem
from stde_core import BACKENDS, OPERATORS, Registry

# Plugins: entry points of the group below, or ``module:attribute`` (stde_core/registry.py).
REGISTRY: Registry[Problem] = Registry("problem", group="stde_bench.problems", check=check_problem)
register = REGISTRY.register

__all__ = ["BACKENDS", "OPERATORS", "Problem", "REGISTRY", "get", "names", "register"]


def names() -> list[str]:
    """All registered problem ids."""
    return REGISTRY.names()


def get(name: str, dim: int, *, seed: int = 0, backend: str = "jax") -> Problem:
    """The problem ``name`` in dimension ``dim``, coefficients drawn from ``seed``; ``name``
    is an id of ``names()`` or a plugin's ``"module:attribute"``.

    Raises ValueError for an unknown name, a dimension the problem cannot take, a bad
    seed or an unknown backend, listing what is valid.
    """
    factory = REGISTRY.factory(name)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ValueError(f"dim must be an int, got {dim!r}")
    return factory(name=name, dim=dim, seed=seed, backend=backend)


# Problem families: importing a module registers its problems (in the order).
# isort: off
from problems import inseparable  # noqa: E402, F401
from problems import semilinear  # noqa: E402, F401
from problems import high_order  # noqa: E402, F401
from problems import gpinn  # noqa: E402, F401
from problems import biharmonic  # noqa: E402, F401
# isort: on
