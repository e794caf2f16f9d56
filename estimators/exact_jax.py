r"""exact-jax: the exact Laplacian and biharmonic by nested autodiff (docs/protocol.md §3.2).

The reference for tests at small d:

    Delta f(x)    = tr H(x),                H = jax.hessian(f)  (forward-over-reverse),
    Delta^2 f(x)  = tr hessian(Delta f)(x) = sum_{i,j} d^4 f / dx_i^2 dx_j^2.

Deterministic (``samples`` and ``key`` are ignored).

Cost: Laplacian d HVPs (O(d) passes) and a d x d Hessian in memory; biharmonic the
Hessian of a function that itself costs d HVPs, i.e. O(d^2) passes through a fourth-order
graph, with d x d tangents per activation.  Use only for small d.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator


def hessian_trace(f, x: jax.Array) -> jax.Array:
    """tr H(x) from the full Hessian."""
    return jnp.trace(jax.hessian(f)(x))


@register("exact-jax")
class ExactJax(Estimator):
    """Exact Laplacian (Hessian trace) and biharmonic (trace of the Laplacian's Hessian)."""

    backend = "jax"
    operators = frozenset({"laplacian", "biharmonic"})
    stochastic = False
    cost_tangents = "dense"
    max_dim = 100  # the full Hessian: O(d^2) memory per point

    def laplacian(self, f, x, key=None):
        x = jax_point(self, x)
        return hessian_trace(f, x)

    def biharmonic(self, f, x, key=None):
        x = jax_point(self, x, "biharmonic")
        return hessian_trace(lambda y: hessian_trace(f, y), x)
