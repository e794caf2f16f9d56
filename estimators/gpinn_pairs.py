r"""gPINN (``stde_laplacian_gradient``)
-----------------------------------
Pairs ``(i_k, j_k)``, k = 1..K, K = min(samples, d): ``i`` is the sampled index set
``J`` of ``estimators.sampling.index_set`` (uniform without replacement) and ``j`` an
independent uniform draw of K coordinates without replacement (its own key, split from
the same key).  One 7-jet per pair gives ``u_j, u_ii, u_iij`` (read-offs above) and

    laplacian         = (d / K) sum_k u_{i_k i_k}     (unbiased: each i_k is uniform)
    grad_laplacian_k  = d * u_{i_k i_k j_k}           (E_i[d u_iij | j] = sum_i u_iij
                                                        = d_j Laplacian u, i indep. of j)
    grad_k            = u_{j_k}                        (exact)

With ``samples >= d`` everything is exact: ``i = j = (0, ..., d-1)``, the Laplacian sums
all ``u_ii`` and ``grad_laplacian_j = sum_i u_iij`` from all ``d^2`` pairs (d^2 jets:
meant for small d only).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from estimators.base import LaplacianGradient
from estimators.jets import slot_jet
from estimators.sampling import index_set, subset
from estimators.taylor import readoff_coefficient

#: The 7-jet (0, e_i, e_j, 0, 0, 0, 0): slots, order and the read-offs (k, counts (i, j)).
GRADIENT_JET = {
    "order": 7,
    "slots": (2, 3),
    "u_j": (3, (0, 1)),
    "u_ii": (4, (2, 0)),
    "u_iij": (7, (2, 1)),
}


def gradient_pairs(key, dim: int, samples: int):
    """``(i, j, exact)``: the K = min(samples, d) sampled pairs (see module doc).

    ``exact`` (samples >= d): ``i = j = arange(d)`` and no key is needed.
    """
    if samples >= dim:
        every = jnp.arange(dim)
        return every, every, True
    if key is None:
        raise ValueError(
            f"a PRNG key is needed to sample {samples} of {dim} dimensions; "
            "pass jax.random.key(seed)"
        )
    key_i, key_j = jax.random.split(key)
    i, _ = index_set(key_i, dim, samples)
    j = subset(key_j, dim, samples)
    return i, j, False


def gradient_jet_pair(f, x: jax.Array, i, j):
    """``(u_ii, u_iij, u_j)`` at x from ONE 7-jet with e_i in slot 2, e_j in slot 3."""
    order, slots = GRADIENT_JET["order"], GRADIENT_JET["slots"]
    e_i = jax.nn.one_hot(i, x.shape[0], dtype=x.dtype)
    e_j = jax.nn.one_hot(j, x.shape[0], dtype=x.dtype)
    y = slot_jet(f, x, {slots[0]: e_i, slots[1]: e_j}, order)
    read = lambda name: (
        y[GRADIENT_JET[name][0]]
        / readoff_coefficient(GRADIENT_JET[name][0], slots, GRADIENT_JET[name][1])
    )
    return read("u_ii"), read("u_iij"), read("u_j")


def laplacian_gradient_from_pairs(
    pair: Callable, f, x: jax.Array, key, samples: int
) -> LaplacianGradient:
    """Assemble the gPINN estimate from ``pair(f, x, i, j) -> (u_ii, u_iij, u_j)``.

    Shared by stde-jax (one 7-jet per pair) and jvp-hvp-jax (HVP diagonal and its JVP):
    with the same key both see the same pairs and so give the same estimate.
    """
    x = jnp.asarray(x)
    dim = x.shape[0]
    i, j, exact = gradient_pairs(key, dim, samples)
    if exact:
        grid = jax.vmap(jax.vmap(lambda a, b: pair(f, x, a, b), (None, 0)), (0, None))
        u_ii, u_iij, u_j = grid(i, j)  # (d, d): row i, column j
        return LaplacianGradient(
            laplacian=u_ii[:, 0].sum(),
            index=j,
            grad_laplacian=u_iij.sum(axis=0),
            grad=u_j[0],
        )
    u_ii, u_iij, u_j = jax.vmap(lambda a, b: pair(f, x, a, b))(i, j)
    return LaplacianGradient(
        laplacian=(dim / i.shape[0]) * u_ii.sum(),
        index=j,
        grad_laplacian=dim * u_iij,
        grad=u_j,
    )


def stde_laplacian_gradient(f, x: jax.Array, key, samples: int) -> LaplacianGradient:
    """The gPINN quantities from one 7-jet per sampled pair (docs/protocol.md §1.4, 3.4)."""
    return laplacian_gradient_from_pairs(gradient_jet_pair, f, x, key, samples)
