r"""stde-jax: sparse Stochastic Taylor Derivative Estimator (docs/protocol.md §3.3, paper Sec. 4).

Laplacian.  With the 2-jet through x along (v, 0), the second Taylor coefficient in
JAX's derivative convention is  d^2 f(x; v, 0) = v^T H v  (the first-order term with
v_2 = 0 vanishes).  For v = e_j it is  d^2 f / dx_j^2, so

    Delta f(x)  ~=  (d / |J|) * sum_{j in J} d^2 f(x; e_j, 0),

unbiased for J drawn uniformly without replacement, exact for |J| = d.  Cost: |J| jets
of order 2, O(|J|) forward passes and no reverse pass; memory independent of |J| * depth.

High-order problems (``partials``) and gradient-enhanced PINNs (``laplacian_gradient``)
use the jet read-offs of ``estimators.taylor``; the jets themselves are ``estimators.jets``.
"""

from __future__ import annotations

import jax

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.gpinn_pairs import stde_laplacian_gradient
from estimators.jets import directional_derivative, taylor_mode
from estimators.sampling import sampled_tangents
from estimators.taylor import stde_partials


@register("stde-jax")
@taylor_mode
class StdeJax(Estimator):
    """Sparse STDE: 2-jets with one-hot tangents over the sampled dimensions."""

    backend = "jax"
    operators = frozenset({"laplacian", "partials", "laplacian-gradient"})
    stochastic = True

    def laplacian(self, f, x, key=None):
        x = jax_point(self, x)
        tangents, scale = sampled_tangents(key, x, self.samples)
        second = jax.vmap(lambda v: directional_derivative(f, x, v, 2))(tangents)
        return scale * second.sum()

    def partials(self, f, x, alphas, key=None):
        return stde_partials(f, jax_point(self, x, "partials"), alphas)

    def laplacian_gradient(self, f, x, key=None):
        x = jax_point(self, x, "laplacian-gradient")
        return stde_laplacian_gradient(f, x, key, self.samples)
