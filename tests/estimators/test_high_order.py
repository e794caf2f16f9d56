"""Jet read-offs (docs/protocol.md §3.4) and every estimator that supplies ``"partials"``.

Each coefficient is derived in ``estimators.taylor`` from Faa di Bruno and proven here
twice: the set-partition multiplicities by brute-force enumeration, and every output of
every jet used against nested ``jax.jacfwd`` derivative tensors (float64, CPU).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimators
from estimators.gpinn_pairs import GRADIENT_JET, gradient_jet_pair
from estimators.jets import slot_jet
from estimators.partial import guw_weights, interpolation_plan
from estimators.polar import POLAR_DIRECTIONS, polar_jet_pair, polar_weights
from estimators.taylor import faa_di_bruno_terms, readoff_coefficient, slot_plan
from tests.estimators import functions
from tests.estimators.functions import derivative_tensors

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

RTOL, ATOL = 1e-9, 1e-10

# The partials of docs/protocol.md §1.3, coordinates (x, y, t) resp. (x, t); used when the
# problems package cannot be imported, and checked against it when it can.
HIGH_ORDER = {
    "kdv-2d": (2, [(0, 1, 1), (3, 1, 0), (1, 0, 0), (0, 1, 0), (2, 0, 0), (1, 1, 0), (0, 2, 0)]),
    "kp-2d": (2, [(1, 0, 1), (1, 0, 0), (2, 0, 0), (4, 0, 0), (0, 2, 0)]),
    "gkdv-1d": (1, [(0, 1), (1, 0), (3, 0), (1, 1), (2, 0), (4, 0), (0, 2), (3, 1)]),
}


def problem_alphas(name):
    """``problems.get(name, dim).alphas`` plus the hard-coded list (deduplicated)."""
    dim, alphas = HIGH_ORDER[name]
    try:
        import problems

        alphas = list(problems.get(name, dim).alphas) + alphas
    except (ImportError, ValueError):  # problems written concurrently: fall back
        pass
    return list(dict.fromkeys(tuple(a) for a in alphas))


@functools.cache
def reference_case(name: str, dim: int, order: int):
    """A test function, a point and its derivative tensors, computed once per session."""
    f = functions.make(name, dim, seed=5)
    x = jnp.asarray(functions.points(dim, 1, seed=5)[0])
    return f, x, derivative_tensors(f, x, order)


def reference(tensors, alpha):
    index = tuple(c for c, a in enumerate(alpha) for _ in range(a))
    return tensors[len(index)][index]


# --- Faa di Bruno multiplicities ------------------------------------------------------
def set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first], *partition]
        for b in range(len(partition)):
            yield partition[:b] + [[first, *partition[b]]] + partition[b + 1 :]


@pytest.mark.parametrize("slots", [(2, 3), (1, 2), (2, 5), (3, 4), (1, 2, 3), (3, 4, 9)])
def test_faa_di_bruno_counts_match_set_partitions(slots):
    """k!/prod(s!^b_s b_s!) = the number of set partitions of {1..k} with those blocks."""
    for k in range(1, 10):
        brute = Counter()
        for partition in set_partitions(list(range(k))):
            sizes = Counter(len(block) for block in partition)
            if set(sizes) <= set(slots):
                brute[tuple(sizes[s] for s in slots)] += 1
        assert dict(faa_di_bruno_terms(k, slots)) == dict(brute)


def test_gradient_jet_readoffs():
    """docs/protocol.md §3.4: d^7 f(x; 0, e_i, e_j, 0, 0, 0, 0) = 105 d_iij f, and from the same jet
    y_3 = d_j f, y_4 = 3 d_ii f (y_5 = 10 d_ij f); y_6 = 15 d_iii f + 10 d_jj f is not one."""
    slots = GRADIENT_JET["slots"]
    assert slots == (2, 3) and GRADIENT_JET["order"] == 7
    assert readoff_coefficient(7, slots, (2, 1)) == 105
    assert readoff_coefficient(4, slots, (2, 0)) == 3
    assert readoff_coefficient(3, slots, (0, 1)) == 1
    assert readoff_coefficient(5, slots, (1, 1)) == 10
    assert dict(faa_di_bruno_terms(6, slots)) == {(3, 0): 15, (0, 2): 10}
    with pytest.raises(ValueError, match="not a single read-off"):
        readoff_coefficient(6, slots, (3, 0))


def check_every_output(f, x, placement, order, tensors):
    """Every y_k of the slot jet equals its Faa di Bruno sum of nested-autodiff partials."""
    dim = x.shape[0]
    coords = [c for c, _ in placement]
    slots = tuple(s for _, s in placement)
    tangents = {s: jax.nn.one_hot(c, dim, dtype=x.dtype) for c, s in placement}
    y = jax.jit(lambda z: slot_jet(f, z, tangents, order))(x)
    np.testing.assert_allclose(y[0], tensors[0], rtol=1e-12)
    for k in range(1, order + 1):
        want = 0.0
        for counts, coefficient in faa_di_bruno_terms(k, slots):
            alpha = [0] * dim
            for c, b in zip(coords, counts, strict=True):
                alpha[c] += b
            want += coefficient * reference(tensors, alpha)
        np.testing.assert_allclose(y[k], want, rtol=RTOL, atol=ATOL, err_msg=f"y_{k}")


def test_gradient_jet_every_output():
    f = functions.make("mlp", 4, seed=2)
    x = jnp.asarray(functions.points(4, 1, seed=2)[0])
    tensors = derivative_tensors(f, x, 3)  # y_k of slots (2, 3) has order <= k/2
    check_every_output(f, x, [(1, 2), (3, 3)], 7, tensors)  # i != j
    check_every_output(f, x, [(2, 2), (2, 3)], 7, tensors)  # i == j: one coordinate twice


@pytest.mark.parametrize("pair", [gradient_jet_pair, polar_jet_pair])
@pytest.mark.parametrize("i, j", [(1, 3), (2, 2), (0, 1)])
def test_gradient_jet_pair_matches_nested_autodiff(pair, i, j):
    f = functions.make("mlp", 4, seed=2)
    x = jnp.asarray(functions.points(4, 1, seed=2)[0])
    u_ii, u_iij, u_j = jax.jit(lambda z: pair(f, z, i, j))(x)
    tensors = derivative_tensors(f, x, 3)
    np.testing.assert_allclose(u_ii, tensors[2][i, i], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(u_iij, tensors[3][i, i, j], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(u_j, tensors[1][j], rtol=RTOL, atol=ATOL)


def test_polar_weights_invert_the_binomial_expansion():
    """sum_v w_v D^k f[v^k] picks d_i^a d_j^(k-a) f out of the binomial expansion: for the
    three partials polar_jet_pair reads (u_j, u_ii, u_iij), in exact arithmetic."""
    for order, a in [(1, 0), (2, 2), (3, 2)]:
        w = polar_weights(order, a)
        for b in range(order + 1):
            picked = sum(
                wv * math.comb(order, b) * ci**b * cj ** (order - b)
                for wv, (ci, cj) in zip(w, POLAR_DIRECTIONS, strict=True)
            )
            assert picked == (b == a), (order, a, b, picked)
    # u_ijj would need u_iii, which no combination of the three 3-jets separates
    with pytest.raises(ValueError, match="no combination"):
        polar_weights(3, 1)


def placement(jet):
    """``[(coordinate, slot), ...]`` of a jet with one-hot tangents."""
    out = []
    for slot, direction in jet.tangents:
        assert sorted(direction) == [0] * (len(direction) - 1) + [1], "one-hot tangents"
        out.append((direction.index(1), slot))
    return out


@pytest.mark.parametrize("name", sorted(HIGH_ORDER))
def test_slot_plan_jets_every_output(name):
    """All outputs (hence every read-off) of the jets stde-jax pushes for the problem:
    each partial is read off exactly one jet, with weight 1 / (FdB) (no GUW fallback)."""
    alphas = problem_alphas(name)
    dim = len(alphas[0])
    plan = slot_plan(alphas, dim)
    assert plan.rows == len(alphas) and not plan.value_rows
    assert sorted(r for jet in plan.jets for r, _, _ in jet.readouts) == list(range(len(alphas)))
    # the partials inside y_k have order <= k / (smallest slot)
    top = max(jet.order // min(s for s, _ in jet.tangents) for jet in plan.jets)
    assert top <= 5
    f, x, tensors = reference_case("mlp", dim, 5)
    for jet in plan.jets:
        check_every_output(f, x, placement(jet), jet.order, tensors)
        slots = tuple(s for _, s in placement(jet))
        for row, k, weight in jet.readouts:
            counts = tuple(alphas[row][c] for c, _ in placement(jet))
            assert weight == Fraction(1, readoff_coefficient(k, slots, counts))


def test_kdv_plan_and_paper_like_13_jet():
    """The derived KdV plan, and why one 13-jet cannot separate u_ty from u_xxxy.

    Plan: a 5-jet (e_y slot 2, e_t slot 3) gives u_yy = y_4/3, u_ty = y_5/10; an 11-jet
    (e_x slot 2, e_y slot 5) gives u_x = y_2, u_xx = y_4/3, u_y = y_5, u_xy = y_7/21,
    u_xxxy = y_11/6930 (11!/(2!^3 3! 5!)).  With e_x, e_y, e_t in slots 3, 4, 9 a 13-jet
    gives y_13 = 200200 u_xxxy + 715 u_ty (two terms; 13!/(3!^3 3! 4!), 13!/(9! 4!)).
    """
    alphas = problem_alphas("kdv-2d")
    plan = slot_plan(alphas, 3)
    assert [jet.order for jet in plan.jets] == [5, 11]
    u_xxxy = alphas.index((3, 1, 0))
    (readout,) = [r for jet in plan.jets for r in jet.readouts if r[0] == u_xxxy]
    f11 = math.factorial(11)
    assert readout[1:] == (11, Fraction(math.factorial(2) ** 3 * math.factorial(3) * 120, f11))
    terms = dict(faa_di_bruno_terms(13, (3, 4, 9)))  # counts of (e_x, e_y, e_t)
    assert terms == {(3, 1, 0): 200200, (0, 1, 1): 715}


def test_stde_star_coefficients():
    """STDE* for u_xxxy: 4-jets along (4,0), (3,1), (2,2), (1,3), (0,4) with GUW weights."""
    assert dict(guw_weights((3, 1))) == {
        (4, 0): Fraction(-13, 128),
        (3, 1): Fraction(3, 8),
        (2, 2): Fraction(-9, 32),
        (1, 3): Fraction(1, 8),
        (0, 4): Fraction(-3, 128),
    }
    plan = interpolation_plan(problem_alphas("kdv-2d"), 3)
    assert [(order, len(d)) for order, d in plan.groups] == [(2, 2), (4, 5)]


ESTIMATORS = estimators.supporting("partials")


def test_partials_estimators_discovered():
    assert {"backward-jax", "stde-jax", "stde-star-jax"} <= set(ESTIMATORS)


@pytest.mark.parametrize("name", sorted(HIGH_ORDER))
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_estimator_partials_exact(estimator, name):
    alphas = problem_alphas(name)
    dim = len(alphas[0])
    f, x, tensors = reference_case("mlp", dim, 5)
    est = estimators.get(estimator)
    got = jax.jit(lambda z: est.partials(f, z, alphas, jax.random.key(0)))(x)
    assert got.shape == (len(alphas),)
    np.testing.assert_allclose(got, [reference(tensors, a) for a in alphas], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_estimator_partials_general_alphas(estimator):
    """Beyond the problems: order 0, repeats, three coordinates, no read-off below order
    MAX_JET_ORDER (stde-jax falls back to GUW for (1, 1, 1), (2, 0, 3), (2, 2, 1))."""
    alphas = [(0, 0, 0), (1, 1, 1), (2, 0, 3), (1, 1, 1), (0, 5, 0), (2, 2, 1)]
    f, x, tensors = reference_case("mlp", 3, 5)
    got = jax.jit(lambda z: estimators.get(estimator).partials(f, z, alphas))(x)
    np.testing.assert_allclose(got, [reference(tensors, a) for a in alphas], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_estimator_partials_reject_bad_alpha(estimator):
    est = estimators.get(estimator)
    with pytest.raises(ValueError, match="length"):
        est.partials(lambda z: z.sum(), jnp.zeros(3), [(1, 0)])
