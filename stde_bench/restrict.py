r"""Coordinate restriction: a sampled estimate from the network restricted to the step's J.

Ours, not the paper's (``TrainConfig.restrict``, ``--restrict``).  For the index set J of
one step (|J| = K, drawn once per step as the estimators draw it) and one point z, let

    f_J(y) = u(z with the spatial coordinates J replaced by y),     y in R^K.

Then ∂_jj u(z) = ∂²f_J/∂y_j²(z_J) for j in J, so the sampled Laplacian is

    (d/K) sum_{j in J} ∂_jj u(z) = (d/K) Δf_J(z_J),

and any estimator that is exact with all of its coordinates (``samples >= K``: the SDGD
family, STDE, the Forward Laplacian, exact-jax) gives, on f_J, the same estimate as the
sampled estimators give on u for the same J, up to float rounding (tested to 1e-10).
f_J never forms a d-sized array per (point, direction) (``stde_bench.mlp_jax.restrict``):

    first-layer pre-activation  a(y) = [W1ᵀz + b1 - W1[J]ᵀz_J] + W1[J]ᵀy   (bracket once per point)
    ball ansatz                 |x|² = [|z|² - |z_J|²] + |y|²            (``restricted_ansatz``)

so beyond the network's own step it costs what the estimator costs on a K-dimensional
function: O(K · width) per point instead of O(K · d).  The brackets are computed before
f_J is built: f_J closes over them, so an estimator that calls it K times in sequence
(sdgd-backward-jax's scan of HVPs) never repeats an O(d) reduction.

Gradient-enhanced PINNs (``laplacian-gradient``).  The Laplacian is the one above, with
J the ``i`` draw of ``estimators.gpinn_pairs.gradient_pairs`` (so it equals the unrestricted
estimators' Laplacian for the same key).  The gradient coordinates are J itself, and
∂_jΔu for j in J is estimated from f_J's exact ∂_jΔ_J u = sum_{i in J} u_iij and the
one-coordinate u_jjj (the estimator on y_j -> f_J, all other coordinates fixed):

    ∂_jΔu  ≈  u_jjj + (d - 1)/(K - 1) · (∂_jΔ_J u - u_jjj),

unbiased because, given j in J, J \ {j} is a uniform (K-1)-subset of the other d - 1
coordinates, so E[sum_{i in J, i != j} u_iij] = (K-1)/(d-1) sum_{i != j} u_iij; exact for
K = d.  (The plain rescaling (d/K) ∂_jΔ_J u is biased: it weighs u_jjj by d/K.)  This
differs from the unrestricted estimators, which pair each i_k with an independent j_k: a
pair's u_{i i j} cannot be read from f_J's quantities, so only the Laplacian agrees key by
key; both estimates are unbiased, and the gradient entries u_j are exact in both.

Refused, with the reason (``check``): the operators ``biharmonic`` (Δ²f_J sums the K²
pairs i, j in J; the diagonal pairs would need the factor d/K, the others
d(d-1)/(K(K-1)), so no rescaling of Δ²f_J is unbiased) and ``partials`` (the low-dimensional
high-order problems sample no coordinates); estimators that are not exact with all
coordinates (``hte-jax``: its Rademacher directions on f_J estimate something else than it
does on u); the floor ``primal-jax`` (nothing to restrict); and non-JAX estimators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from estimators.base import Estimator, LaplacianGradient
from estimators.gpinn_pairs import gradient_pairs
from estimators.sampling import index_set
from problems.base import Problem
from stde_bench import mlp_jax

#: operator -> why coordinate restriction does not apply to it
REFUSED_OPERATORS = {
    "biharmonic": (
        "restricting to J does not rescale to an unbiased biharmonic: Δ²f_J sums the "
        "|J|² pairs (i, j) in J, and the pairs i = j would need the factor d/|J|, the "
        "pairs i != j the factor d(d-1)/(|J|(|J|-1))"
    ),
    "partials": (
        "the low-dimensional high-order problems sample no coordinates, so there is "
        "nothing to restrict"
    ),
}
SUPPORTED_OPERATORS = ("laplacian", "laplacian-gradient")


def check(problem: Problem, estimator: Estimator) -> None:
    """ValueError, saying why and what to do, unless the step can be restricted."""
    fix = "run it without --restrict (restrict=False)"
    if problem.operator in REFUSED_OPERATORS:
        raise ValueError(
            f"coordinate restriction cannot run {problem.name} (operator "
            f"{problem.operator!r}): {REFUSED_OPERATORS[problem.operator]}; {fix}"
        )
    if problem.operator not in SUPPORTED_OPERATORS:
        raise ValueError(
            f"coordinate restriction supports the operators {', '.join(SUPPORTED_OPERATORS)}, "
            f"not {problem.operator!r} ({problem.name}); {fix}"
        )
    if estimator.backend != "jax":
        raise ValueError(
            f"coordinate restriction is built on the JAX harness; {estimator.name!r} is a "
            f"{estimator.backend} estimator: use a JAX estimator or {fix}"
        )
    if estimator.floor:
        raise ValueError(
            f"{estimator.name!r} is the floor (no derivative): restriction would change "
            f"nothing; {fix}"
        )
    if not estimator.exact_with_all_samples:
        raise ValueError(
            f"{estimator.name!r} has no coordinate-sampling meaning: it is not exact on f_J "
            f"even with all |J| coordinates, so restricted it would estimate something else "
            f"than it does unrestricted; use an index-set or exact estimator, or {fix}"
        )
    estimator.require(problem.operator)
    samples = min(estimator.samples, problem.dim)
    if problem.operator == "laplacian-gradient" and samples < min(2, problem.dim):
        raise ValueError(
            f"restricted {problem.operator!r} needs samples >= 2 (it estimates ∂_jΔu from "
            f"the other sampled coordinates), got samples={estimator.samples}"
        )


def step_index(problem: Problem, samples: int, key: jax.Array) -> jax.Array:
    """J for one step, ``(K,)`` with K = min(samples, d): the draw the unrestricted
    estimators make from the same key (``index_set``; for ``laplacian-gradient`` the ``i``
    of ``gradient_pairs``)."""
    if problem.operator == "laplacian-gradient":
        return gradient_pairs(key, problem.dim, samples)[0]
    return index_set(key, problem.dim, samples)[0]


def restrict(
    problem: Problem, params: Any, index: jax.Array, z: jax.Array
) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    """``(f_J, z_J)``: the model u = ansatz(NN) at z as a function of the coordinates
    ``index`` only, ``f_J: (K,) -> ()``, and where to evaluate it, ``z_J: (K,)``.

    ``z: (input_dim,)`` one point (time last, never in ``index``); ``params`` the MLP's.
    """
    network, rest = mlp_jax.restrict(params, z, index), problem.restriction_rest(z, index)
    return lambda y: problem.restricted_ansatz(network(y), rest, y), z[index]


def restricted_quantity(
    problem: Problem,
    estimator: Estimator,
    f: Callable[[jax.Array], jax.Array],
    y: jax.Array,
    index: jax.Array,
    key: jax.Array,
) -> Any:
    """The problem's sampled quantity of u from the estimator's full quantity of f = f_J
    at y = z_J (see the module docstring): a scalar Laplacian, or a ``LaplacianGradient``
    whose ``index`` holds coordinates of u (J), not of f_J."""
    dim, samples = problem.dim, y.shape[0]
    scale = dim / samples
    if problem.operator == "laplacian":
        return scale * estimator.laplacian(f, y, key)
    q = estimator.laplacian_gradient(f, y, key)  # exact: samples >= K
    grad_laplacian = q.grad_laplacian
    if samples < dim:
        third = jax.vmap(lambda m: _third_derivative(estimator, f, y, m, key))(q.index)
        grad_laplacian = third + (dim - 1) / (samples - 1) * (grad_laplacian - third)
    return LaplacianGradient(
        laplacian=scale * q.laplacian,
        index=index[q.index],
        grad_laplacian=grad_laplacian,
        grad=q.grad,
    )


def _third_derivative(estimator: Estimator, f, y: jax.Array, m: jax.Array, key) -> jax.Array:
    """∂³f/∂y_m³ at y: the estimator's ∂Δ of the one-coordinate function t -> f(y, y_m = t)."""
    e_m = jax.nn.one_hot(m, y.shape[0], dtype=y.dtype)
    line = lambda t: f(y + e_m * (t[0] - y[m]))
    return estimator.laplacian_gradient(line, y[m][None], key).grad_laplacian[0]


def bind(
    problem: Problem, estimator: Estimator, params: Any, key: jax.Array
) -> Callable[[Callable[[jax.Array], jax.Array], jax.Array], tuple[Callable, Callable]]:
    """``at(u, z) -> (u_z, estimate)``: what the residual at point z is given.

    J is drawn once here, for the whole step.  The residual of every supported problem
    asks for its quantity of the model u at z's spatial coordinates (``g`` is u, or
    ``x -> u(x, t)``), which is what f_J restricts; so ``g`` is not called.

    ``u_z`` is u, except at z itself, where it reads f_J(z_J) = u(z): then the model's
    value and the estimate share the first layer's pre-activation W1ᵀz (one d-sized
    product per point, forward and backward, as in the floor's step, instead of two).
    The test is by identity of the traced point: a residual that differentiates u near z
    (the semilinear u_t) calls it at another tracer and gets u itself.
    """
    index = step_index(problem, estimator.samples, key)

    def at(u: Callable[[jax.Array], jax.Array], z: jax.Array) -> tuple[Callable, Callable]:
        f, y = restrict(problem, params, index, z)

        def u_z(point: jax.Array) -> jax.Array:
            return f(y) if point is z else u(point)

        def estimate(g: Any, x: jax.Array) -> Any:
            if jnp.shape(x) != (problem.dim,):
                raise ValueError(
                    f"restricted estimate of {problem.name}: expected the spatial point "
                    f"({problem.dim},), got shape {jnp.shape(x)}"
                )
            return restricted_quantity(problem, estimator, f, y, index, key)

        return u_z, estimate

    return at
