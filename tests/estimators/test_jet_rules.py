"""Primitives and Taylor mode: the rule this project adds, and the error for the others.

- ``reduce_prod`` (``jnp.prod``) has a jet rule registered by ``estimators.jets``; it is
  proven like every coefficient, against nested autodiff in float64: every output of jets
  with arbitrary input series (the definition d^k/dt^k f(x(t)) by nested ``jax.grad`` in t),
  exact zeros among the factors, products over several axes and odd lengths; and the
  estimators built on it (stde-jax's Laplacian at |J| = d, exact partials).
- Primitives that ``jax.experimental.jet`` really has no rule for in the installed JAX
  (checked here, so a JAX that adds one makes this test say so) raise, from every
  jet-based estimator and every operator it supplies, and from ``estimators.partial``, a
  ``MissingJetRuleError`` naming the primitive and the estimators that supply the same
  quantity without jets -- and those estimators are shown to compute it correctly.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.experimental import jet
from jax.experimental.jet import jet_rules

import estimators
from estimators._checks import without_jets
from estimators.jets import MissingJetRuleError, register_jet_rules
from estimators.partial import partials
from tests.estimators import functions
from tests.estimators.functions import derivative_tensors

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
RTOL, ATOL = 1e-9, 1e-10


# --- reduce_prod: the registered rule ----------------------------------------------------
def point(dim: int, seed: int = 0) -> jax.Array:
    return jnp.asarray(functions.points(dim, 1, seed=seed)[0])


X6 = point(6, seed=1)
SHIFT = jnp.full(6, -0.5).at[jnp.array([1, 4])].set(X6[jnp.array([1, 4])])  # X6 - SHIFT: 2 zeros
PRODUCTS = {
    # the issue's example: prod over one axis of length d
    "cos": lambda z: jnp.prod(jnp.cos(z)),
    # two factors exactly zero at X6: a log-derivative rule would give nan here
    "zeros": lambda z: jnp.prod(z - SHIFT) + jnp.prod(z + 0.5),
    # odd lengths (3) along either axis of a (2, 3) array, and over several axes at once
    "axes": lambda z: (
        jnp.sum(jnp.prod(jnp.sin(z).reshape(2, 3) + 1.5, axis=1) ** 2)
        + jnp.sum(jnp.prod(z.reshape(2, 3) - 0.2, axis=0))
        + jnp.prod(jnp.tanh(z).reshape(1, 2, 3) + 1.1, axis=(0, 2)).sum()
    ),
}


def test_reduce_prod_rule_registered_once_and_kept():
    """Registered by ``import estimators`` (in a fresh interpreter), idempotent, and a rule
    already there (e.g. one JAX ships in a later release) is never replaced."""
    code = (
        "from jax import lax; from jax.experimental.jet import jet_rules; "
        "assert lax.reduce_prod_p not in jet_rules, 'jax now ships a reduce_prod rule'; "
        "import estimators; print(jet_rules[lax.reduce_prod_p].__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "estimators.jets"
    rule = jet_rules[lax.reduce_prod_p]
    register_jet_rules()
    assert jet_rules[lax.reduce_prod_p] is rule
    theirs = object()
    jet_rules[lax.reduce_prod_p] = theirs
    try:
        register_jet_rules()
        assert jet_rules[lax.reduce_prod_p] is theirs
    finally:
        jet_rules[lax.reduce_prod_p] = rule


def test_zero_factors_are_exact():
    assert int((X6 - SHIFT == 0).sum()) == 2


def nested_series(f, x, tangents):
    """``[f(x), y_1, ..., y_K]`` by definition: d^k/dt^k f(x + sum_s v_s t^s / s!) at t = 0,
    by k nested ``jax.jacfwd`` in t."""
    curve = lambda t: f(x + sum(v * t**s / math.factorial(s) for s, v in enumerate(tangents, 1)))
    out, g = [], curve
    for _ in range(len(tangents) + 1):
        out.append(g(0.0))
        g = jax.jacfwd(g)
    return jnp.stack(out)


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_reduce_prod_jet_matches_nested_autodiff(name):
    """Every output of 4-jets, with one tangent (v, 0, 0, 0) and with all four slots
    filled by random tangents, equals its definition."""
    f = PRODUCTS[name]
    rng = np.random.default_rng(3)
    directions = jnp.asarray(rng.standard_normal((4, 6)))

    def both(x, tangents):
        primal, ys = jet.jet(f, (x,), (tuple(tangents),))
        return jnp.stack([primal, *ys]), nested_series(f, x, tuple(tangents))

    for tangents in [directions.at[1:].set(0.0), directions]:
        got, want = jax.jit(both)(X6, tangents)
        assert np.isfinite(want).all()
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(PRODUCTS))
@pytest.mark.slow  # every coordinate's jet
def test_stde_laplacian_of_product_is_exact_at_full_samples(name):
    f = PRODUCTS[name]
    est = estimators.get("stde-jax", samples=6)
    got = jax.jit(lambda x: est.laplacian(f, x, jax.random.key(0)))(X6)
    np.testing.assert_allclose(got, jnp.trace(jax.hessian(f)(X6)), rtol=RTOL, atol=ATOL)


@pytest.mark.slow  # nested autodiff in ten dimensions
def test_issue_example_in_ten_dimensions():
    """``stde-jax`` on ``prod(cos(x))``, |J| = d = 10, against the trace of the Hessian."""
    f, x = PRODUCTS["cos"], point(10, seed=4)
    got = estimators.get("stde-jax", samples=10).laplacian(f, x, jax.random.key(1))
    np.testing.assert_allclose(got, jnp.trace(jax.hessian(f)(x)), rtol=RTOL, atol=ATOL)


ALPHAS = [
    (1, 0, 0, 0, 0, 0),
    (1, 1, 0, 0, 0, 0),
    (1, 0, 0, 1, 0, 0),
    (2, 1, 1, 0, 0, 0),
    (0, 1, 0, 0, 1, 0),
]


@pytest.mark.parametrize("name", sorted(PRODUCTS))
@pytest.mark.slow  # nested jacfwd of every partial
def test_partials_of_product_match_nested_jacfwd(name):
    """GUW interpolation and stde-jax's read-offs (order <= 4) through the rule."""
    f = PRODUCTS[name]
    tensors = derivative_tensors(f, X6, 4)
    want = [tensors[sum(a)][tuple(c for c, n in enumerate(a) for _ in range(n))] for a in ALPHAS]
    got = jax.jit(lambda x: partials(f, x, ALPHAS))(X6)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    stde = estimators.get("stde-jax")
    got = jax.jit(lambda x: stde.partials(f, x, ALPHAS))(X6)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# --- primitives without a rule -----------------------------------------------------------
MISSING = {  # primitive name -> (primitive, a function of (3,) that uses it)
    "sort": (lax.sort_p, lambda z: jnp.sum(jnp.sort(z) * jnp.arange(1.0, 4.0)) ** 2),  # in a jit
    "tan": (lax.tan_p, lambda z: jnp.sum(jnp.tan(z)) * z[0]),
    "cumlogsumexp": (lax.cumlogsumexp_p, lambda z: jnp.sum(lax.cumlogsumexp(z * z)) ** 2),
}
X3 = point(3, seed=2)
PARTIALS = [(1, 1, 0), (2, 0, 0)]
JET_BASED = [
    (name, operator)
    for name in estimators.names()
    if getattr(estimators.REGISTRY.factory(name), "uses_jets", False)
    for operator in sorted(estimators.REGISTRY.factory(name).operators)
]


def quantity(est, operator, f):
    """``est``'s ``operator`` of ``f`` at X3, under ``jax.jit`` as the harness runs it."""
    if operator == "partials":
        return jax.jit(lambda x: est.partials(f, x, PARTIALS, jax.random.key(0)))(X3)
    return jax.jit(lambda x: est.quantity(operator)(f, x, jax.random.key(0)))(X3)


@pytest.mark.parametrize("primitive", sorted(MISSING))
def test_primitive_really_has_no_jet_rule(primitive):
    prim, f = MISSING[primitive]
    assert prim not in jet_rules, f"jax now has a jet rule for {primitive}: pick another"
    with pytest.raises(KeyError):  # what jax.experimental.jet itself does
        jet.jet(f, (X3,), ((jnp.ones(3), jnp.zeros(3)),))


def test_jet_based_estimators_are_marked():
    marked = {name for name, _ in JET_BASED}
    assert {"stde-jax", "hte-jax", "stde-star-jax"} <= marked
    assert not {"backward-jax", "exact-jax", "jvp-hvp-jax", "sdgd-backward-jax"} & marked


def check_message(err, primitive, operator, who):
    message = str(err)
    assert isinstance(err, ValueError) and isinstance(err, NotImplementedError)
    assert f"primitive {primitive!r}" in message and "Taylor mode" in message, message
    assert who in message and repr(operator) in message, message
    alternatives = without_jets(operator)
    assert f"without jets: {alternatives}." in message, message
    for name in alternatives.split(", "):
        assert not estimators.REGISTRY.factory(name).uses_jets, name


@pytest.mark.parametrize("primitive", sorted(MISSING))
@pytest.mark.parametrize("name, operator", JET_BASED)
def test_jet_based_estimator_names_the_primitive(name, operator, primitive):
    est = estimators.get(name, samples=3)
    with pytest.raises(MissingJetRuleError) as err:
        quantity(est, operator, MISSING[primitive][1])
    check_message(err.value, primitive, operator, repr(name))


@pytest.mark.parametrize("primitive", sorted(MISSING))
def test_partial_names_the_primitive(primitive):
    f = MISSING[primitive][1]
    with pytest.raises(MissingJetRuleError) as err:
        estimators.partial(f, X3, (1, 1, 0))
    check_message(err.value, primitive, "partials", "estimators.partial")
    with pytest.raises(MissingJetRuleError) as err:
        jax.jit(lambda x: estimators.partials(f, x, PARTIALS))(X3)
    check_message(err.value, primitive, "partials", "estimators.partials")


def test_other_key_errors_pass_through():
    """Only jet's lookup of a missing rule is translated, not a KeyError of f itself."""

    def f(z):
        raise KeyError("a key of the user's own")

    with pytest.raises(KeyError, match="user's own"):
        estimators.get("stde-jax").laplacian(f, X3, jax.random.key(0))


def reference(operator, f):
    """The exact quantity by nested autodiff (float64)."""
    laplacian = lambda z: jnp.trace(jax.hessian(f)(z))
    if operator == "laplacian":
        return laplacian(X3)
    if operator == "biharmonic":
        return jnp.trace(jax.hessian(laplacian)(X3))
    if operator == "laplacian-gradient":
        return jax.grad(laplacian)(X3)
    tensors = derivative_tensors(f, X3, 2)
    return jnp.stack([tensors[2][0, 1], tensors[2][0, 0]])  # PARTIALS


@pytest.mark.parametrize("operator", sorted({operator for _, operator in JET_BASED}))
def test_the_alternatives_named_compute_it(operator):
    """Each estimator the error names gives the exact quantity for a function with ``tan``
    (|J| = d, so the sampled ones are exact)."""
    f = MISSING["tan"][1]
    want = reference(operator, f)
    for name in without_jets(operator).split(", "):
        got = quantity(estimators.get(name, samples=3), operator, f)
        if operator == "laplacian-gradient":
            got = got.grad_laplacian[jnp.argsort(got.index)]
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)
