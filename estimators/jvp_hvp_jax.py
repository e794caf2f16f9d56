r"""jvp-hvp-jax: the gradient-enhanced PINN baseline "JVP-HVP" (docs/protocol.md §1.4, Table 12).

For a sampled pair (i, j): the Hessian-vector product ``H e_i = jvp(grad f, x, e_i)``
(forward-over-reverse) gives the diagonal entry ``u_ii = (H e_i)_i``; one more JVP of
``x -> ((grad f)_j, (H e_i)_i)`` along ``e_j`` gives

    u_iij = d/dx_j (H(x) e_i)_i      and      u_j = (grad f(x))_j

in the same pass.  The pairs and the assembly are those of stde-jax
(``estimators.gpinn_pairs.gradient_pairs`` / ``laplacian_gradient_from_pairs``):

    laplacian = (d/K) sum_k u_{i_k i_k},  grad_laplacian_k = d u_{i_k i_k j_k},  grad_k = u_{j_k},

unbiased for the Laplacian and for d_{j_k} Laplacian u, exact gradient; exact throughout for
``samples >= d`` (then all d^2 pairs).  For the same key stde-jax returns the same
numbers (tested).

Cost per pair: one reverse pass inside two nested forward passes (jvp of jvp of grad),
versus stde-jax's single forward 7-jet.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.gpinn_pairs import laplacian_gradient_from_pairs


def hvp_pair(f, x: jax.Array, i, j):
    """``(u_ii, u_iij, u_j)`` at x: HVP diagonal, its JVP along e_j, and the gradient."""
    e_i = jax.nn.one_hot(i, x.shape[0], dtype=x.dtype)
    e_j = jax.nn.one_hot(j, x.shape[0], dtype=x.dtype)

    def grad_and_diagonal(y):
        gradient, hessian_e_i = jax.jvp(jax.grad(f), (y,), (e_i,))
        return jnp.stack([gradient[j], hessian_e_i[i]])

    (u_j, u_ii), (_, u_iij) = jax.jvp(grad_and_diagonal, (x,), (e_j,))
    return u_ii, u_iij, u_j


@register("jvp-hvp-jax")
class JvpHvpJax(Estimator):
    """gPINN quantities from the HVP diagonal and its JVP (sampled pairs as stde-jax)."""

    backend = "jax"
    operators = frozenset({"laplacian-gradient"})
    stochastic = True

    def laplacian_gradient(self, f, x, key=None):
        x = jax_point(self, x, "laplacian-gradient")
        return laplacian_gradient_from_pairs(hvp_pair, f, x, key, self.samples)
