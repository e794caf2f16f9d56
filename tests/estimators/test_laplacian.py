"""Laplacian estimators against nested autodiff (float64 on CPU, see tests/conftest.py).

Parameterized over the registry: an estimator that supplies ``"laplacian"`` is tested here
the moment it is registered.  Statistical tests use fixed seeds (deterministic) and
bounds derived below, wide enough to pass by many standard errors, narrow enough to fail
for the wrong formula.

Derivations tested here:
- SDGD without replacement.  With a_i = H_ii, J a uniform |J| = s subset of {1..d} and
  Y = (d/s) sum_{i in J} a_i = d * (mean of a sample without replacement),
      E[Y] = sum_i a_i,   Var[Y] = d^2 * sigma^2 / s * (d - s) / (d - 1),
  sigma^2 = (1/d) sum_i (a_i - mean a)^2 (finite-population correction), so
      Var(s1) / Var(s2) = [(d - s1) / (s1 (d - 1))] / [(d - s2) / (s2 (d - 1))],
  e.g. 4 (d - 2) / (d - 8) for s = 2 vs 8, not the with-replacement 4.
- Hutchinson with Rademacher v: v^T H v = tr H + sum_{i != j} H_ij v_i v_j, so
      E = tr H,   Var = 2 sum_{i != j} H_ij^2  (one draw), divided by s for a mean of s.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimators
from estimators.hte_jax import directional_derivative
from tests.estimators import functions as F

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)


def _ids(backend: str, operator: str, stochastic: bool | None = None) -> list[str]:
    out = []
    for name in estimators.names():
        cls = estimators.REGISTRY.factory(name)
        if cls.backend != backend or operator not in cls.operators or cls.floor:
            continue  # the floor (primal-jax) supplies zeros: tested in test_registry.py
        if stochastic is None or cls.stochastic == stochastic:
            out.append(name)
    return out


JAX_LAPLACIAN = _ids("jax", "laplacian")
JAX_DETERMINISTIC = _ids("jax", "laplacian", stochastic=False)
JAX_STOCHASTIC = _ids("jax", "laplacian", stochastic=True)
# How each stochastic estimator randomizes; a newly registered one must be listed here
# (test_every_stochastic_estimator_is_classified) so that its variance law is tested.
INDEX_SET = [
    n
    for n in ("sdgd-backward-jax", "sdgd-parallel-jax", "sdgd-fwd-over-bwd-jax", "stde-jax")
    if n in JAX_STOCHASTIC
]
HUTCHINSON = [n for n in ("hte-jax",) if n in JAX_STOCHASTIC]

DIMS = (3, 8, 17)


def nested_hessian(f, x):
    """H(x) by forward-over-forward (independent of the estimators' own compositions)."""
    return jax.jacfwd(jax.jacfwd(f))(x)


def nested_laplacian(f, x):
    return jnp.trace(nested_hessian(f, x))


def over_points(est, f, xs, key):
    """Estimates at every row of xs, all points sharing ``key`` (as the harness does)."""
    if key is None:
        return jax.jit(jax.vmap(lambda x: est.laplacian(f, x)))(xs)
    return jax.jit(jax.vmap(lambda x, k: est.laplacian(f, x, k), (0, None)))(xs, key)


def over_keys(est, f, x, n, seed):
    """n independent estimates at one point x (one fresh key each)."""
    keys = jax.random.split(jax.random.key(seed), n)
    return np.asarray(jax.jit(jax.vmap(lambda k: est.laplacian(f, x, k)))(keys))


@functools.cache
def _setup(fn: str, dim: int, n_points: int = 3):
    """(f, xs, exact Laplacians at xs), cached so that tests share one reference."""
    f = F.make(fn, dim)
    xs = jnp.asarray(F.points(dim, n_points))
    exact = np.asarray(jax.jit(jax.vmap(lambda x: nested_laplacian(f, x)))(xs))
    return f, xs, exact


# --- exactness -----------------------------------------------------------------------


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("fn", F.FUNCTIONS)
@pytest.mark.parametrize("name", JAX_DETERMINISTIC)
def test_deterministic_matches_nested_autodiff(name, fn, dim):
    f, xs, exact = _setup(fn, dim)
    got = over_points(estimators.get(name), f, xs, None)
    np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn,dim", [(fn, 17) for fn in F.FUNCTIONS] + [("mlp", 3)])
@pytest.mark.parametrize("name", INDEX_SET)
def test_index_set_estimators_exact_when_samples_cover_all_dims(name, fn, dim):
    f, xs, exact = _setup(fn, dim)
    got = over_points(estimators.get(name, samples=dim), f, xs, jax.random.key(1))
    np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-10)
    if fn == "mlp":  # more samples than dimensions: every dimension once, no key needed
        got = over_points(estimators.get(name, samples=dim + 3), f, xs, None)
        np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-10)


# --- the stochastic estimators: unbiased, and the variance law ------------------------


def test_every_stochastic_estimator_is_classified():
    unclassified = sorted(set(JAX_STOCHASTIC) - set(INDEX_SET) - set(HUTCHINSON))
    assert not unclassified, (
        f"stochastic Laplacian estimators {unclassified} are not listed in INDEX_SET or "
        "HUTCHINSON in this file, so their variance law is untested: classify them"
    )


@pytest.mark.parametrize("fn", ["mlp"])
@pytest.mark.parametrize("name", JAX_STOCHASTIC)
def test_stochastic_estimators_are_unbiased(name, fn):
    n = 2000
    f, xs, exact = _setup(fn, 8)
    values = over_keys(estimators.get(name, samples=3), f, xs[0], n, seed=7)
    stderr = values.std(ddof=1) / np.sqrt(n)
    assert values.std() > 0, f"{name} gave the same value for {n} different keys"
    assert abs(values.mean() - exact[0]) < 4 * stderr, (values.mean(), exact[0], stderr)


def sdgd_variance(diagonal: np.ndarray, samples: int) -> float:
    """Var of (d/s) sum_{i in J} a_i, J uniform without replacement (module docstring)."""
    d = diagonal.size
    sigma2 = diagonal.var()  # population variance, 1/d normalization
    return d**2 * sigma2 / samples * (d - samples) / (d - 1)


@pytest.mark.parametrize("dim,samples", [(6, 1), (6, 2), (6, 3), (7, 5), (7, 7)])
def test_finite_population_variance_formula_by_enumeration(dim, samples):
    """The SDGD variance formula against all C(d, s) index sets (pure arithmetic)."""
    a = np.random.default_rng(dim * 10 + samples).standard_normal(dim) * 3 + 1
    values = np.array(
        [dim / samples * a[list(J)].sum() for J in itertools.combinations(range(dim), samples)]
    )
    np.testing.assert_allclose(values.mean(), a.sum(), rtol=1e-12)
    np.testing.assert_allclose(values.var(), sdgd_variance(a, samples), rtol=1e-10, atol=1e-12)


VARIANCE_TOL = 0.15  # relative; the empirical variances below have ~3-5% standard error


def _hessian_at_first_point(fn: str, dim: int):
    f, xs, _ = _setup(fn, dim)
    return f, xs[0], np.asarray(jax.jit(lambda x: nested_hessian(f, x))(xs[0]))


@pytest.mark.parametrize("name", INDEX_SET)
@pytest.mark.slow  # statistical: many estimates
def test_index_set_variance_has_finite_population_correction(name):
    dim, n, small, large = 17, 4000, 2, 8
    f, x, h = _hessian_at_first_point("gaussian-bump", dim)
    expected = {s: sdgd_variance(np.diag(h), s) for s in (small, large)}
    measured = {
        s: over_keys(estimators.get(name, samples=s), f, x, n, seed=s).var(ddof=1)
        for s in (small, large)
    }
    for s in (small, large):
        assert abs(measured[s] / expected[s] - 1) < VARIANCE_TOL, (s, measured[s], expected[s])
    ratio = expected[small] / expected[large]  # = 4 (d - 2) / (d - 8) = 6.67 here
    np.testing.assert_allclose(ratio, 4 * (dim - 2) / (dim - 8), rtol=1e-12)
    # The test can fail: the with-replacement ratio 4 lies far outside the tolerance.
    assert abs(4 / ratio - 1) > 2 * VARIANCE_TOL
    assert abs(measured[small] / measured[large] / ratio - 1) < VARIANCE_TOL


def test_rademacher_mean_and_variance_by_enumeration():
    """Hutchinson's mean and variance over all 2^d sign vectors, against the formulas."""
    dim = 5
    f, x, h = _hessian_at_first_point("gaussian-bump", dim)
    signs = jnp.asarray(list(itertools.product((-1.0, 1.0), repeat=dim)))
    values = np.asarray(jax.jit(jax.vmap(lambda v: directional_derivative(f, x, v, 2)))(signs))
    np.testing.assert_allclose(values, np.einsum("ki,ij,kj->k", signs, h, signs), rtol=1e-10)
    np.testing.assert_allclose(values.mean(), np.trace(h), rtol=1e-12)  # no factor d
    off_diagonal = h - np.diag(np.diag(h))
    np.testing.assert_allclose(values.var(), 2 * (off_diagonal**2).sum(), rtol=1e-10)


@pytest.mark.parametrize("name", HUTCHINSON)
@pytest.mark.slow  # statistical: many estimates
def test_hutchinson_variance_falls_like_one_over_samples(name):
    dim, n, small, large = 8, 4000, 2, 8
    f, x, h = _hessian_at_first_point("gaussian-bump", dim)
    one_draw = 2 * ((h - np.diag(np.diag(h))) ** 2).sum()
    measured = {
        s: over_keys(estimators.get(name, samples=s), f, x, n, seed=s).var(ddof=1)
        for s in (small, large)
    }
    for s in (small, large):
        assert abs(measured[s] / (one_draw / s) - 1) < VARIANCE_TOL, (s, measured[s])
    assert abs(measured[small] / measured[large] / (large / small) - 1) < VARIANCE_TOL


# --- the sampled JAX estimators share the index set ------------------------------------


@pytest.mark.skipif(len(INDEX_SET) < 2, reason="needs two index-set estimators")
@pytest.mark.slow  # every index-set estimator
def test_index_set_estimators_agree_for_the_same_key():
    samples, seeds = 5, (0, 1, 2)
    f, xs, _ = _setup("mlp", 17)
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    results = {}
    for name in INDEX_SET:
        est = estimators.get(name, samples=samples)
        per_key = jax.vmap(lambda k, est=est: jax.vmap(lambda x: est.laplacian(f, x, k))(xs))
        results[name] = np.asarray(jax.jit(per_key)(keys))  # (keys, points)
    first = results[INDEX_SET[0]]
    for name, values in results.items():
        np.testing.assert_allclose(values, first, rtol=0, atol=1e-10, err_msg=name)
    # ...and different keys give different index sets, hence different estimates.
    assert not np.allclose(first[0], first[1])


# --- transformations ---------------------------------------------------------------------


@pytest.mark.parametrize("name", JAX_LAPLACIAN)
def test_jit_and_vmap_with_a_shared_key(name):
    f, xs, _ = _setup("two-body", 6)
    est = estimators.get(name, samples=2)
    key = jax.random.key(3)
    batched = over_points(est, f, xs, key)
    assert batched.shape == (xs.shape[0],)
    single = jax.jit(lambda x: est.laplacian(f, x, key))
    one_by_one = np.array([single(x) for x in xs])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-12, atol=1e-12)
    # Without jit too (eager), at one point: the estimators need no compilation.
    np.testing.assert_allclose(est.laplacian(f, xs[0], key), one_by_one[0], rtol=1e-12)


DIFF_DIM = 5


def _mlp_loss(params, laplacian):
    """mean over a few points of (Laplacian of the MLP)^2: a PINN-like loss."""
    xs = jnp.asarray(F.points(DIFF_DIM, 3))
    f = lambda x: F.mlp_apply(params, x, jnp)
    return jnp.mean(jax.vmap(lambda x: laplacian(f, x))(xs) ** 2)


def _mlp_params():
    return [(jnp.asarray(w), jnp.asarray(b)) for w, b in F.mlp_params(DIFF_DIM)]


@functools.cache
def _reference_loss_gradient():
    return jax.tree.leaves(
        jax.jit(jax.grad(_mlp_loss), static_argnums=1)(_mlp_params(), nested_laplacian)
    )


@pytest.mark.parametrize("name", JAX_LAPLACIAN)
def test_differentiable_with_respect_to_parameters(name):
    """grad of a squared-residual loss w.r.t. the MLP weights, through the estimator."""
    est = estimators.get(name, samples=DIFF_DIM)  # index-set estimators exact: same gradient
    key = jax.random.key(0)
    got = jax.jit(jax.grad(lambda p: _mlp_loss(p, lambda f, x: est.laplacian(f, x, key))))(
        _mlp_params()
    )
    flat_got = jax.tree.leaves(got)
    assert all(np.isfinite(g).all() for g in flat_got)
    assert any(np.abs(g).max() > 0 for g in flat_got)
    if name not in JAX_DETERMINISTIC and name not in INDEX_SET:  # not exact at samples = d
        return
    for g, e in zip(flat_got, _reference_loss_gradient(), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


# --- the PyTorch baseline -------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dim", (3, 8))
@pytest.mark.parametrize("fn", F.FUNCTIONS)
def test_torch_matches_nested_autodiff_when_samples_cover_all_dims(fn, dim):
    torch = _torch()
    _, xs, exact = _setup(fn, dim)
    est = estimators.get("sdgd-backward-torch", samples=dim)
    got = est.laplacian(F.make(fn, dim, backend="torch"), torch.tensor(np.asarray(xs)))
    assert got.dtype == torch.float64 and got.shape == (xs.shape[0],)
    np.testing.assert_allclose(got.detach().numpy(), exact, rtol=1e-10, atol=1e-10)


def test_torch_sampled_estimate_is_the_rescaled_diagonal_over_randperm():
    torch = _torch()
    dim, samples = 8, 3
    f_jax, xs, _ = _setup("mlp", dim)
    diagonal = np.asarray(jax.jit(jax.vmap(lambda x: jnp.diag(nested_hessian(f_jax, x))))(xs))
    est = estimators.get("sdgd-backward-torch", samples=samples)
    f_torch = F.make("mlp", dim, backend="torch")
    for seed in range(3):
        got = est.laplacian(
            f_torch, torch.tensor(np.asarray(xs)), generator=torch.Generator().manual_seed(seed)
        )
        index = torch.randperm(dim, generator=torch.Generator().manual_seed(seed))[:samples]
        expected = dim / samples * diagonal[:, index.numpy()].sum(axis=1)
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10, atol=1e-10)


def test_torch_output_is_differentiable_wrt_parameters():
    torch = _torch()
    dim = 6
    xs = F.points(dim, 5)
    np_params = F.mlp_params(dim)
    params = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in np_params
    ]
    leaves = [t for pair in params for t in pair]
    f = lambda x: F.mlp_apply(params, x, torch)

    def grads_of(value):
        # The output bias does not reach the Laplacian: its gradient is None (zero).
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
        return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves, strict=True)]

    exact = estimators.get("sdgd-backward-torch", samples=dim).laplacian(f, torch.tensor(xs))
    grads = grads_of((exact**2).mean())
    assert sum(int(g.abs().max() > 0) for g in grads) >= len(grads) - 1

    def loss(p):
        lap = jax.vmap(lambda x: nested_laplacian(lambda y: F.mlp_apply(p, y, jnp), x))
        return jnp.mean(lap(jnp.asarray(xs)) ** 2)

    jax_params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in np_params]
    expected = jax.tree.leaves(jax.jit(jax.grad(loss))(jax_params))
    for g, e in zip(grads, expected, strict=True):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-9, atol=1e-12)

    sampled = estimators.get("sdgd-backward-torch", samples=2).laplacian(
        f, torch.tensor(xs), generator=torch.Generator().manual_seed(0)
    )
    grads = grads_of(sampled.sum())
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(int(g.abs().max() > 0) for g in grads) >= len(grads) - 1
