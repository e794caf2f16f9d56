r"""Exact mixed partials of any order from univariate Taylor mode (``jax.experimental.jet``).

Jet convention (``estimators.jets``, checked in ``tests/estimators/test_partial.py``)
------------------------------------------------------------------------------------
The K-jet with the tangents ``(v, 0, ..., 0)`` returns ``f(x)`` and, as its k-th output
(derivative convention, not Taylor coefficients), the k-th directional derivative

    y_k(v) = d^k/dt^k f(x + t v) |_0 = sum_{|m| = k} k!/m! v^m d^m f(x),          (1)

multi-index notation: ``m! = prod m_c!``, ``v^m = prod v_c^{m_c}``.

Interpolation (Griewank, Utke, Walther, Math. Comp. 69 (2000), Sec. 3)
-----------------------------------------------------------------------
Let ``alpha`` have total order ``k = |alpha|`` and support ``S`` (its ``n`` non-zero
coordinates).  Restricted to ``S``, (1) for the directions ``j`` in ``N^n`` with
``|j| = k`` is a square linear system in the ``binom(n+k-1, k)`` partials of order ``k``
over ``S``; GUW give its inverse in closed form:

    d^alpha f(x) = sum_{|j| = k} gamma_{alpha j} / k! * y_k(j),                      (2)

    gamma_{alpha j} = sum_{0 < l <= alpha} (-1)^{|alpha - l|} binom(alpha, l)
                      binom(k l / |l|, j) (|l| / k)^k,

with multi-index binomials ``binom(a, b) = prod_c binom(a_c, b_c)`` and the generalized
binomial ``binom(r, q) = r (r-1) ... (r-q+1) / q!`` for rational ``r``.  Normalization
(derived and tested here, stated with both sides in derivative convention): for ``n = 1``,
``gamma = k! / k^k`` and (2) reads ``f^(k) = k^-k y_k(k)``, as it must.  The weights are
computed here in exact rational arithmetic (``fractions.Fraction``), and the test suite
checks the identity ``sum_j gamma_{alpha j} j^m = alpha! delta_{alpha m}`` exactly, which
is (1) + (2) with nothing left to trust.

Sharing.  A direction ``j = c p`` (``p`` primitive, ``c = gcd(j)``) gives
``y_k(j) = c^k y_k(p)``, and one K-jet along ``p`` returns ``y_1(p), ..., y_K(p)`` at
once.  The plan (an ``estimators.jets.JetPlan``) therefore holds one jet per distinct
primitive direction (of the highest order any requested partial needs along it, ``p`` in
slot 1) with the weights of (2); ``estimators.jets.run_plan`` pushes it, vmapping the jets
of equal order.  A function with a primitive that jet has no rule for raises
``estimators.jets.MissingJetRuleError`` naming it and the estimators that need no jets.

Cost: ``d^alpha f`` costs at most ``binom(n+k-1, k)`` k-jets (fewer after dropping zero
weights); no nested reverse mode.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import product

import jax
import jax.numpy as jnp
import numpy as np

from estimators.jets import JetPlan, SlotJet, names_missing_rules, run_plan

__all__ = [
    "guw_weights",
    "interpolation_plan",
    "multi_index",
    "partial",
    "partials",
]


def multi_index(alpha, dim: int) -> tuple[int, ...]:
    """``alpha`` as a tuple of ``dim`` non-negative ints; ValueError otherwise."""
    try:
        entries = tuple(alpha)
    except TypeError:
        raise ValueError(
            f"a multi-index must be a sequence of {dim} non-negative ints (one per input "
            f"coordinate), got {alpha!r}"
        ) from None
    if len(entries) != dim:
        raise ValueError(
            f"multi-index {entries!r} has length {len(entries)} but the input has "
            f"dimension {dim}: give one derivative count per coordinate"
        )
    out = []
    for a in entries:
        if isinstance(a, bool) or not isinstance(a, int | np.integer):
            raise ValueError(f"multi-index {entries!r}: entries must be ints, got {a!r}")
        if a < 0:
            raise ValueError(f"multi-index {entries!r}: entries must be >= 0, got {a}")
        out.append(int(a))
    return tuple(out)


def _generalized_binomial(r: Fraction, q: int) -> Fraction:
    out = Fraction(1)
    for s in range(q):
        out *= r - s
    return out / math.factorial(q)


def _compositions(total: int, parts: int):
    """All tuples of ``parts`` non-negative ints summing to ``total``."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


@functools.cache
def guw_weights(alpha: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], Fraction], ...]:
    """The non-zero ``(j, gamma_{alpha j})`` of (2), over the support of ``alpha``.

    ``alpha`` is a multi-index with no zero entry (already restricted to its support);
    ``j`` runs over the same coordinates with ``|j| = |alpha|``.  Then
    ``d^alpha f = sum_j gamma_{alpha j} / k! * y_k(j)``.
    """
    k = sum(alpha)
    if k == 0 or min(alpha) == 0:
        raise ValueError(f"guw_weights wants a multi-index without zeros, got {alpha!r}")
    out = []
    for j in _compositions(k, len(alpha)):
        gamma = Fraction(0)
        for ell in product(*(range(a + 1) for a in alpha)):
            size = sum(ell)
            if size == 0:
                continue
            term = Fraction((-1) ** (k - size))
            for a, b, jc in zip(alpha, ell, j, strict=True):
                term *= math.comb(a, b) * _generalized_binomial(Fraction(k * b, size), jc)
            gamma += term * Fraction(size, k) ** k
        if gamma != 0:
            out.append((j, gamma))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _plan(alphas: tuple[tuple[int, ...], ...], dim: int) -> JetPlan:
    # primitive direction p (over all dim coordinates) -> {(row, k): weight of y_k(p)}
    needs: dict[tuple[int, ...], dict[tuple[int, int], Fraction]] = {}
    value_rows = []
    for row, alpha in enumerate(alphas):
        k = sum(alpha)
        if k == 0:
            value_rows.append(row)
            continue
        support = [c for c in range(dim) if alpha[c]]
        for j_support, gamma in guw_weights(tuple(alpha[c] for c in support)):
            scale = math.gcd(*j_support)
            direction = [0] * dim
            for c, jc in zip(support, j_support, strict=True):
                direction[c] = jc // scale
            weights = needs.setdefault(tuple(direction), {})
            # y_k(c p) = c^k y_k(p)
            w = gamma * scale**k / math.factorial(k)
            weights[(row, k)] = weights.get((row, k), Fraction(0)) + w
    jets = tuple(
        SlotJet(
            order=max(k for _, k in weights),  # one jet along p serves every order up to it
            tangents=((1, direction),),
            readouts=tuple((row, k, w) for (row, k), w in weights.items()),
        )
        for direction, weights in needs.items()
    )
    return JetPlan(len(alphas), jets, tuple(value_rows))


def interpolation_plan(alphas: Sequence, dim: int) -> JetPlan:
    """The (cached) jets and weights (2) that give ``d^alpha f`` for every ``alpha``:
    one jet ``(p, 0, ..., 0)`` per primitive direction ``p``."""
    return _plan(tuple(multi_index(a, dim) for a in alphas), dim)


def _dim_of(x) -> int:
    shape = jnp.shape(x)
    if len(shape) != 1:
        raise ValueError(f"x must be one point of shape (d,), got shape {shape}")
    return shape[0]


@names_missing_rules("estimators.partials", "partials")
def partials(f, x: jax.Array, alphas: Sequence) -> jax.Array:
    """``[d^alpha f(x) for alpha in alphas]``, shape ``(len(alphas),)``, by GUW (2).

    ``f: (d,) -> scalar``; jets along shared primitive directions are pushed once.
    Order-0 multi-indices give ``f(x)``.
    """
    x = jnp.asarray(x)
    dim = _dim_of(x)
    alphas = list(alphas)
    if not alphas:
        raise ValueError("partials needs at least one multi-index")
    return run_plan(f, x, interpolation_plan(alphas, dim))


@names_missing_rules("estimators.partial", "partials")
def partial(f, x: jax.Array, alpha) -> jax.Array:
    """The exact mixed partial ``d^alpha f(x)`` from univariate Taylor mode.

    ``alpha``: one non-negative int per coordinate of ``x`` (any total order; order 0
    returns ``f(x)``).  ValueError for a wrong length, negative or non-int entries.
    """
    return partials(f, x, [alpha])[0]
