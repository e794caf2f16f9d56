"""Every problem's forcing and residual, proven against nested autodiff (float64, CPU).

- forcing(z) == (L u*)(z), L restated independently in ``helpers.operator_of``;
- residual(u*, z, exact oracle) == 0 (and its gradient part, where there is one);
- residual(u, z, exact oracle) == (L u)(z) - f(z) for a smooth u that is not a solution,
  and the gradient-enhanced part equals the autodiff gradient of that residual.
Parameterized over ``problems.names()``: a new problem is tested automatically.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import problems
from tests.problems.helpers import operator_of, oracle, smooth_function, valid_dims

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

SEEDS = (0, 1)
# Two small dimensions per problem, one per seed (problems with a single valid dimension
# have no seeded coefficients and get one case).  Compilation dominates the runtime.
CASES = [
    (name, d, s) for name in problems.names() for d, s in zip(valid_dims(name), SEEDS, strict=False)
]
# The non-solution check (heavier: gradients of Hessians) runs once per problem, at the
# larger of its dimensions.
ONE_CASE = list({name: (name, d, s) for name, d, s in CASES}.values())
N_POINTS = 3


def _points(problem, seed):
    return problem.sample_domain(jax.random.key(100 + seed), N_POINTS)


def _close(actual, expected, rtol=1e-9):
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _index(problem):
    """A few sampled coordinates for gradient-enhanced oracles (first, last, second)."""
    return [0, problem.dim - 1, min(1, problem.dim - 1)]


@pytest.mark.parametrize(("name", "dim", "seed"), CASES)
def test_forcing_is_operator_of_exact_solution(name, dim, seed):
    problem = problems.get(name, dim, seed=seed)
    z = _points(problem, seed)
    if name.endswith("semilinear"):  # no closed form; the equation has no forcing
        _close(jax.vmap(problem.forcing)(z), np.zeros(N_POINTS))
        with pytest.raises(NotImplementedError, match="reference_value"):
            problem.exact(z[0])
        return
    expected = jax.jit(jax.vmap(operator_of(problem, problem.exact)))(z)
    _close(jax.jit(jax.vmap(problem.forcing))(z), expected)


def _residual_parts(problem, u, z, index):
    out = jax.jit(jax.vmap(lambda p: problem.residual(u, p, oracle(problem, index))))(z)
    return out if isinstance(out, tuple) else (out, None)


def _independent_residual(problem, u):
    lhs = operator_of(problem, u)
    return lambda p: lhs(p) - problem.forcing(p)


@pytest.mark.parametrize(("name", "dim", "seed"), CASES)
def test_residual_vanishes_at_exact_solution(name, dim, seed):
    problem = problems.get(name, dim, seed=seed)
    if name.endswith("semilinear"):
        pytest.skip("no closed-form solution: covered by the smooth-function test")
    z = _points(problem, seed)
    r, dr = _residual_parts(problem, problem.exact, z, _index(problem))
    scale = float(np.abs(jax.vmap(problem.forcing)(z)).max())
    _close(r, np.zeros_like(r), rtol=1e-9 * max(1.0, scale))
    if dr is not None:
        _close(dr, np.zeros_like(dr), rtol=1e-9 * max(1.0, scale))


@pytest.mark.parametrize(("name", "dim", "seed"), ONE_CASE)
def test_residual_formula_on_a_non_solution(name, dim, seed):
    problem = problems.get(name, dim, seed=seed)
    u = smooth_function(problem)
    z = _points(problem, seed)
    index = _index(problem)
    r, dr = _residual_parts(problem, u, z, index)
    residual = _independent_residual(problem, u)
    _close(r, jax.jit(jax.vmap(residual))(z))
    assert float(jnp.abs(r).max()) > 1e-3  # the check is not vacuous
    if problem.operator == "laplacian-gradient":
        _close(dr, jax.jit(jax.vmap(lambda p: jax.grad(residual)(p)[jnp.asarray(index)]))(z))
    elif dr is not None:  # gradient-enhanced high-order: (∂_x R, ∂_t R)
        _close(dr, jax.jit(jax.vmap(jax.grad(residual)))(z))
