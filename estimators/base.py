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
from typing import Any, ClassVar, NamedTuple


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
