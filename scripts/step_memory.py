"""XLA's compiled memory analysis of one cell's training step (the CPU memory method), split
into arguments, outputs, temporaries and aliased bytes, without running a step:

    python scripts/step_memory.py 100000 primal-jax stde-jax:restrict sdgd-backward-jax:restrict

Each spec is ``estimator[:restrict]`` on allen-cahn-two-body, |J| = 16.  With
``XLA_FLAGS=--xla_dump_to=DIR`` XLA also writes each step's buffer assignment
(``*jit__step_fn*buffer-assignment.txt``): which arrays share the temporary slab."""

from __future__ import annotations

import sys

from stde_bench.cell import build
from stde_bench.config import TrainConfig


def main(dim: int, specs: list[str]) -> None:
    for spec in specs:
        estimator, _, restrict = spec.partition(":")
        config = TrainConfig(steps=10, samples=16, restrict=bool(restrict), measure="speed")
        _, _, trainer = build("allen-cahn-two-body", estimator, dim, config)
        trainer.compile()
        m = trainer._compiled.memory_analysis()
        parts = (m.argument_size_in_bytes, m.output_size_in_bytes, m.temp_size_in_bytes)
        total = sum(parts) - m.alias_size_in_bytes
        mib = [p / 2**20 for p in (*parts, m.alias_size_in_bytes, total)]
        print(
            f"{spec:32} args {mib[0]:.1f} out {mib[1]:.1f} temp {mib[2]:.1f} "
            f"alias {mib[3]:.1f} = {mib[4]:.1f} MiB"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
