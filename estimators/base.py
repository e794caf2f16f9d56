"""The estimator interface, written down once.

An estimator supplies derivative quantities of a scalar function.  Class variables say
what it is: ``name``, ``backend`` (``"jax"`` or ``"torch"``), ``operators`` (the subset
of ``problems.OPERATORS`` it can supply) and ``stochastic``.  The one option shared by
all is ``samples``, the randomization batch |J| (default 16); ``samples >= d`` means every
dimension, and then a sampled estimator is exact.

JAX contract (one point; jit- and vmap-compatible; deterministic ones ignore ``key``):
- ``laplacian(f, x, key) -> scalar``      with ``f: (d,) -> scalar``, ``x: (d,)``
- ``biharmonic(f, x, key) -> scalar``
- ``partials(f, x, alphas, key) -> (len(alphas),)``   exact mixed partials d^alpha f(x)
- ``laplacian_gradient(f, x, key) -> LaplacianGradient``  (gradient-enhanced PINNs)

PyTorch contract (batches): ``laplacian(f, x, generator=None) -> (N,)`` with
``f: (N, d) -> (N,)`` and ``x: (N, d)``, differentiable w.r.t. the network parameters.

Asking for a quantity an estimator does not supply raises ValueError naming those that do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from stde_core import BACKENDS, OPERATORS


class LaplacianGradient(NamedTuple):
    """What a gradient-enhanced residual needs at one point, for K sampled directions j.

    laplacian:       scalar, estimate of  sum_i d^2 f / dx_i^2
    index:           (K,) int, the sampled coordinates j_k
    grad_laplacian:  (K,), unbiased estimate of  d/dx_{j_k} (Laplacian f)
    grad:            (K,), exact  d f / dx_{j_k}
    """

    laplacian: Any
    index: Any
    grad_laplacian: Any
    grad: Any


def unsupported(estimator: Estimator, operator: str) -> ValueError:
    """The error for an estimator asked for a quantity it cannot supply."""
    import estimators  # late import: the registry imports this module

    able = estimators.supporting(operator)
    return ValueError(
        f"estimator {estimator.name!r} cannot supply {operator!r} (it supplies: "
        f"{', '.join(sorted(estimator.operators)) or 'nothing'}). "
        f"Estimators that can: {', '.join(able) or 'none'}."
    )


@dataclasses.dataclass(frozen=True)
class Estimator:
    """Base class for every estimator; subclasses set the class variables.

    ``samples``: the randomization batch |J| (int >= 1).
    """

    samples: int = 16

    name: ClassVar[str] = ""  # set by the registry: @register("<id>")
    backend: ClassVar[str] = "jax"
    operators: ClassVar[frozenset[str]] = frozenset()
    stochastic: ClassVar[bool] = False
    #: computes through Taylor-mode jets (set by ``estimators.jets.taylor_mode``)
    uses_jets: ClassVar[bool] = False
    #: ``samples >= d`` gives the exact quantity (False for Hutchinson, never exact); what
    #: coordinate restriction needs: exact on f_J with all |J| coordinates (stde_bench.restrict)
    exact_with_all_samples: ClassVar[bool] = True
    #: the floor (``primal-jax``): supplies zeros, a reference for speed and memory only
    floor: ClassVar[bool] = False
    #: the largest dimension it is meant for (a dense reference: O(d^2) per point); None: any
    max_dim: ClassVar[int | None] = None
    #: what a step's cost model (``stde_bench.plan``) needs: the tangents it carries per
    #: point, ``"sampled"`` (one per sampled coordinate, |J|) or ``"dense"`` (all d, and d
    #: directions: the full operator), and the passes each tangent makes (2 for an HVP,
    #: which carries it forward and back)
    cost_tangents: ClassVar[str] = "sampled"
    cost_passes: ClassVar[int] = 1

    def __post_init__(self) -> None:
        s = self.samples
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ValueError(
                f"{self.name}: option samples must be an int >= 1 (the number of sampled "
                f"dimensions |J|), got {s!r}"
            )

    def supports(self, operator: str) -> bool:
        return operator in self.operators

    def require(self, operator: str) -> None:
        """Raise the clear ValueError unless ``operator`` is supplied."""
        if operator not in self.operators:
            raise unsupported(self, operator)

    # Default implementations refuse; subclasses override what they supply.
    def laplacian(self, f: Any, x: Any, key: Any = None) -> Any:
        raise unsupported(self, "laplacian")

    def biharmonic(self, f: Any, x: Any, key: Any = None) -> Any:
        raise unsupported(self, "biharmonic")

    def partials(self, f: Any, x: Any, alphas: Any, key: Any = None) -> Any:
        raise unsupported(self, "partials")

    def laplacian_gradient(self, f: Any, x: Any, key: Any = None) -> Any:
        raise unsupported(self, "laplacian-gradient")

    def quantity(self, operator: str):
        """The bound method that supplies ``operator`` (``"laplacian-gradient"`` ->
        ``laplacian_gradient``), after checking it is supported."""
        self.require(operator)
        return getattr(self, operator.replace("-", "_"))


# --- the plugin contract ------------------------------------------------------------
# Built-ins are covered by the test-suite, which is parameterized over the registries; a
# plugin is checked once, when it is loaded, on a tiny function at d = 3.

PROBE_DIM = 3
PROBE_ALPHAS = ((2, 0, 0), (1, 1, 0))  # two mixed partials of order 2


def check_estimator(factory: Callable[..., Any]) -> None:
    """An estimator plugin: ``backend`` and ``operators`` as the interface says
    (``estimators/base.py``), and each operator's output of the right shape on
    f(x) = Σ x_i² at d = 3 (scalars; ``(len(alphas),)`` for ``partials``)."""
    backend = getattr(factory, "backend", None)
    operators = getattr(factory, "operators", None)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(operators, set | frozenset) or not operators:
        raise ValueError(
            f"operators must be a non-empty frozenset of {', '.join(OPERATORS)}, got {operators!r}"
        )
    unknown = set(operators) - set(OPERATORS)
    if unknown:
        raise ValueError(f"unknown operators {sorted(unknown)}; valid: {', '.join(OPERATORS)}")
    estimator = factory()
    for operator in sorted(operators):
        got, want = _probe_shape(estimator, backend, operator)
        if got != want:
            raise ValueError(
                f"{operator} of a function (d,) -> scalar at d = {PROBE_DIM} has shape "
                f"{got}, expected {want} (see the contract in estimators/base.py)"
            )


def _probe_shape(estimator: Any, backend: str, operator: str) -> tuple[Any, Any]:
    """(shape returned, shape expected) of ``operator`` on a quadratic at d = 3."""
    if backend == "torch":
        import torch

        if operator != "laplacian":
            return "not checked", "not checked"  # the torch contract is the Laplacian
        x = torch.ones(2, PROBE_DIM, dtype=torch.float64)
        out = estimator.laplacian(lambda z: (z * z).sum(-1), x)
        return tuple(getattr(out, "shape", ())), (2,)

    import jax
    import jax.numpy as jnp

    f = lambda z: jnp.sum(z * z)
    x, key = jnp.linspace(0.1, 0.3, PROBE_DIM), jax.random.key(0)
    if operator == "partials":
        return jnp.shape(estimator.partials(f, x, PROBE_ALPHAS, key)), (len(PROBE_ALPHAS),)
    out = getattr(estimator, operator.replace("-", "_"))(f, x, key)
    if operator != "laplacian-gradient":
        return jnp.shape(out), ()
    if getattr(out, "_fields", None) != ("laplacian", "index", "grad_laplacian", "grad"):
        return type(out).__name__, "LaplacianGradient"
    k = jnp.shape(out.index)  # (K,): the sampled coordinates
    want = ((), k, k, k) if len(k) == 1 else ((), ("K",), ("K",), ("K",))
    return tuple(jnp.shape(v) for v in out), want
