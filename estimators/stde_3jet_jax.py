r"""stde-3jet-jax: ours -- stde-jax's gPINN estimate from three 3-jets instead of one 7-jet.

stde-jax reads ``u_j, u_ii, u_iij`` of a sampled pair (i, j) off one 7-jet with e_i in
slot 2 and e_j in slot 3 (``estimators.gpinn_pairs.gradient_jet_pair``).  The same three numbers
come from jets of order 3 along v = e_j, e_i + e_j, e_i - e_j: by the binomial theorem
D^k f[v^k] = sum_a C(k, a) c_i^a c_j^(k-a) d_i^a d_j^(k-a) f, so (``polar_weights``,
derived in exact arithmetic)

    u_ii  = (D^2 f[(e_i+e_j)^2] + D^2 f[(e_i-e_j)^2]) / 2 - D^2 f[e_j^2]
    u_iij = (D^3 f[(e_i+e_j)^3] - D^3 f[(e_i-e_j)^3]) / 6 - D^3 f[e_j^3] / 3
    u_j   = D^1 f[e_j].

The pairs and the assembly are stde-jax's (``laplacian_gradient_from_pairs``), so for the
same key both return the same estimate up to rounding (tested): unbiased Laplacian and
d_j Laplacian, exact gradient entries, exact for ``samples >= d``.

Cost per pair: three 3-jets (each propagates 4 series terms) against one 7-jet (8 terms,
and tanh's series rule is quadratic in the order); forward-only, like stde-jax.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.gpinn_pairs import laplacian_gradient_from_pairs
from estimators.jets import taylor_mode
from estimators.polar import polar_jet_pair


@register("stde-3jet-jax")
@taylor_mode
class Stde3JetJax(Estimator):
    """Ours: the gPINN quantities of stde-jax's sampled pairs from three 3-jets each."""

    backend = "jax"
    operators = frozenset({"laplacian-gradient"})
    stochastic = True

    def laplacian_gradient(self, f, x, key=None):
        x = jax_point(self, x, "laplacian-gradient")
        return laplacian_gradient_from_pairs(polar_jet_pair, f, x, key, self.samples)
