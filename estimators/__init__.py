"""Registry of derivative estimators: ``estimators.names()``, ``estimators.get(name, **options)``.

One file per method; each registers itself with ``@register("<id>")``.  Importing this
package imports JAX (the JAX estimators' modules) but never torch: the PyTorch estimator
imports torch when it is used.

``estimators.partial(f, x, alpha)`` is the exact mixed partial of any order from
univariate Taylor mode (see ``estimators/partial.py``).
"""

from __future__ import annotations

from stde_core import Registry, configure_xla_cpu

configure_xla_cpu()  # before JAX starts its backend (stde_core/xla.py)

from estimators.base import Estimator, LaplacianGradient, check_estimator  # noqa: E402

# Plugins: entry points of the group below, or ``module:attribute`` (stde_core/registry.py).
REGISTRY: Registry[Estimator] = Registry(
    "estimator", names_class=True, group="stde_bench.estimators", check=check_estimator
)
register = REGISTRY.register


def names() -> list[str]:
    """All registered estimator ids."""
    return REGISTRY.names()


def get(name: str, **options) -> Estimator:
    """The estimator ``name`` built with ``options`` (e.g. ``samples=16``); ``name`` is an
    id of ``names()`` or a plugin's ``"module:attribute"``.

    ValueError for an unknown name (listing the valid ones) or a bad option.
    """
    factory = REGISTRY.factory(name)
    try:
        return factory(**options)
    except TypeError as err:
        raise ValueError(f"bad options for estimator {name!r}: {err}") from None


def supporting(operator: str) -> list[str]:
    """Ids of the estimators that can supply ``operator`` (a plugin that fails to load is
    left out here: looking it up names what is wrong with it)."""
    able = []
    for n in names():
        try:
            if operator in REGISTRY.factory(n).operators:
                able.append(n)
        except ValueError:
            continue
    return able


# One module per estimator: importing it registers it (in the paper's order).
# isort: off
from estimators import sdgd_backward_torch  # noqa: E402, F401
from estimators import sdgd_backward_jax  # noqa: E402, F401
from estimators import sdgd_parallel_jax  # noqa: E402, F401
from estimators import sdgd_fwd_over_bwd_jax  # noqa: E402, F401
from estimators import forward_laplacian_jax  # noqa: E402, F401
from estimators import stde_jax  # noqa: E402, F401
from estimators import hte_jax  # noqa: E402, F401
from estimators import exact_jax  # noqa: E402, F401
from estimators import backward_jax  # noqa: E402, F401
from estimators import stde_star_jax  # noqa: E402, F401
from estimators import jvp_hvp_jax  # noqa: E402, F401
from estimators import stde_3jet_jax  # noqa: E402, F401
from estimators import primal_jax  # noqa: E402, F401
from estimators import sdgd_parallel_torch  # noqa: E402, F401
from estimators import stde_torch  # noqa: E402, F401
from estimators import hte_torch  # noqa: E402, F401

# isort: on
from estimators.partial import partial, partials  # noqa: E402

__all__ = [
    "Estimator",
    "LaplacianGradient",
    "REGISTRY",
    "get",
    "names",
    "partial",
    "partials",
    "register",
    "supporting",
]
