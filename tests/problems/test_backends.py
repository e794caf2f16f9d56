"""JAX and torch backends of every problem agree in float64 on the same points, and the
seeded coefficients are reproducible.

The residual is compared with a made-up ``estimate`` (a smooth function of g(x) and x,
written once for both backends), so the check covers the residual's algebra, the forcing
and (semilinear) the exact time derivative, not an estimator.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import problems
from tests.problems.helpers import LaplacianGradient, valid_dims

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

torch = pytest.importorskip("torch")

NAMES = problems.names()
N_POINTS = 4


@pytest.fixture(autouse=True)
def _torch_float64():
    """float64 torch defaults (test sets use the default dtype), restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _pair(name, seed=0):
    dim = valid_dims(name, limit=1)[0]
    return (
        problems.get(name, dim, seed=seed, backend="jax"),
        problems.get(name, dim, seed=seed, backend="torch"),
    )


def _np(a):
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _fake_estimate(problem, xp, index):
    """estimate(g, x): made-up but deterministic quantities of the right shape."""

    def scalar(g, x, k=0):
        return (k + 2.0) * g(x) + xp.sin((k + 1.0) * x).sum(-1)

    def estimate(g, x):
        if problem.operator in ("laplacian", "biharmonic"):
            return scalar(g, x)
        if problem.operator == "partials":
            return xp.stack([scalar(g, x, k) for k in range(len(problem.alphas))], -1)
        many = xp.stack([scalar(g, x, k) for k in range(1, len(index) + 1)], -1)
        return LaplacianGradient(scalar(g, x), index, 0.5 * many, xp.cos(many))

    return estimate


def _model(problem, xp):
    """The function used as u: u* where it exists, else a smooth function (semilinear)."""
    if problem.name.endswith("semilinear"):
        w = np.linspace(0.3, 1.1, problem.input_dim)
        return lambda z: (
            0.4 * xp.sin((z * xp.asarray(w)).sum(-1) + 0.2)
            + 0.1 * (z[..., :-1] ** 2).sum(-1) * z[..., -1]
        )
    return problem.exact


@pytest.mark.parametrize("name", NAMES)
def test_exact_forcing_and_residual_agree_across_backends(name):
    pj, pt = _pair(name)
    zj = pj.sample_domain(jax.random.key(3), N_POINTS)
    zt = torch.tensor(np.asarray(zj))
    if name.endswith("semilinear"):
        x = zj[:, :-1]
        np.testing.assert_allclose(
            _np(jax.vmap(pj.initial_condition)(x)),
            _np(pt.initial_condition(zt[:, :-1])),
            rtol=1e-12,
        )
    else:
        np.testing.assert_allclose(
            _np(jax.vmap(pj.exact)(zj)), _np(pt.exact(zt)), rtol=1e-12, atol=1e-14
        )
    np.testing.assert_allclose(
        _np(jax.vmap(pj.forcing)(zj)), _np(pt.forcing(zt)), rtol=1e-12, atol=1e-12
    )
    nn = np.cos(np.arange(N_POINTS, dtype=float))
    np.testing.assert_allclose(
        _np(jax.vmap(pj.ansatz)(jax.numpy.asarray(nn), zj)),
        _np(pt.ansatz(torch.as_tensor(nn), zt)),
        rtol=1e-12,
    )
    index = [0, pj.dim - 1]
    estimate_j = _fake_estimate(pj, jax.numpy, jax.numpy.asarray(index))
    estimate_t = _fake_estimate(pt, torch, torch.as_tensor(index))
    rj = jax.vmap(lambda z: pj.residual(_model(pj, jax.numpy), z, estimate_j))(zj)
    rt = pt.residual(_model(pt, torch), zt, estimate_t)
    rj, rt = (rj, rt) if isinstance(rj, tuple) else ((rj,), (rt,))
    assert len(rj) == len(rt)
    for a, b in zip(rj, rt, strict=True):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        float(pj.loss(*([rj] if len(rj) > 1 else rj))),
        float(pt.loss(*([rt] if len(rt) > 1 else rt)).detach()),
        rtol=1e-10,
    )


@pytest.mark.parametrize("name", NAMES)
def test_test_sets_are_identical_across_backends(name):
    pj, pt = _pair(name)
    kwargs = {} if name.endswith("semilinear") else {"n": 64}
    (zj, vj), (zt, vt) = pj.test_set(**kwargs), pt.test_set(**kwargs)
    np.testing.assert_allclose(_np(zj), _np(zt), rtol=0, atol=0)
    np.testing.assert_allclose(_np(vj), _np(vt), rtol=1e-12)
    assert pj.test_set(**kwargs) is pj.test_set(**kwargs)  # memoized
    if not name.endswith("semilinear"):
        np.testing.assert_allclose(_np(vj), _np(jax.vmap(pj.exact)(zj)), rtol=1e-12, atol=1e-14)


def _initial_as_model(problem):
    """u(x, t) = g(x) for a semilinear problem, in its backend's convention."""
    if problem.backend == "jax":
        return lambda z: problem.initial_condition(z[:-1])
    return lambda z: problem.initial_condition(z[:, :-1])


@pytest.mark.parametrize("name", NAMES)
def test_extra_loss_vanishes_on_the_known_data(name):
    """The soft boundary / initial terms are zero for the function they fit."""
    for backend, key in (("jax", jax.random.key(0)), ("torch", torch.Generator().manual_seed(0))):
        problem = problems.get(name, valid_dims(name, limit=1)[0], backend=backend)
        if name.endswith("semilinear"):
            u = _initial_as_model(problem)
        else:
            u = problem.exact
        assert float(problem.extra_loss(u, key)) == pytest.approx(0.0, abs=1e-20)
    if name.endswith("semilinear") or problems.get(name, valid_dims(name, 1)[0]).operator in (
        "laplacian",
        "biharmonic",
        "laplacian-gradient",
    ):
        return
    problem = problems.get(name, valid_dims(name, limit=1)[0])
    assert float(problem.extra_loss(lambda z: problem.exact(z) + 0.1, jax.random.key(0))) > 0


SEEDED = [n for n in NAMES if hasattr(problems.get(n, valid_dims(n, 1)[0]), "coefficients")]


@pytest.mark.parametrize("name", SEEDED)
def test_same_seed_same_problem_different_seed_different(name):
    dim = valid_dims(name, limit=2)[-1]
    a, b, c = (problems.get(name, dim, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.coefficients, b.coefficients)
    assert not np.allclose(a.coefficients, c.coefficients)
    np.testing.assert_array_equal(
        a.coefficients, problems.get(name, dim, seed=7, backend="torch").coefficients
    )
    z = a.sample_domain(jax.random.key(0), 3)
    np.testing.assert_array_equal(jax.vmap(a.exact)(z), jax.vmap(b.exact)(z))
    assert not np.allclose(jax.vmap(a.exact)(z), jax.vmap(c.exact)(z))
    np.testing.assert_array_equal(a.test_set(8)[0], b.test_set(8)[0])
    assert not np.allclose(a.test_set(8)[0], c.test_set(8)[0])
