r"""sdgd-fwd-over-bwd-jax: SDGD with forward-over-reverse HVPs from one linearization.

docs/protocol.md §3.1.  ``jax.linearize(jax.grad(f), x)`` runs the gradient once and returns its
linear map v -> H(x) v (a JVP of the gradient: forward-over-reverse).  Pushing the sampled
one-hot tangents through it under vmap gives the rows H e_i; entry i of each is the
diagonal term, so

    Delta f(x)  ~=  (d / |J|) * sum_{i in J} (H(x) e_i)_i.

Unbiased; exact for ``samples >= d``; the same key gives the same J as the other SDGD
variants and ``stde-jax``.

Cost: one gradient (forward + backward) plus |J| JVPs of it (about 2-3 forward passes
each); memory the stored linearization plus |J| x d for the Hessian rows.
"""

from __future__ import annotations

import jax

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.sampling import sampled_tangents


@register("sdgd-fwd-over-bwd-jax")
class SdgdFwdOverBwdJax(Estimator):
    """SDGD Laplacian: linearize grad f once, vmap its JVP over e_i, read entry i."""

    backend = "jax"
    operators = frozenset({"laplacian"})
    stochastic = True
    cost_passes = 2  # HVPs: each tangent forward and back

    def laplacian(self, f, x, key=None):
        x = jax_point(self, x)
        tangents, scale = sampled_tangents(key, x, self.samples)
        _, hvp = jax.linearize(jax.grad(f), x)
        rows = jax.vmap(hvp)(tangents)  # (|J|, d): row k is H e_{J_k}
        return scale * (rows * tangents).sum()
