"""Estimator quality without training: relative bias and standard deviation of the
operator estimate against the exact value, on a fixed random network at fixed points.

For ``n_points`` points z_p and ``n_draws`` independent keys k, with E_pk the estimate
and X_p the exact value (from ``forward-laplacian-jax`` for the Laplacian, ``exact-jax``
for the biharmonic):

    rel_bias = mean_p |mean_k E_pk - X_p| / mean_p |X_p|
    rel_std  = mean_p  std_k E_pk         / mean_p |X_p|

Deterministic estimators have rel_std = 0 and rel_bias at round-off.  The paper leaves
variance to future work; this is the measurement.
"""

from __future__ import annotations

from typing import Any

REFERENCE = {"laplacian": "forward-laplacian-jax", "biharmonic": "exact-jax"}


def measure_quality(
    problem_name: str,
    estimator_name: str,
    dim: int,
    samples: int,
    *,
    n_draws: int = 32,
    n_points: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Returns ``{"rel_bias", "rel_std", "exact_mean_abs", ...}`` or raises ValueError
    (estimator cannot supply the problem's operator, or no exact reference for it)."""
    import jax
    import jax.numpy as jnp

    import estimators
    import problems
    from stde_bench import mlp_jax
    from stde_bench.config import TrainConfig
    from stde_bench.train_jax import model_fn

    estimator = estimators.get(estimator_name, samples=samples)
    if estimator.backend != "jax":
        raise ValueError(
            f"estimator quality is measured on JAX networks; {estimator_name} is "
            f"{estimator.backend} (it computes the same SDGD estimate as sdgd-backward-jax)"
        )
    problem = problems.get(problem_name, dim, seed=seed)
    estimator.require(problem.operator)
    if problem.operator not in REFERENCE:
        raise ValueError(
            f"no exact reference for {problem.operator!r}; quality is measured for "
            f"{', '.join(REFERENCE)}"
        )
    reference = estimators.get(REFERENCE[problem.operator])
    key_net, key_pts, key_draws = jax.random.split(jax.random.key(seed), 3)
    params = mlp_jax.init(key_net, problem.input_dim, TrainConfig().mlp)
    u = model_fn(problem, params)
    points = problem.sample_domain(key_pts, n_points)
    supply = estimator.quantity(problem.operator)
    exact_supply = reference.quantity(problem.operator)

    @jax.jit
    def draws(keys):
        per_key = lambda k: jax.vmap(lambda z: supply(u, z, k))(points)
        return jax.lax.map(per_key, keys)

    values = draws(jax.random.split(key_draws, n_draws))  # (n_draws, n_points)
    exact = jax.jit(jax.vmap(lambda z: exact_supply(u, z, None)))(points)
    scale = jnp.abs(exact).mean()
    return {
        "rel_bias": float(jnp.abs(values.mean(0) - exact).mean() / scale),
        "rel_std": float(values.std(0, ddof=1).mean() / scale),
        "exact_mean_abs": float(scale),
        "n_draws": n_draws,
        "n_points": n_points,
        "reference": reference.name,
    }
