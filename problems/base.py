"""The problem interface, written down once.

A problem is a PDE ``L u = f`` (or ``u_t = L u``) with everything a training run needs:
exact solution ``u*``, analytic forcing ``f = L u*`` (O(d) per point), the residual as a
function of derivative quantities, which quantity that is (``operator``), a domain sampler,
the boundary treatment and a fixed test set.

Conventions
-----------
- ``z`` is one input point: shape ``(d,)``, or ``(d+1,)`` with time last for
  time-dependent problems (``time_dependent = True``); ``input_dim`` is its length.
- JAX backend (``backend="jax"``): ``exact(z)``, ``forcing(z)`` take one point and return a
  scalar; they are jit- and vmap-compatible.  ``sample_domain(key, n) -> (n, input_dim)``.
- PyTorch backend (``backend="torch"``): the same names take batches ``(N, input_dim) ->
  (N,)``; ``sample_domain(generator, n) -> (N, input_dim)`` with a ``torch.Generator``.
- ``operator`` names the derivative quantity the residual needs, one of ``OPERATORS``:
  ``"laplacian"`` (scalar), ``"biharmonic"`` (scalar), ``"partials"`` (a vector, one entry
  per multi-index in ``alphas``), ``"laplacian-gradient"`` (an
  ``estimators.base.LaplacianGradient``).  An estimator that cannot supply it is refused.
- ``residual(u, z, estimate)``: ``u`` is the full model as a function of one point (JAX)
  or of a batch (torch); ``estimate(g, x)`` returns the problem's quantity for a function
  ``g`` at ``x`` (the harness binds it to an estimator and the step's random key, so all
  points of a step share one sampled index set).  It returns the residual ``R(z)`` (a
  scalar; ``(N,)`` in torch) or, for gradient-enhanced problems, a tuple of arrays.
- ``loss(r1, r2=None)``: the residual loss from the residuals of one batch; with ``r2``
  (residuals from independent randomness) the unbiased product form ``mean(r1 * r2)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

OPERATORS = ("laplacian", "biharmonic", "partials", "laplacian-gradient")
BACKENDS = ("jax", "torch")


@dataclasses.dataclass(frozen=True)
class Problem:
    """Base class: a concrete problem sets the class variables and implements the methods.

    Instances are immutable; coefficients are derived from ``seed`` in ``__post_init__``
    (same seed, same problem, on any machine and in both backends).
    """

    name: str
    dim: int
    seed: int = 0
    backend: str = "jax"

    operator: ClassVar[str] = "laplacian"
    time_dependent: ClassVar[bool] = False
    #: "l2_rel" (relative L2 over the test set) or "l1_rel_at_point" (semilinear problems)
    error_metric: ClassVar[str] = "l2_rel"
    #: names accepted by ``sample_domain(..., sampler=...)``; the first is the default
    samplers: ClassVar[tuple[str, ...]] = ("radius-uniform", "volume-uniform")

    @property
    def input_dim(self) -> int:
        """Length of one input point: ``dim``, plus one for time."""
        return self.dim + int(self.time_dependent)

    @property
    def alphas(self) -> tuple[tuple[int, ...], ...]:
        """Multi-indices (each of length ``input_dim``) for ``operator == "partials"``."""
        return ()

    # --- to implement -------------------------------------------------------------
    def exact(self, z: Any) -> Any:
        """Exact solution u*(z)."""
        raise NotImplementedError

    def forcing(self, z: Any) -> Any:
        """Forcing f(z) = L u*(z), analytic, O(d) per point."""
        raise NotImplementedError

    def sample_domain(self, key: Any, n: int, *, sampler: str | None = None) -> Any:
        """``n`` residual points, shape ``(n, input_dim)``."""
        raise NotImplementedError

    def test_set(self, n: int | None = None) -> tuple[Any, Any]:
        """Fixed test points ``(M, input_dim)`` and reference values ``(M,)``; ``n`` points
        (a problem's default when None; problems with a single test point ignore it)."""
        raise NotImplementedError

    def ansatz(self, nn_value: Any, z: Any) -> Any:
        """Boundary treatment: the model value from the raw network value at ``z``.

        Default: no hard constraint (identity).  Ball problems return
        ``(1 - |x|^2) * nn_value``.
        """
        return nn_value

    def residual(self, u: Any, z: Any, estimate: Any) -> Any:
        """Residual R(z) from the model ``u`` and the derivative ``estimate``."""
        raise NotImplementedError

    def loss(self, r1: Any, r2: Any = None) -> Any:
        """Paper's biased loss ``mean(r1**2)``; unbiased ``mean(r1*r2)`` when ``r2`` is given."""
        return (r1 * r1).mean() if r2 is None else (r1 * r2).mean()

    def extra_loss(self, u: Any, key: Any) -> Any:
        """Soft boundary or other terms that need no estimated derivative (default 0.0)."""
        return 0.0
