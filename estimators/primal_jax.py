r"""primal-jax: the floor (no derivative).  It supplies zero for the operator.

A training step with it is the same network, the same residual points, the same loss
plumbing (forcing, nonlinearity, gPINN forcing gradient at the sampled coordinates),
the same gradient with respect to the parameters and the same Adam update as with any
estimator, and no derivative work at all:

    laplacian(f, x)           = 0
    laplacian_gradient(f, x)  = LaplacianGradient(0, j, 0, 0),   j the sampled coordinates

(j drawn as the gPINN estimators draw theirs, ``estimators.gpinn_pairs.gradient_pairs``).  Its
speed and memory are the reference row "floor (no derivative)" of every speed and memory
table: an estimator's overhead is measured against it.  It is never an accuracy row, it
is not an estimator of anything (``floor = True``), and it is refused by coordinate
restriction (``stde_bench.restrict``), which would change nothing.
"""

from __future__ import annotations

import jax.numpy as jnp

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator, LaplacianGradient
from estimators.gpinn_pairs import gradient_pairs


@register("primal-jax")
class PrimalJax(Estimator):
    """The floor: zeros of the right shapes, for speed and memory references only."""

    backend = "jax"
    operators = frozenset({"laplacian", "laplacian-gradient"})
    stochastic = False
    floor = True

    def laplacian(self, f, x, key=None):
        """0, a scalar of x's dtype."""
        x = jax_point(self, x)
        return jnp.zeros((), x.dtype)

    def laplacian_gradient(self, f, x, key=None):
        """Zeros with the sampled gradient coordinates ``index: (K,)``, K = min(samples, d)."""
        x = jax_point(self, x, "laplacian-gradient")
        _, index, _ = gradient_pairs(key, x.shape[0], self.samples)
        zeros = jnp.zeros(index.shape, x.dtype)
        return LaplacianGradient(
            laplacian=jnp.zeros((), x.dtype), index=index, grad_laplacian=zeros, grad=zeros
        )
