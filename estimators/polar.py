r"""gPINN's three quantities from three 3-jets (ours): ``(u_ii, u_iij, u_j)`` along e_j,
e_i + e_j and e_i − e_j, with exact rational weights (``polar_weights``), instead of one
7-jet (``estimators.gpinn_pairs.gradient_jet_pair``)."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import jax
import jax.numpy as jnp

from estimators.jets import taylor_series

#: The directions v = c_i e_i + c_j e_j of the three 3-jets of ``polar_jet_pair``.
POLAR_DIRECTIONS = ((0, 1), (1, 1), (1, -1))


def _solve_exact(columns: list[list[Fraction]], target: list[Fraction]) -> list[Fraction]:
    """A solution w of ``sum_c w_c columns[c] = target`` in exact arithmetic (free unknowns
    0; Gauss-Jordan); ValueError if there is none."""
    rows = [[col[r] for col in columns] + [target[r]] for r in range(len(target))]
    pivots: list[int] = []
    for c in range(len(columns)):
        p = next((r for r in range(len(pivots), len(rows)) if rows[r][c] != 0), None)
        if p is None:
            continue
        top = len(pivots)
        rows[top], rows[p] = rows[p], rows[top]
        rows[top] = [v / rows[top][c] for v in rows[top]]
        for r in range(len(rows)):
            if r != top and rows[r][c] != 0:
                rows[r] = [a - rows[r][c] * b for a, b in zip(rows[r], rows[top], strict=True)]
        pivots.append(c)
    if any(row[-1] != 0 for row in rows[len(pivots) :]):
        raise ValueError(f"no combination of the directions gives {target}")
    w = [Fraction(0)] * len(columns)
    for r, c in enumerate(pivots):
        w[c] = rows[r][-1]
    return w


@functools.cache
def polar_weights(order: int, a: int) -> tuple[Fraction, ...]:
    """Weights w_v with ``sum_v w_v D^order f[v, ..., v] = d_i^a d_j^(order-a) f`` for the
    directions ``POLAR_DIRECTIONS`` (exact).  By the binomial theorem, for
    v = c_i e_i + c_j e_j,

        D^k f[v, ..., v] = sum_{a=0..k} C(k, a) c_i^a c_j^(k-a) d_i^a d_j^(k-a) f,

    a linear map from the k + 1 partials to the directions; e.g. order 3:
    w = (-1/3, 1/6, -1/6) for u_iij, order 2: (-1, 1/2, 1/2) for u_ii."""
    columns = [
        [Fraction(math.comb(order, b) * ci**b * cj ** (order - b)) for b in range(order + 1)]
        for ci, cj in POLAR_DIRECTIONS
    ]
    target = [Fraction(int(b == a)) for b in range(order + 1)]
    return tuple(_solve_exact(columns, target))


def polar_jet_pair(f, x: jax.Array, i, j):
    """``(u_ii, u_iij, u_j)`` at x from three 3-jets along e_j, e_i + e_j, e_i - e_j
    (``polar_weights``); also right for i = j (then e_i - e_j = 0 and e_i + e_j = 2 e_i).
    Same quantities as ``gradient_jet_pair``'s 7-jet, with jets of order 3."""
    e_i = jax.nn.one_hot(i, x.shape[0], dtype=x.dtype)
    e_j = jax.nn.one_hot(j, x.shape[0], dtype=x.dtype)
    v = jnp.stack([ci * e_i + cj * e_j for ci, cj in POLAR_DIRECTIONS])
    zeros = jnp.zeros_like(x)
    y = jax.vmap(lambda t: taylor_series(f, x, [t, zeros, zeros]))(v)  # (3, 4): D^k f[t^k]

    def read(order: int, a: int) -> jax.Array:
        w = jnp.asarray([float(c) for c in polar_weights(order, a)], dtype=x.dtype)
        return w @ y[:, order]

    return read(2, 2), read(3, 2), read(1, 0)
