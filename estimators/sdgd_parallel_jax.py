r"""sdgd-parallel-jax: SDGD with the sampled reverse-over-reverse HVPs under vmap
(docs/protocol.md §3.1).

The same estimate as ``sdgd-backward-jax``,

    Delta f(x)  ~=  (d / |J|) * sum_{i in J} e_i^T H(x) e_i,

with the |J| HVPs batched by ``jax.vmap`` instead of scanned.  Unbiased; exact for
``samples >= d``; the same key gives the same J, hence the same estimate.

Cost: |J| reverse-over-reverse HVPs in one batched pass (the same FLOPs as the scan);
memory O(|J|) copies of the backward-of-backward activations.
"""

from __future__ import annotations

import jax

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.sampling import sampled_tangents
from estimators.sdgd_backward_jax import diagonal_hvp


@register("sdgd-parallel-jax")
class SdgdParallelJax(Estimator):
    """SDGD Laplacian: the sampled reverse-over-reverse HVPs batched with vmap."""

    backend = "jax"
    operators = frozenset({"laplacian"})
    stochastic = True
    cost_passes = 2  # HVPs: each tangent forward and back

    def laplacian(self, f, x, key=None):
        x = jax_point(self, x)
        tangents, scale = sampled_tangents(key, x, self.samples)
        return scale * jax.vmap(lambda e: diagonal_hvp(f, x, e))(tangents).sum()
