r"""EXAMPLE plugin, not a method of the suite: a central finite-difference Laplacian.

It shows how a package outside stde-bench adds an estimator (see README.md here); its
numbers are not part of any comparison.  For f: R^d -> R, step h and unit vectors e_i,

    Delta f(x) ~= sum_i [f(x + h e_i) - 2 f(x) + f(x - h e_i)] / h^2,

whose truncation error is (h^2 / 12) sum_i d^4 f / dx_i^4 (xi) = O(h^2) (Taylor's theorem
to fourth order; the odd terms cancel).  Rounding adds about 4 eps |f| / h^2 per term;
balancing the two gives h ~ eps^(1/4) (eps of x's dtype), the default step.  Cost: 2d + 1
evaluations of f, deterministic (``samples`` and ``key`` are ignored).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from estimators.base import Estimator


@dataclasses.dataclass(frozen=True)
class FiniteDifferenceLaplacian(Estimator):
    """Central finite differences along the d coordinates (JAX, one point).

    ``step``: h (None: eps^(1/4) of x's dtype).  The id comes from the registration
    (the entry point's name, or ``"fd_laplacian_example:FiniteDifferenceLaplacian"``).
    """

    step: float | None = None

    backend = "jax"
    operators = frozenset({"laplacian"})
    stochastic = False

    def laplacian(self, f, x, key=None):
        """Delta f(x) for ``f: (d,) -> scalar`` and ``x: (d,)``; a scalar."""
        x = jnp.asarray(x)
        h = self.step if self.step is not None else jnp.finfo(x.dtype).eps ** 0.25
        shifts = h * jnp.eye(x.shape[-1], dtype=x.dtype)  # row i: h e_i
        second = jax.vmap(f)(x + shifts) + jax.vmap(f)(x - shifts) - 2 * f(x)  # (d,)
        return jnp.sum(second) / h**2
