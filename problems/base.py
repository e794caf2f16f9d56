"""The problem interface, written down once, and what every problem family shares.

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
- Every formula is written once, for a batch: ``_exact_batch(xp, Z)`` and
  ``_forcing_batch(xp, Z)`` with ``xp`` the backend's array module (``problems._xp``);
  ``exact`` / ``forcing`` apply them in the backend's calling convention.
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
- ``ansatz(nn_value, z)``: the boundary treatment; ``restricted_ansatz(nn_value, rest, y)``
  the same at z with the spatial coordinates ``index`` replaced by ``y``, computed without
  forming that point from ``rest = restriction_rest(z, index)``, what it needs of z's other
  coordinates (coordinate restriction, ``stde_bench.restrict``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from problems._xp import namespace, pointwise, to_backend
from stde_core import BACKENDS, OPERATORS

#: numpy stream of the fixed test sets (coefficients use ``default_rng(seed)``)
#: numbers per chunk when computing reference values (``_test_values``)
TEST_CHUNK = 2**22
TEST_STREAM = 0x7E57


def check_backend(name: str, backend: str) -> None:
    """ValueError unless ``backend`` is one of ``BACKENDS``."""
    if backend not in BACKENDS:
        raise ValueError(f"{name}: unknown backend {backend!r}; valid backends: {BACKENDS}")


@dataclasses.dataclass(frozen=True)
class Problem:
    """Base class: a concrete problem sets the class variables and implements the methods.

    Instances are immutable; derived fields (``field(init=False)``) are set from the
    constructor's arguments in ``__post_init__`` (same seed, same problem, on any machine
    and in both backends).  ``_cache`` memoizes test sets and backend constants.
    """

    name: str
    dim: int
    seed: int = 0
    backend: str = "jax"
    _cache: dict = dataclasses.field(init=False, repr=False, compare=False)

    operator: ClassVar[str] = "laplacian"
    time_dependent: ClassVar[bool] = False
    #: "l2_rel" (relative L2 over the test set) or "l1_rel_at_point" (semilinear problems)
    error_metric: ClassVar[str] = "l2_rel"
    #: names accepted by ``sample_domain(..., sampler=...)``; the first is the default
    samplers: ClassVar[tuple[str, ...]] = ("radius-uniform", "volume-uniform")
    #: points in the default test set (docs/protocol.md §1.1: 20,000); ``test_set(n)`` overrides
    test_size: ClassVar[int] = 20_000

    def __post_init__(self) -> None:
        check_backend(self.name, self.backend)
        object.__setattr__(self, "_cache", {})

    @property
    def input_dim(self) -> int:
        """Length of one input point: ``dim``, plus one for time."""
        return self.dim + int(self.time_dependent)

    @property
    def alphas(self) -> tuple[tuple[int, ...], ...]:
        """Multi-indices (each of length ``input_dim``) for ``operator == "partials"``."""
        return ()

    @property
    def xp(self) -> Any:
        """The backend's array module (``jax.numpy`` or ``torch``)."""
        return namespace(self.backend)

    # --- formulas, written once for a batch ``(N, input_dim) -> (N,)`` --------------------
    def _exact_batch(self, xp: Any, z: Any) -> Any:
        raise NotImplementedError

    def _forcing_batch(self, xp: Any, z: Any) -> Any:
        raise NotImplementedError

    def exact(self, z: Any) -> Any:
        """Exact solution u*(z): JAX one point ``(D,) -> ()``; torch ``(N, D) -> (N,)``."""
        return pointwise(self.backend, self._exact_batch, z)

    def forcing(self, z: Any) -> Any:
        """Forcing f(z) = L u*(z), analytic, O(d) per point (shapes as ``exact``)."""
        return pointwise(self.backend, self._forcing_batch, z)

    # --- the fixed test set -------------------------------------------------------------
    def _test_points(self, n: int) -> np.ndarray:
        """``n`` fixed test points ``(n, input_dim)``, float64 numpy."""
        raise NotImplementedError

    def _test_values(self, points: np.ndarray) -> np.ndarray:
        """Reference values at the test points ``(M,)``: u* by default, in chunks of about
        ``TEST_CHUNK`` numbers (u* builds several ``(M, d)`` temporaries: 20,000 points at
        d = 10^4 would otherwise take 24 GB)."""
        rows = max(1, TEST_CHUNK // points.shape[1])
        chunks = [self._exact_batch(np, points[i : i + rows]) for i in range(0, len(points), rows)]
        return np.concatenate(chunks)

    def test_set(self, n: int | None = None) -> tuple[Any, Any]:
        """Fixed test points ``(M, input_dim)`` and reference values ``(M,)`` in the backend.

        ``n`` points (``test_size`` when None; problems with a single test point ignore
        it).  Built once per ``n`` and memoized.  Memory is n * d floats: at d = 10^6 ask
        for fewer points.
        """
        n = self.test_size if n is None else n
        key = ("test", n)
        if key not in self._cache:
            points = self._test_points(n)
            values = self._test_values(points)
            self._cache[key] = (to_backend(self.backend, points), to_backend(self.backend, values))
        return self._cache[key]

    # --- to implement -------------------------------------------------------------
    def sample_domain(self, key: Any, n: int, *, sampler: str | None = None) -> Any:
        """``n`` residual points, shape ``(n, input_dim)``."""
        raise NotImplementedError

    def ansatz(self, nn_value: Any, z: Any) -> Any:
        """Boundary treatment: the model value from the raw network value at ``z``.

        Default: no hard constraint (identity).  Ball problems return
        ``(1 - |x|^2) * nn_value``.
        """
        return nn_value

    def restriction_rest(self, z: Any, index: Any) -> Any:
        """What ``restricted_ansatz`` needs of z besides the coordinates ``index``: computed
        once per point, never per direction (inside f_J, a sequential estimator such as a scan
        of HVPs could redo an O(d) reduction in every step of its loop).

        ``z: (input_dim,)`` or ``(N, input_dim)``, ``index: (K,)`` int; JAX or torch.
        Ball problems: |z|^2 - |z_J|^2, ``()`` or ``(N,)``.  Default: 0 (nothing needed).
        """
        return 0.0

    def restricted_ansatz(self, nn_value: Any, rest: Any, y: Any) -> Any:
        """``ansatz`` at z with the spatial coordinates ``index`` replaced by ``y``, from
        ``rest = restriction_rest(z, index)``, without forming the replaced point (a d-sized
        array per direction): ball problems use |x|^2 = rest + |y|^2.

        ``y: (K,)`` or ``(N, K)``, ``nn_value`` the network's value there (``()`` or
        ``(N,)``).  A problem that overrides ``ansatz`` overrides this pair too.  Default:
        the identity, like ``ansatz``.
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


# --- the plugin contract; built-ins are covered by the tests ---------------------------


def check_problem(factory: Callable[..., Any]) -> None:
    """A problem plugin: a subclass of ``problems.Problem`` (built as
    ``factory(name=, dim=, seed=, backend=)``) whose ``operator`` is one of
    ``OPERATORS``.  Its methods are not probed: families set some of them per
    backend when an instance is built (see ``problems/base.py``)."""
    if not (isinstance(factory, type) and issubclass(factory, Problem)):
        raise ValueError(f"must be a subclass of problems.Problem, got {factory!r}")
    if factory.operator not in OPERATORS:
        raise ValueError(
            f"operator must be one of {', '.join(OPERATORS)}, got {factory.operator!r}"
        )
