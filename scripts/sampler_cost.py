"""The ball sampler alone, drawn row by row (``NormalRows``, the suite's) against JAX's
whole draw (``jax.random.normal(key, (n, d))``, the suite before code 5c433ba): XLA's
temporaries and the seconds per draw, after compilation, in one process:

    python scripts/sampler_cost.py 100000 1000000

Both draw the same normals bit for bit (``tests/problems/test_sampling.py``); n = 100
points (the paper's N_r), radius-uniform, float32.  Seconds: the minimum of 5 draws.
"""

from __future__ import annotations

import sys
import time

from stde_core.xla import configure_xla_cpu

configure_xla_cpu()  # the suite's CPU settings, before JAX starts its backend

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from problems.sampling import RandomSource, ball  # noqa: E402

N = 100


def whole_ball(key: jax.Array, d: int) -> jax.Array:
    """The ball as the suite drew it before: all n·d normals at once."""
    source = RandomSource("jax", key)
    normals = source.normal((N, d))
    radius = source.uniform((N,))
    return normals * (radius / jnp.sqrt((normals * normals).sum(-1)))[:, None]


def row_ball(key: jax.Array, d: int) -> jax.Array:
    return ball(RandomSource("jax", key), N, d, "radius-uniform")


def main(dims: list[int]) -> None:
    for d in dims:
        for name, draw in (("whole", whole_ball), ("rows", row_ball)):
            compiled = jax.jit(draw, static_argnums=1).lower(jax.random.key(0), d).compile()
            temp = compiled.memory_analysis().temp_size_in_bytes / 2**20
            jax.block_until_ready(compiled(jax.random.key(1)))
            seconds = []
            for seed in range(5):
                start = time.perf_counter()
                jax.block_until_ready(compiled(jax.random.key(seed)))
                seconds.append(time.perf_counter() - start)
            print(f"d={d:>8} {name:>5}: temporaries {temp:8.1f} MiB, {min(seconds):.3f} s per draw")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100000, 1000000])
