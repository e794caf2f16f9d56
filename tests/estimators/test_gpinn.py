"""Estimators of ``"laplacian-gradient"`` (gradient-enhanced PINNs, docs/protocol.md §1.4).

Unbiasedness is tested statistically (mean over many keys within 4 standard errors of the
exact value), exactness of the gradient and of ``samples >= d`` directly, and every
estimator against stde-jax key by key (they share the pair sampler).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimators
from estimators.gpinn_pairs import gradient_pairs
from tests.estimators import functions

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

DIM, SAMPLES, KEYS = 5, 2, 1000
# the floor (primal-jax) supplies zeros: tested in test_registry.py
ESTIMATORS = [
    n
    for n in estimators.supporting("laplacian-gradient")
    if not estimators.REGISTRY.factory(n).floor
]


@pytest.fixture(scope="module")
def case():
    f = functions.make("mlp", DIM, seed=8)
    x = jnp.asarray(functions.points(DIM, 1, seed=8)[0])
    laplacian = lambda z: jnp.trace(jax.hessian(f)(z))
    exact = {
        "laplacian": laplacian(x),
        "grad_laplacian": jax.grad(laplacian)(x),
        "grad": jax.grad(f)(x),
    }
    return f, x, exact


def estimate_many(name, f, x, samples, n_keys):
    est = estimators.get(name, samples=samples)
    keys = jax.random.split(jax.random.key(11), n_keys)
    return jax.jit(jax.vmap(lambda k: est.laplacian_gradient(f, x, k)))(keys)


def test_laplacian_gradient_estimators_discovered():
    assert {"stde-jax", "jvp-hvp-jax", "stde-3jet-jax"} <= set(ESTIMATORS)


def within_standard_errors(samples, exact, label):
    samples = np.asarray(samples)
    mean = samples.mean()
    error = samples.std(ddof=1) / np.sqrt(len(samples))
    assert abs(mean - exact) <= 4 * error + 1e-10, (label, mean, exact, error)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_unbiased_and_exact_gradient(name, case):
    f, x, exact = case
    out = estimate_many(name, f, x, SAMPLES, KEYS)
    assert out.index.shape == (KEYS, SAMPLES)
    assert out.grad_laplacian.shape == out.grad.shape == (KEYS, SAMPLES)
    within_standard_errors(out.laplacian, exact["laplacian"], "laplacian")
    # d_j Laplacian: average the estimates made for each coordinate j
    index = np.asarray(out.index).ravel()
    values = np.asarray(out.grad_laplacian).ravel()
    for j in range(DIM):
        assert (index == j).sum() > 100
        within_standard_errors(values[index == j], exact["grad_laplacian"][j], f"j={j}")
    # the gradient entries are exact, for every sampled j
    np.testing.assert_allclose(out.grad, exact["grad"][out.index], rtol=1e-10, atol=1e-12)
    # and the estimates do vary: K < d really samples
    assert np.asarray(out.laplacian).std() > 1e-6


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n != "stde-jax"])
def test_every_estimator_agrees_with_stde_for_the_same_key(name, case):
    f, x, _ = case
    a = estimate_many("stde-jax", f, x, SAMPLES, 20)
    b = estimate_many(name, f, x, SAMPLES, 20)
    np.testing.assert_array_equal(a.index, b.index)
    for field in ("laplacian", "grad_laplacian", "grad"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("samples", [DIM, DIM + 3])
def test_samples_at_least_dim_is_exact(name, samples, case):
    f, x, exact = case
    out = jax.jit(lambda z: estimators.get(name, samples=samples).laplacian_gradient(f, z))(x)
    np.testing.assert_array_equal(out.index, np.arange(DIM))
    np.testing.assert_allclose(out.laplacian, exact["laplacian"], rtol=1e-10)
    np.testing.assert_allclose(out.grad_laplacian, exact["grad_laplacian"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.grad, exact["grad"], rtol=1e-10, atol=1e-12)


def test_pairs_without_replacement_and_independent():
    i, j, exact = gradient_pairs(jax.random.key(3), 10, 4)
    assert not exact and len(set(np.asarray(i).tolist())) == 4
    assert len(set(np.asarray(j).tolist())) == 4
    keys = jax.random.split(jax.random.key(4), 2000)
    i, j, _ = jax.vmap(lambda k: gradient_pairs(k, 3, 1))(keys)
    # i and j independent and uniform: every (i, j) cell near 2000 / 9
    counts = np.histogram2d(np.ravel(i), np.ravel(j), bins=3)[0]
    assert np.all(np.abs(counts - 2000 / 9) < 5 * np.sqrt(2000 / 9))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_key_required_when_sampling(name, case):
    f, x, _ = case
    with pytest.raises(ValueError, match="key"):
        estimators.get(name, samples=2).laplacian_gradient(f, x)
