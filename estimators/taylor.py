r"""Jet read-offs: several mixed partials from ONE univariate jet (docs/protocol.md §3.4).

Faa di Bruno in JAX's derivative convention
-------------------------------------------
Put tangent ``v_s`` in slot ``s`` of a K-jet, i.e. push the curve
``x(t) = x + sum_s v_s t^s / s!`` (``estimators.jets``, (1)).  Its k-th output
``y_k = d^k/dt^k f(x(t))|_0`` is the sum over set partitions of ``{1, ..., k}`` of
``d^r f[v_{|B_1|}, ..., v_{|B_r|}]`` (``estimators.jets``, (2)).  Grouping
the set partitions by block sizes: a choice of counts ``b_s`` (``b_s`` blocks of size
``s``, ``sum_s b_s s = k``) is realised by

    k! / prod_s (s!^{b_s} b_s!)                                                        (FdB)

set partitions (order the k elements, cut them into blocks; blocks of equal size are
unordered, elements inside a block too).  So, with only the slots ``s in P`` occupied,

    y_k = sum_{b >= 0, sum_s b_s s = k}  k! / prod_s (s!^{b_s} b_s!) *
          d^{|b|} f[v_s repeated b_s times, s in P].

With ``v_s = e_{c(s)}`` (one coordinate per slot) each term is the mixed partial
``d^beta f`` with ``beta_c = b_{s(c)}``.  If the solution ``b`` of ``sum_s b_s s = k`` is
unique, ``y_k`` is a single partial times the coefficient (FdB): a *read-off*.
``faa_di_bruno_terms`` enumerates the terms and ``readoff_coefficient`` refuses a
non-unique read-off, so no coefficient in this project is typed in by hand.

Examples (each proven against nested autodiff in ``tests/estimators/test_high_order.py``):
the 7-jet with ``e_i`` in slot 2 and ``e_j`` in slot 3 (``j`` may equal ``i``):

    y_3 = d_j f          (3 = 3:        3!/3!                   = 1)
    y_4 = 3 d_ii f       (4 = 2+2:      4!/(2!^2 2!)            = 3)
    y_5 = 10 d_ij f      (5 = 2+3:      5!/(2! 3!)              = 10)
    y_6 = 15 d_iii f + 10 d_jj f   (two terms: not a read-off)
    y_7 = 105 d_iij f    (7 = 2+2+3:    7!/(2!^2 2! 3!)         = 105)

Slot planner (``slot_plan``)
----------------------------
For a list of multi-indices (the partials a residual needs), choose groups and, per group,
one slot per coordinate such that every member is a unique read-off of the group's jet;
a group costs one jet of order ``K`` = its highest read-off order.  The planner searches
slots ``1..MAX_JET_ORDER`` exhaustively and covers the alphas by groups minimising
``sum (K + 1)`` (a K-jet propagates K + 1 series terms).  A partial that has no unique
read-off within ``MAX_JET_ORDER`` (e.g. ``u_xyt``, ``u_xxttt``) falls back to the GUW
interpolation of ``estimators.partial``, whose jets join the same plan; groups span at
most 4 coordinates, and above 10 distinct multi-indices each gets its own jet (the cover
search is 3^n).  The plan is an ``estimators.jets.JetPlan`` (read-off weight
``1 / coefficient``), cached per tuple of alphas (trace time only) and pushed by
``estimators.jets.run_plan``, which vmaps the jets of equal order.

Derived plans (tested): kdv-2d -> a 5-jet (e_y slot 2, e_t slot 3: u_yy = y_4/3,
u_ty = y_5/10) and an 11-jet (e_x slot 2, e_y slot 5: u_x = y_2, u_xx = y_4/3, u_y = y_5,
u_xy = y_7/21, u_xxxy = y_11/6930).

gPINN pairs: ``estimators.gpinn_pairs``; their 3-jet form: ``estimators.polar``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import permutations

import jax
import jax.numpy as jnp

from estimators.jets import JetPlan, SlotJet, run_plan
from estimators.partial import interpolation_plan, multi_index

__all__ = [
    "MAX_JET_ORDER",
    "faa_di_bruno_terms",
    "readoff_coefficient",
    "slot_plan",
    "stde_partials",
]

#: Highest jet order (and slot) the planner considers.
MAX_JET_ORDER = 16
#: Above this many distinct multi-indices the planner stops searching groups (2^n subsets)
#: and gives every partial its own jet.
_MAX_GROUPED = 10


# --- Faa di Bruno -----------------------------------------------------------------------
def _count_vectors(order: int, slots: tuple[int, ...]):
    """All ``b`` (one count per slot) with ``sum_l b_l slots_l = order``."""
    if not slots:
        if order == 0:
            yield ()
        return
    first, rest = slots[0], slots[1:]
    for b in range(order // first + 1):
        for tail in _count_vectors(order - b * first, rest):
            yield (b, *tail)


def _fdb_coefficient(order: int, slots: tuple[int, ...], counts: tuple[int, ...]) -> int:
    denominator = 1
    for s, b in zip(slots, counts, strict=True):
        denominator *= math.factorial(s) ** b * math.factorial(b)
    coefficient, remainder = divmod(math.factorial(order), denominator)
    assert remainder == 0, "Faa di Bruno multiplicities are integers"
    return coefficient


@functools.cache
def faa_di_bruno_terms(
    order: int, slots: tuple[int, ...]
) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The terms of ``y_order`` for a jet with distinct occupied ``slots``.

    Each term is ``(counts, coefficient)``: ``counts[l]`` copies of the slot-``slots[l]``
    tangent, weighted by ``order! / prod (slots_l!^counts_l counts_l!)`` (FdB).
    """
    slots = tuple(int(s) for s in slots)
    if len(set(slots)) != len(slots) or min(slots, default=1) < 1:
        raise ValueError(f"slots must be distinct positive ints, got {slots!r}")
    return tuple(
        (counts, _fdb_coefficient(order, slots, counts)) for counts in _count_vectors(order, slots)
    )


def readoff_coefficient(order: int, slots: Sequence[int], counts: Sequence[int]) -> int:
    """The coefficient ``c`` in ``y_order = c * d^counts f[slot tangents]``.

    ValueError unless ``counts`` is the only term of ``y_order`` (a true read-off).
    """
    slots, counts = tuple(slots), tuple(counts)
    terms = faa_di_bruno_terms(order, slots)
    if [c for c, _ in terms] != [counts]:
        raise ValueError(
            f"y_{order} of the jet with slots {slots} is not a single read-off of counts "
            f"{counts}: its terms are {terms}"
        )
    return terms[0][1]


# --- the slot planner -------------------------------------------------------------------
def _feasible_groups(unique: list[tuple[int, ...]], dim: int):
    """``{mask: (K, slots, coords)}``: every group of ``unique`` (a bitmask over it) that
    ONE jet reads off entirely, with the lowest order K such a jet can have.

    A group's jet carries one coordinate per slot, for the union ``coords`` of the
    members' supports.  For each injective choice of slots, member ``b`` appears in
    output ``k_b = sum_c alpha_c slot_c``, and is a read-off iff ``k_b`` has exactly one
    decomposition into the slots (counted by coin change), i.e. (FdB) has one term.
    """
    n = len(unique)
    supports = [frozenset(c for c in range(dim) if a[c]) for a in unique]
    by_support: dict[tuple[int, ...], list[int]] = {}
    masks = range(1, 2**n) if n <= _MAX_GROUPED else [1 << b for b in range(n)]
    for mask in masks:
        coords = frozenset().union(*(supports[b] for b in range(n) if mask >> b & 1))
        by_support.setdefault(tuple(sorted(coords)), []).append(mask)
    best: dict[int, tuple[int, tuple[int, ...], tuple[int, ...]]] = {}
    for coords, group_masks in by_support.items():
        if len(coords) > 4:  # 16^5 slot choices: leave such partials to GUW
            continue
        members = [b for b in range(n) if supports[b] <= set(coords)]
        for slots in permutations(range(1, MAX_JET_ORDER + 1), len(coords)):
            orders = {
                b: sum(unique[b][c] * s for c, s in zip(coords, slots, strict=True))
                for b in members
            }
            top = max(orders.values())
            ways = [1] + [0] * top  # coin change: number of count vectors per order
            for s in slots:
                for v in range(s, top + 1):
                    ways[v] += ways[v - s]
            ok = sum(1 << b for b, k in orders.items() if k <= MAX_JET_ORDER and ways[k] == 1)
            for mask in group_masks:
                if mask & ~ok:
                    continue
                order = max(orders[b] for b in range(n) if mask >> b & 1)
                if mask not in best or order < best[mask][0]:
                    best[mask] = (order, slots, coords)
    return best


@functools.lru_cache(maxsize=256)
def _slot_plan(alphas: tuple[tuple[int, ...], ...], dim: int) -> JetPlan:
    value_rows = tuple(r for r, a in enumerate(alphas) if sum(a) == 0)
    unique = list(dict.fromkeys(a for a in alphas if sum(a) > 0))
    best = _feasible_groups(unique, dim)
    guw = [b for b in range(len(unique)) if (1 << b) not in best]
    todo = sum(1 << b for b in range(len(unique)) if b not in guw)
    # Which partials share a jet: an exact subset dynamic program over set partitions.
    # State: a set S of partials (bitmask, S within ``todo``).  cover[S] = (cost, groups)
    # is the cheapest partition of S into feasible groups (``best``: one jet reads off the
    # whole group), the cost being the series terms pushed, sum (K + 1) over the jets.
    # Recurrence: the group G holding the lowest member of S is a feasible subset of S
    # containing it, so  cover[S] = min_G cost(G) + cover[S \ G].  Fixing the lowest
    # member visits each partition once (not once per ordering of its groups); S \ G < S
    # numerically, so cover[S \ G] is final when masks are visited in increasing order,
    # and every singleton in ``todo`` is feasible, so cover[S] always exists.  Partitions
    # lose nothing against overlapping covers: a subset of a feasible group is feasible
    # with the same slots at no higher order (fewer slots, no new decompositions).
    # Work: sum over S of 2^|S| sub-masks = 3^n, hence _MAX_GROUPED.
    cover: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    if len(unique) > _MAX_GROUPED:  # too many for the 3^n search: one jet per partial
        singles = tuple(1 << b for b in range(len(unique)) if b not in guw)
        cover[todo] = (sum(best[m][0] + 1 for m in singles), singles)
    else:
        for mask in range(1, todo + 1):
            if mask & ~todo:
                continue
            lowest = mask & -mask
            options = []
            group = mask
            while group:  # every sub-mask of mask
                if group & lowest and group in best:
                    rest_cost, rest = cover[mask ^ group]
                    options.append((best[group][0] + 1 + rest_cost, (group, *rest)))
                group = (group - 1) & mask
            cover[mask] = min(options)
    jets = []
    for group in cover[todo][1]:
        order, slots, coords = best[group]
        readouts = []
        for b in range(len(unique)):
            if not group >> b & 1:
                continue
            counts = tuple(unique[b][c] for c in coords)
            k = sum(c * s for c, s in zip(counts, slots, strict=True))
            weight = Fraction(1, readoff_coefficient(k, slots, counts))
            readouts += [(r, k, weight) for r, a in enumerate(alphas) if a == unique[b]]
        tangents = tuple(
            (s, tuple(int(c == coord) for c in range(dim)))
            for coord, s in zip(coords, slots, strict=True)
        )
        jets.append(SlotJet(order, tangents, tuple(readouts)))
    jets.sort(key=lambda j: j.order)
    # partials without a unique read-off: the GUW jets, merged into the same plan
    fallback = [r for r, a in enumerate(alphas) if a in {unique[b] for b in guw}]
    if fallback:
        guw_plan = interpolation_plan([alphas[r] for r in fallback], dim)
        jets += guw_plan.renumbered(fallback)
    return JetPlan(len(alphas), tuple(jets), value_rows)


def slot_plan(alphas: Sequence, dim: int) -> JetPlan:
    """The (cached) jets, slots and read-off weights ``1 / coefficient`` for ``alphas``
    (GUW interpolation jets for those without a read-off)."""
    return _slot_plan(tuple(multi_index(a, dim) for a in alphas), dim)


def stde_partials(f, x: jax.Array, alphas: Sequence) -> jax.Array:
    """Exact ``[d^alpha f(x) for alpha in alphas]`` from grouped slot jets (see module doc).

    Jets of equal order are vmapped; partials with no unique read-off up to
    ``MAX_JET_ORDER`` use the GUW interpolation; order 0 gives ``f(x)``.
    """
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one point of shape (d,), got shape {x.shape}")
    alphas = list(alphas)
    if not alphas:
        raise ValueError("stde_partials needs at least one multi-index")
    return run_plan(f, x, slot_plan(alphas, x.shape[0]))
