r"""forward-laplacian-jax: the exact Laplacian by Forward Laplacian (docs/protocol.md §3.2).

Li et al., "A computational framework for neural network-based variational Monte Carlo
with Forward Laplacian" (2023), as implemented by ``folx.forward_laplacian`` (the library
the STDE paper used).  One forward pass carries, for every intermediate y, the triple
(y, grad_x y, Delta_x y) through the chain rule

    Delta (g o y) = g'(y) Delta y + g''(y) |grad_x y|^2,

so  Delta f(x)  is exact (no sampling; ``samples`` and ``key`` are ignored).

Cost: one forward pass with d tangents, about d times a forward pass in FLOPs (less with
sparsity); memory O(d) times the widest activation.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator


@register("forward-laplacian-jax")
class ForwardLaplacianJax(Estimator):
    """Exact Laplacian by ``folx.forward_laplacian``."""

    backend = "jax"
    operators = frozenset({"laplacian"})
    stochastic = False
    cost_tangents = "dense"

    def laplacian(self, f, x, key=None):
        import folx  # only this estimator needs it

        x = jax_point(self, x)
        return folx.forward_laplacian(f)(x).laplacian
