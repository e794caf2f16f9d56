"""Coordinate restriction (``stde_bench.restrict``): the estimate on f_J is the sampled
estimate on u, exactly in float64; no d-sized array per (point, direction); the
restricted training step is the unrestricted one; unsupported cells are clear errors.

Parameterized over the registry: a JAX estimator registered tomorrow is tested here too.
References are nested autodiff on the full model u (float64, tests/conftest.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimators
import problems
from estimators.gpinn_pairs import gradient_pairs
from estimators.sampling import index_set
from stde_bench import mlp_jax, restrict
from stde_bench.config import TrainConfig
from stde_bench.mlp import MLPConfig
from stde_bench.train_jax import JaxTrainer, bind_estimate, model_fn

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

RTOL = 1e-10
SAMPLES = 4
#: |J| for laplacian-gradient: the estimator runs |J|^2 pairs on f_J (compile time)
GRADIENT_SAMPLES = 3


def _jax_ids(operator: str) -> list[str]:
    return [
        n
        for n in estimators.supporting(operator)
        if estimators.REGISTRY.factory(n).backend == "jax"
    ]


def _restrictable(operator: str) -> list[str]:
    """JAX estimators of ``operator`` that restriction runs (exact with all coordinates)."""
    return [
        n
        for n in _jax_ids(operator)
        if estimators.REGISTRY.factory(n).exact_with_all_samples
        and not estimators.REGISTRY.factory(n).floor
    ]


LAPLACIAN = _restrictable("laplacian")
LAPLACIAN_GRADIENT = _restrictable("laplacian-gradient")
# (problem, dim, block): plain and weight-shared first layer; the semilinear input has time
# last, so d + 1 = 11 is one block holding every sampled coordinate (repeated blocks).
LAPLACIAN_CASES = [
    ("allen-cahn-two-body", 12, None),
    ("allen-cahn-two-body", 12, 3),
    ("heat-semilinear", 10, None),
    ("allen-cahn-semilinear", 10, 11),
]
GRADIENT_CASES = [("allen-cahn-two-body-gpinn", 7, None), ("sine-gordon-two-body-gpinn", 8, 2)]


@functools.cache
def _case(name: str, dim: int, block: int | None, width: int = 8):
    """(problem, params, z, key): a random network (float64) and one domain point."""
    problem = problems.get(name, dim)
    params = mlp_jax.init(
        jax.random.key(dim), problem.input_dim, MLPConfig(width=width, block=block)
    )
    z = problem.sample_domain(jax.random.key(dim + 1), 1)[0]
    return problem, params, z, jax.random.key(7)


def _spatial(problem, u, z):
    """(g, x): the model as a function of z's spatial coordinates, and those coordinates."""
    if not problem.time_dependent:
        return u, z
    return (lambda x: u(jnp.concatenate([x, z[-1:]]))), z[:-1]


def _restricted(problem, estimator, params, key, z):
    g, x = _spatial(problem, model_fn(problem, params), z)
    _, estimate = restrict.bind(problem, estimator, params, key)(model_fn(problem, params), z)
    return estimate(g, x)


def _unrestricted(problem, estimator, params, key, z):
    g, x = _spatial(problem, model_fn(problem, params), z)
    return bind_estimate(problem, estimator, key)(g, x)


def _close(got, expected, label=""):
    expected = np.asarray(expected)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale, err_msg=label)


# --- the estimate ----------------------------------------------------------------------------


def test_the_registry_has_estimators_to_restrict():
    assert {"stde-jax", "sdgd-parallel-jax", "forward-laplacian-jax"} <= set(LAPLACIAN)
    assert {"stde-jax", "jvp-hvp-jax"} <= set(LAPLACIAN_GRADIENT)


@pytest.mark.parametrize("case", LAPLACIAN_CASES, ids=lambda c: f"{c[0]}-B{c[2]}")
@pytest.mark.parametrize("name", LAPLACIAN)
def test_restricted_laplacian_is_the_sampled_estimate(name, case):
    """(d/|J|) Δf_J(z_J) = (d/|J|) sum_{j in J} ∂_jj u(z): equal to the estimator's own
    estimate on u for the same key (sampled estimators) and to nested autodiff."""
    problem, params, z, key = _case(*case)
    estimator = estimators.get(name, samples=SAMPLES)
    got = jax.jit(lambda z: _restricted(problem, estimator, params, key, z))(z)
    index, scale = index_set(key, problem.dim, SAMPLES)
    g, x = _spatial(problem, model_fn(problem, params), z)
    hessian = jax.hessian(g)(x)
    _close(got, scale * jnp.diag(hessian)[index].sum(), "nested autodiff")
    if estimator.stochastic:  # the same J as the unrestricted estimator draws
        _close(got, jax.jit(lambda z: _unrestricted(problem, estimator, params, key, z))(z))


def _third_derivatives(g, x):
    """T[i, j, k] = ∂_ijk g(x) by nested forward mode."""
    return jax.jacfwd(jax.jacfwd(jax.jacfwd(g)))(x)


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: f"{c[0]}-B{c[2]}")
@pytest.mark.parametrize("name", LAPLACIAN_GRADIENT)
@pytest.mark.slow  # jets of the gPINN problems, restricted and not
def test_restricted_laplacian_gradient(name, case):
    """Laplacian: the unrestricted estimate for the same key.  Gradient part, for j in J:
    u_jjj + (d-1)/(K-1) (sum_{i in J} u_iij - u_jjj) and u_j (see stde_bench.restrict)."""
    problem, params, z, key = _case(*case)
    estimator = estimators.get(name, samples=GRADIENT_SAMPLES)
    got = jax.jit(lambda z: _restricted(problem, estimator, params, key, z))(z)
    unrestricted = jax.jit(lambda z: _unrestricted(problem, estimator, params, key, z))(z)
    _close(got.laplacian, unrestricted.laplacian, "laplacian")

    u, d = model_fn(problem, params), problem.dim
    index = gradient_pairs(key, d, GRADIENT_SAMPLES)[0]
    np.testing.assert_array_equal(np.sort(got.index), np.sort(index))
    third = _third_derivatives(u, z)
    j = np.asarray(got.index)
    in_j = third[np.asarray(index)[:, None], np.asarray(index)[:, None], j[None, :]].sum(0)
    diagonal = third[j, j, j]
    expected = diagonal + (d - 1) / (GRADIENT_SAMPLES - 1) * (in_j - diagonal)
    _close(got.grad_laplacian, expected, "grad_laplacian")
    _close(got.grad, jax.grad(u)(z)[j], "grad")


@pytest.mark.slow  # statistical: many sampled estimates
def test_restricted_gradient_laplacian_is_unbiased():
    """Mean over keys of the estimate at each coordinate j within 4 standard errors of
    ∂_jΔu (the plain rescaling (d/K) ∂_jΔ_J u would fail: it overweights u_jjj).

    The formula is restriction's, not the estimator's (every estimator gives the same
    values: test_restricted_laplacian_gradient), so one estimator, the fastest to
    compile, proves it."""
    name = "jvp-hvp-jax"
    problem, params, z, _ = _case("allen-cahn-two-body-gpinn", 5, None, width=6)
    estimator = estimators.get(name, samples=2)
    keys = jax.random.split(jax.random.key(3), 1500)
    out = jax.jit(jax.vmap(lambda k: _restricted(problem, estimator, params, k, z)))(keys)
    u = model_fn(problem, params)
    exact_laplacian = jnp.trace(jax.hessian(u)(z))
    exact = jax.grad(lambda x: jnp.trace(jax.hessian(u)(x)))(z)
    third = _third_derivatives(u, z)
    index, values = np.asarray(out.index).ravel(), np.asarray(out.grad_laplacian).ravel()
    d, k = problem.dim, 2
    detectable = []
    for j in range(d):
        v = values[index == j]
        stderr = v.std(ddof=1) / np.sqrt(v.size)
        assert abs(v.mean() - exact[j]) < 4 * stderr, (j, v.mean(), exact[j], stderr)
        # E[(d/K) ∂_jΔ_J u | j in J] = (d/K) u_jjj + (d/K)(K-1)/(d-1) (∂_jΔu - u_jjj)
        plain = d / k * third[j, j, j] + d / k * (k - 1) / (d - 1) * (exact[j] - third[j, j, j])
        detectable.append(abs(plain - exact[j]) / stderr)
    assert max(detectable) > 8, "the test cannot tell the plain rescaling from the unbiased one"
    lap = np.asarray(out.laplacian)
    assert abs(lap.mean() - exact_laplacian) < 4 * lap.std(ddof=1) / np.sqrt(lap.size)


def test_restricted_ansatz_is_the_ansatz_at_the_point():
    """Every problem: restricted_ansatz with y = z_J is ansatz at z (a family that overrides
    ``ansatz`` must override ``restricted_ansatz`` too)."""
    for name in problems.names():
        dim = (
            10
            if name.endswith("semilinear")
            else {"kdv-2d": 2, "kp-2d": 2, "gkdv-1d": 1}.get(name, 6)
        )
        problem = problems.get(name, dim)
        z = problem.sample_domain(jax.random.key(0), 1)[0]
        index = jnp.arange(0, dim, 2)
        rest = problem.restriction_rest(z, index)
        _close(problem.restricted_ansatz(0.7, rest, z[index]), problem.ansatz(0.7, z), name)


# --- no d-sized array per (point, direction) ----------------------------------------------


def _shapes(jaxpr):
    """Every array shape in a jaxpr and its sub-jaxprs (scan, pjit, custom_jvp ...)."""
    for var in [*jaxpr.invars, *jaxpr.outvars, *jaxpr.constvars]:
        yield getattr(var.aval, "shape", ())
    for eqn in jaxpr.eqns:
        for var in [*eqn.invars, *eqn.outvars]:
            yield getattr(var.aval, "shape", ())
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _shapes(inner)


def _per_direction(shapes, samples: int, dim: int):
    return sorted({s for s in shapes if samples in s and dim in s})


# d, |J|, width, points and jet orders all distinct, so an axis's length says what it is
@pytest.mark.parametrize(
    "problem_name,name,block",
    [("allen-cahn-two-body", n, b) for n in LAPLACIAN for b in (None, 4)]
    + [("allen-cahn-two-body-gpinn", n, None) for n in LAPLACIAN_GRADIENT],
)
def test_no_array_per_point_and_direction_is_d_sized(problem_name, name, block):
    """The jaxpr of the restricted loss gradient holds no array with both a |J| axis and
    a d axis (e.g. one-hot tangents (N, |J|, d)); the paper's step does."""
    dim, samples = 44, 5
    problem = problems.get(problem_name, dim)
    config = TrainConfig(samples=samples, n_residual=3, width=6, block=block)

    def shapes(restricted: bool):
        estimator = estimators.get(name, samples=samples)
        trainer = JaxTrainer(problem, estimator, config.replace(restrict=restricted))
        grad = jax.grad(trainer.loss)
        return list(_shapes(jax.make_jaxpr(grad)(trainer.params, jax.random.key(0)).jaxpr))

    restricted = shapes(True)
    assert not _per_direction(restricted, samples, dim)
    if block:  # nor a (|J|, d/B) one: a sampled coordinate moves one block
        assert not _per_direction(restricted, samples, dim // block)
    if estimators.get(name).stochastic:  # the test can fail: the paper's step has them
        assert _per_direction(shapes(False), samples, dim)


# --- the training step ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "problem_name,dim,block,name,unbiased",
    [
        ("allen-cahn-two-body", 9, None, "stde-jax", False),
        ("allen-cahn-two-body", 9, 3, "sdgd-parallel-jax", True),
        ("heat-semilinear", 10, None, "stde-jax", False),
        ("sine-gordon-semilinear", 10, 11, "sdgd-fwd-over-bwd-jax", False),
    ],
)
@pytest.mark.slow  # two losses and their gradients
def test_restricted_loss_and_gradient_equal_the_unrestricted(
    problem_name, dim, block, name, unbiased
):
    """Same seed, same key: the same points, J, loss and parameter gradient."""
    config = TrainConfig(samples=3, n_residual=4, width=8, block=block, unbiased=unbiased)
    problem = problems.get(problem_name, dim)
    value_and_grad = {}
    for restricted in (False, True):
        trainer = JaxTrainer(
            problem, estimators.get(name, samples=3), config.replace(restrict=restricted)
        )
        value_and_grad[restricted] = jax.jit(jax.value_and_grad(trainer.loss))(
            trainer.params, jax.random.key(2)
        )
    (loss, grads), (loss_r, grads_r) = value_and_grad[False], value_and_grad[True]
    np.testing.assert_allclose(loss_r, loss, rtol=1e-8)
    for g_r, g in zip(jax.tree.leaves(grads_r), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(g_r, g, rtol=1e-8, atol=1e-8 * np.abs(g).max())
    assert np.abs(jax.tree.leaves(grads)[-1]).max() > 0


@pytest.mark.slow  # a training cell
def test_restricted_gpinn_step_trains():
    """The gPINN loss has no unrestricted twin (module docstring): its steps run and move."""
    config = TrainConfig(steps=3, samples=2, n_residual=3, width=6, restrict=True)
    problem = problems.get("allen-cahn-two-body-gpinn", 5)
    trainer = JaxTrainer(problem, estimators.get("jvp-hvp-jax", samples=2), config)
    losses = [float(trainer.sync(trainer.step())) for _ in range(3)]
    assert np.all(np.isfinite(losses)) and losses[0] != losses[-1]


# --- what restriction refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "problem_name,dim,name,samples,fragment",
    [
        ("biharmonic", 4, "hte-jax", 2, "unbiased biharmonic"),
        ("kdv-2d", 2, "stde-jax", 2, "sample no coordinates"),
        ("allen-cahn-two-body", 5, "hte-jax", 2, "not exact on f_J"),
        ("allen-cahn-two-body", 5, "primal-jax", 2, "floor"),
        ("allen-cahn-two-body-gpinn", 5, "stde-jax", 1, "samples >= 2"),
    ],
)
def test_unsupported_restriction_is_a_clear_error(problem_name, dim, name, samples, fragment):
    config = TrainConfig(samples=samples, width=8, restrict=True)
    problem, estimator = problems.get(problem_name, dim), estimators.get(name, samples=samples)
    with pytest.raises(ValueError, match=fragment) as err:
        JaxTrainer(problem, estimator, config)
    assert "restrict" in str(err.value)
    JaxTrainer(problem, estimator, config.replace(restrict=False))  # the paper's step runs


def test_a_torch_estimator_is_refused():
    torch_ids = [
        n for n in estimators.supporting("laplacian") if estimators.get(n).backend == "torch"
    ]
    problem = problems.get("allen-cahn-two-body", 5)
    for name in torch_ids:
        with pytest.raises(ValueError, match="JAX harness"):
            restrict.check(problem, estimators.get(name))
