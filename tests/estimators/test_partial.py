"""``estimators.partial``: exact mixed partials from univariate jets (GUW interpolation).

Proven three ways: the jet convention against nested autodiff in t, the GUW weights by
an exact rational identity, and every partial against nested ``jax.jacfwd`` derivative
tensors (float64, CPU) on random multi-indices up to total order 6.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import jet

import estimators
from estimators.partial import guw_weights, interpolation_plan, partials
from tests.estimators import functions
from tests.estimators.functions import derivative_tensors

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

MAX_ORDER = 6
RTOL, ATOL = 1e-9, 1e-10  # GUW sums up to 28 weighted jets: a few ulps of cancellation


def coupled(z):
    """Every pair and triple of coordinates coupled; non-polynomial in each."""
    return jnp.sin(z[0] * z[1]) + jnp.exp(z[1] * z[2]) * z[0] ** 2 + jnp.tanh(z[0] - 0.5 * z[2])


FUNCTIONS = {"mlp": functions.make("mlp", 3, seed=1), "coupled": coupled}
POINT = jnp.array([0.31, -0.52, 0.44])


def reference(tensors, alpha):
    index = tuple(c for c, a in enumerate(alpha) for _ in range(a))
    return tensors[len(index)][index]


def random_alphas(dim, n, seed=0):
    """Random multi-indices of total order 1..6, biased to mixed ones (fixed seed)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        order = int(rng.integers(1, MAX_ORDER + 1))
        support = rng.choice(dim, size=int(rng.integers(1, dim + 1)), replace=False)
        counts = rng.multinomial(order, np.ones(len(support)) / len(support))
        alpha = [0] * dim
        for c, a in zip(support, counts, strict=True):
            alpha[int(c)] = int(a)
        out.append(tuple(alpha))
    return out


HAND_PICKED = [
    (1, 0, 0), (0, 0, 1), (2, 0, 0), (1, 1, 0), (0, 1, 1), (3, 0, 0), (1, 1, 1),
    (3, 1, 0), (1, 3, 0), (2, 2, 0), (0, 0, 4), (2, 1, 1), (5, 0, 0), (1, 2, 2),
    (6, 0, 0), (0, 3, 3), (2, 2, 2), (1, 1, 4), (3, 2, 1), (0, 5, 1),
]  # fmt: skip


def test_jet_convention_is_derivative():
    """The k-th jet output along (v, 0, ..., 0) is d^k/dt^k f(x + t v) at t = 0."""
    f, v = coupled, jnp.array([0.7, -1.1, 0.4])
    _, ys = jet.jet(f, (POINT,), ((v,) + (jnp.zeros(3),) * 4,))
    g = lambda t: f(POINT + t * v)
    for k in range(1, 6):
        dk = g
        for _ in range(k):
            dk = jax.grad(dk)
        np.testing.assert_allclose(ys[k - 1], jax.jit(dk)(0.0), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_guw_weights_invert_directional_derivatives(n):
    """sum_j gamma_{alpha j} j^m = alpha! delta_{alpha m} exactly (all |alpha| = |m| = k)."""
    for k in range(1, 6 if n < 3 else 5):
        orders = [m for m in product(range(k + 1), repeat=n) if sum(m) == k]
        for alpha in orders:
            if min(alpha) == 0:  # weights are defined on the support; zeros drop out
                continue
            weights = dict(guw_weights(alpha))
            for m in orders:
                total = sum(
                    (g * math.prod(Fraction(jc) ** mc for jc, mc in zip(j, m, strict=True))
                     for j, g in weights.items()),
                    Fraction(0),
                )  # fmt: skip
                assert total == (math.prod(map(math.factorial, alpha)) if m == alpha else 0)


def test_guw_weights_closed_form_one_dimension():
    """n = 1: gamma = k!/k^k, i.e. f^(k) = k^-k y_k(k)."""
    for k in range(1, 8):
        assert guw_weights((k,)) == (((k,), Fraction(math.factorial(k), k**k)),)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_partial_matches_nested_jacfwd(name):
    f = FUNCTIONS[name]
    tensors = derivative_tensors(f, POINT, MAX_ORDER)
    alphas = HAND_PICKED + random_alphas(3, 24, seed=7)
    got = jax.jit(lambda x: partials(f, x, alphas))(POINT)
    want = np.array([reference(tensors, a) for a in alphas])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_partial_single_and_support_smaller_than_dim():
    """One partial at a time, in d = 5 with alphas over a few coordinates, and order 0."""
    f = functions.make("gaussian-bump", 5, seed=3)
    x = jnp.asarray(functions.points(5, 1, seed=3)[0])
    tensors = derivative_tensors(f, x, 4)
    for alpha in [(1, 0, 0, 0, 1), (0, 2, 0, 1, 0), (1, 1, 1, 1, 0)]:
        got = jax.jit(lambda y, alpha=alpha: estimators.partial(f, y, alpha))(x)
        np.testing.assert_allclose(got, reference(tensors, alpha), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(estimators.partial(f, x, (0,) * 5), f(x))


def test_partials_share_jets_and_keep_order():
    alphas = [(3, 1, 0), (1, 0, 0), (0, 0, 0), (2, 0, 0), (1, 1, 0), (3, 1, 0)]
    plan = interpolation_plan(alphas, 3)
    # u_xxxy needs 5 directions of order 4; u_x, u_xx, u_xy ride on them (no new jets)
    assert plan.n_jets == 5 and [o for o, _ in plan.groups] == [4]
    tensors = derivative_tensors(coupled, POINT, 4)
    got = jax.jit(lambda x: partials(coupled, x, alphas))(POINT)
    np.testing.assert_allclose(got, [reference(tensors, a) for a in alphas], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "alpha, message",
    [
        ((1, 0), "length 2"),
        ((1, 0, 0, 0), "length 4"),
        ((1, -1, 0), ">= 0"),
        ((1.0, 0, 0), "ints"),
        ((True, 0, 0), "ints"),
        (3, "sequence"),
    ],
)
def test_partial_rejects_bad_multi_index(alpha, message):
    with pytest.raises(ValueError, match=message):
        estimators.partial(coupled, POINT, alpha)


def test_partial_rejects_batch_and_empty():
    with pytest.raises(ValueError, match="shape"):
        estimators.partial(coupled, jnp.zeros((2, 3)), (1, 0, 0))
    with pytest.raises(ValueError, match="at least one"):
        partials(coupled, POINT, [])
