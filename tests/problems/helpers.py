"""Shared test helpers: small valid dimensions, nested-autodiff oracles and an independent
statement of every problem's operator (written from docs/protocol.md §1, not from the problems).

The oracles are plain nested JAX autodiff (no ``estimators`` import): directional
derivatives by nested ``jax.jvp``, Laplacians as traces of ``jax.hessian``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import problems

CANDIDATE_DIMS = (1, 2, 3, 4, 5, 6, 10)


class LaplacianGradient(NamedTuple):
    """Same fields as ``estimators.base.LaplacianGradient`` (duck-typed)."""

    laplacian: Any
    index: Any
    grad_laplacian: Any
    grad: Any


def valid_dims(name: str, limit: int = 2) -> list[int]:
    """The ``limit`` smallest dimensions ``problems.get`` accepts for ``name``."""
    dims = []
    for d in CANDIDATE_DIMS:
        try:
            problems.get(name, d)
        except ValueError:
            continue
        dims.append(d)
    return dims[:limit]


# --- nested autodiff -------------------------------------------------------------------


def d_along(f, j: int):
    """z -> ∂f/∂z_j by a forward-mode JVP along e_j."""

    def g(z):
        return jax.jvp(f, (z,), (jnp.zeros_like(z).at[j].set(1.0),))[1]

    return g


def partial(f, alpha: tuple[int, ...]):
    """z -> ∂^alpha f(z) by nested JVPs."""
    for j, order in enumerate(alpha):
        for _ in range(order):
            f = d_along(f, j)
    return f


def laplacian(f, n: int | None = None):
    """z -> sum_{i < n} ∂_ii f(z) (all coordinates when n is None) from the full Hessian."""

    def g(z):
        h = jax.hessian(f)(z)
        m = h.shape[0] if n is None else n
        return jnp.trace(h[:m, :m])

    return g


def oracle(problem, index=None):
    """An exact ``estimate(g, x)`` for ``problem.operator`` by nested autodiff."""
    op = problem.operator
    if op == "laplacian":
        return lambda g, x: laplacian(g)(x)
    if op == "biharmonic":
        return lambda g, x: laplacian(laplacian(g))(x)
    if op == "partials":
        return lambda g, x: jnp.stack([partial(g, a)(x) for a in problem.alphas])
    if op == "laplacian-gradient":
        idx = jnp.asarray(index)

        def lg(g, x):
            lap = laplacian(g)
            return LaplacianGradient(lap(x), idx, jax.grad(lap)(x)[idx], jax.grad(g)(x)[idx])

        return lg
    raise AssertionError(f"no oracle for {op!r}")


# --- every operator, restated independently ---------------------------------------------


def nonlinearity(name: str, d: int):
    """N(u) of the problem family, from docs/protocol.md §1.1 / 1.2."""
    if name.startswith("poisson"):
        return lambda u: 0.0 * u
    if name.startswith("allen-cahn"):
        return lambda u: u - u**3
    if name == "sine-gordon-semilinear":
        return lambda u: d * jnp.sin(u / d)
    if name.startswith("sine-gordon"):
        return jnp.sin
    if name == "heat-semilinear":
        return lambda u: (1 - u**2) / (1 + u**2)
    raise AssertionError(name)


def operator_of(problem, u):
    """z -> (L u)(z) for the problem, where R = L u - f (semilinear: u_t - Δ_x u - F(u))."""
    name, d = problem.name, problem.dim

    def dx(f, j):
        return d_along(f, j)

    if name == "biharmonic":
        return laplacian(laplacian(u))
    if name.endswith("semilinear"):
        n_fn = nonlinearity(name, d)
        lap_x = laplacian(u, n=d)
        return lambda z: dx(u, d)(z) - lap_x(z) - n_fn(u(z))
    if name == "kdv-2d":  # u_ty + u_xxxy + 3 (u_y u_x)_x - u_xx + 2 u_yy ; z = (x, y, t)
        prod = lambda z: dx(u, 1)(z) * dx(u, 0)(z)
        return lambda z: (
            partial(u, (0, 1, 1))(z)
            + partial(u, (3, 1, 0))(z)
            + 3 * dx(prod, 0)(z)
            - partial(u, (2, 0, 0))(z)
            + 2 * partial(u, (0, 2, 0))(z)
        )
    if name == "kp-2d":  # u_tx + 6 (u u_x)_x + u_xxxx + 3 u_yy   (σ^2 = 1)
        prod = lambda z: u(z) * dx(u, 0)(z)
        return lambda z: (
            partial(u, (1, 0, 1))(z)
            + 6 * dx(prod, 0)(z)
            + partial(u, (4, 0, 0))(z)
            + 3 * partial(u, (0, 2, 0))(z)
        )
    if name == "gkdv-1d":  # u_t + u u_x + 0.0025 u_xxx ; z = (x, t)
        return lambda z: dx(u, 1)(z) + u(z) * dx(u, 0)(z) + 0.0025 * partial(u, (3, 0))(z)
    n_fn = nonlinearity(name, d)  # inseparable and gPINN: Δu + N(u)
    lap = laplacian(u)
    return lambda z: lap(z) + n_fn(u(z))


def smooth_function(problem):
    """A smooth non-solution u of one point, for residual checks (JAX)."""
    n = problem.input_dim
    w = jnp.linspace(0.3, 1.1, n)
    if problem.name.endswith("semilinear"):
        return lambda z: 0.4 * jnp.sin(z @ w + 0.2) + 0.1 * (z[:-1] ** 2).sum() * z[-1]
    return lambda z: problem.exact(z) + 0.3 * jnp.sin(z @ w + 0.5)
