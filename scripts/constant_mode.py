"""The relative L2 error of the best *constant* network, u = c · (1 − |x|²), on a problem's
test set: the level at which a run whose network has learned only its constant mode
sits (the plateaus of two-body Allen-Cahn at d = 1000 and 10^4 in the repro-cpu records):

    python scripts/constant_mode.py allen-cahn-two-body 100 1000 10000
"""

from __future__ import annotations

import sys

import jax.numpy as jnp

import problems


def constant_mode_error(problem_name: str, dim: int, seed: int, n_test: int = 20_000) -> float:
    """min_c |c·b − u*| / |u*| with b = ansatz(1, x) over the test points (least squares)."""
    problem = problems.get(problem_name, dim, seed=seed)
    x, u = problem.test_set(n_test)
    b = problem.ansatz(jnp.ones(x.shape[0]), x)
    c = (b @ u) / (b @ b)
    return float(jnp.linalg.norm(c * b - u) / jnp.linalg.norm(u))


if __name__ == "__main__":
    name, dims = sys.argv[1], [int(d) for d in sys.argv[2:]]
    for dim in dims:
        for seed in (0, 1):
            error = constant_mode_error(name, dim, seed)
            print(f"{name} d={dim} seed={seed}: best constant network, relative L2 {error:.3e}")
