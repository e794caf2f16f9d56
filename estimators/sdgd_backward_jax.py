r"""sdgd-backward-jax: SDGD with a sequential scan of reverse-over-reverse HVPs
(docs/protocol.md §3.1).

Stochastic Dimension Gradient Descent (Hu et al. 2023; STDE paper Sec. 3, Table 3).  With
J drawn uniformly without replacement (``estimators.sampling.index_set``),

    Delta f(x)  ~=  (d / |J|) * sum_{i in J} e_i^T H(x) e_i,
    e_i^T H e_i  =  e_i . grad_x (grad f(x) . e_i)          (reverse-over-reverse HVP),

computed one i at a time under ``lax.scan``.  Unbiased; exact for ``samples >= d``.

Cost: |J| HVPs, each one backward pass through a backward pass (about 4-5 forward
passes), run sequentially; memory of one HVP at a time when evaluated, O(|J|) stored
residuals when differentiated w.r.t. the parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.sampling import sampled_tangents


def diagonal_hvp(f, x: jax.Array, e: jax.Array) -> jax.Array:
    """e^T H(x) e by reverse-over-reverse: grad of (grad f . e), dotted with e."""
    return jnp.vdot(jax.grad(lambda y: jnp.vdot(jax.grad(f)(y), e))(x), e)


@register("sdgd-backward-jax")
class SdgdBackwardJax(Estimator):
    """SDGD Laplacian: ``lax.scan`` over the sampled dimensions of reverse-over-reverse HVPs."""

    backend = "jax"
    operators = frozenset({"laplacian"})
    stochastic = True
    cost_passes = 2  # HVPs: each tangent forward and back

    def laplacian(self, f, x, key=None):
        x = jax_point(self, x)
        tangents, scale = sampled_tangents(key, x, self.samples)
        _, diagonal = jax.lax.scan(lambda c, e: (c, diagonal_hvp(f, x, e)), None, tangents)
        return scale * diagonal.sum()
