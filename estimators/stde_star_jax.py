r"""stde-star-jax: the paper's "STDE*" -- mixed partials from LOWER-order jets (Table 11).

Where stde-jax reads a mixed partial such as ``u_xxxy`` off one high-order jet with
sparse slots (e.g. an 11-jet with ``e_x`` in slot 2 and ``e_y`` in slot 5, coefficient
11!/(2!^3 3! 5!) = 6930; see ``estimators.taylor``), STDE* uses jets of order exactly
``k = |alpha|`` along dense integer combinations ``j = sum_c j_c e_c`` (``|j| = k``) of the
coordinates in the support of ``alpha`` and interpolates (Griewank-Utke-Walther, see
``estimators.partial``):

    d^alpha f(x) = sum_{|j| = k} gamma_{alpha j} / k! * d^k/dt^k f(x + t j) |_0.

For ``u_xxxy`` these are 4-jets along e_x, e_y, 3e_x + e_y, e_x + e_y, e_x + 3e_y
(gamma = -13/128, -3/128, 3/8, -9/32, 1/8 for j = (4,0), (0,4), (3,1), (2,2), (1,3);
(4,0) and (2,2) are pushed along the primitive (1,0), (1,1) and rescaled by 4^4, 2^4).
Jets along the same primitive direction are shared between partials (a 4-jet along e_x
also gives u_x, u_xx), and jets of equal order are vmapped.  Every coefficient is
computed in exact rational arithmetic and tested against nested autodiff.

Cost: for the KdV partials 7 jets (2 of order 2, 5 of order 4) instead of stde-jax's
2 jets of orders 5 and 11: more, cheaper jets.  Deterministic; ``key`` is ignored.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.jets import taylor_mode
from estimators.partial import partials as guw_partials


@register("stde-star-jax")
@taylor_mode
class StdeStarJax(Estimator):
    """STDE*: exact mixed partials from order-|alpha| jets with GUW interpolation."""

    backend = "jax"
    operators = frozenset({"partials"})
    stochastic = False

    def partials(self, f, x, alphas, key=None):
        return guw_partials(f, jax_point(self, x, "partials"), alphas)
