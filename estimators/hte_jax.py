r"""hte-jax: dense STDE, i.e. Hutchinson trace estimation with Taylor jets
(docs/protocol.md §3.3, 1.5).

Jet convention (``estimators.jets``, derivative coefficients): along the curve
x(t) = x + t v, the k-jet with tangents (v, 0, ..., 0) returns, as its k-th output,

    d^k f(x; v, 0, ..., 0) = d^k/dt^k f(x + t v) |_{t=0} = D^k f(x)[v, ..., v].

Laplacian (paper Sec. 4.2, Hutchinson).  Rademacher v (E[v v^T] = I):

    Delta f(x)  ~=  (1/|V|) sum_{v in V} d^2 f(x; v, 0)  =  mean of v^T H v     (no factor d),

unbiased, with variance  2 sum_{i != j} H_ij^2 / |V|  (never exact, whatever |V|).

Biharmonic (paper App. J.3, corrected).  Gaussian v ~ N(0, I); Isserlis gives
E[v_i v_j v_k v_l] = d_ij d_kl + d_ik d_jl + d_il d_jk, so with T = D^4 f(x) symmetric
E[T(v, v, v, v)] = 3 sum_{i,j} T_iijj = 3 Delta^2 f(x), hence

    Delta^2 f(x)  ~=  (1 / (3 |V|)) sum_{v in V} d^4 f(x; v, 0, 0, 0).

(The paper's printed estimator carries a spurious factor d; tests prove the 1/3.)

Cost: |V| = ``samples`` jets (order 2, resp. 4) with dense tangents, each a small multiple
of one forward pass; independent of d beyond the forward pass itself; no backward pass.
Every call draws fresh directions from ``key`` (vmapped points sharing a key share them).
"""

from __future__ import annotations

import jax

from estimators import register
from estimators._checks import jax_point, need_key
from estimators.base import Estimator
from estimators.jets import directional_derivative, taylor_mode


@register("hte-jax")
@taylor_mode
class HteJax(Estimator):
    """Dense STDE: Rademacher 2-jets (Laplacian), Gaussian 4-jets / 3 (biharmonic)."""

    backend = "jax"
    operators = frozenset({"laplacian", "biharmonic"})
    stochastic = True
    exact_with_all_samples = False

    def laplacian(self, f, x, key=None):
        x = jax_point(self, x)
        need_key(self, key)
        v = jax.random.rademacher(key, (self.samples, x.shape[-1]), dtype=x.dtype)
        return jax.vmap(lambda v: directional_derivative(f, x, v, 2))(v).mean()

    def biharmonic(self, f, x, key=None):
        x = jax_point(self, x, "biharmonic")
        need_key(self, key)
        v = jax.random.normal(key, (self.samples, x.shape[-1]), dtype=x.dtype)
        return jax.vmap(lambda v: directional_derivative(f, x, v, 4))(v).mean() / 3
