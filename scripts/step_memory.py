"""XLA's compiled memory analysis of one cell's training step (the CPU memory method), split
into arguments, outputs, temporaries and aliased bytes, without running a step:

    python scripts/step_memory.py 100000 primal-jax stde-jax:restrict sdgd-backward-jax:restrict

Each spec is ``estimator[:restrict]`` on allen-cahn-two-body, |J| = 16.  The total is what
the CPU executable allocates: XLA packs all temporaries into one slab, so it includes the
packing's gaps.  Beside it, ``live`` is the peak of the bytes actually live at one point
of the step's schedule (XLA's live-range analysis, read from the dump XLA writes to a
temporary folder; arguments included), so the two tell data from packing.  ``live``
covers the step's entry computation only: where large temporaries live inside nested
computations it undercounts (faithful stde-jax under XLA's memory-minimizing scheduler:
live 261 of 871 MiB at 10^5), so read it beside the total.

The scheduler sets the packing.  The suite compiles with XLA's memory-minimizing CPU
scheduler (``stde_core/xla.py``): there the floor and every restricted step have
the same total, 233.9 MiB at 10^5 and 2335.0 MiB at 10^6 (299.5 and 2991.1 before the
samplers drew their normals row by row, code 5c433ba).  Under XLA's default,
concurrency-optimized one
(``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=true``, which every CPU
record before that setting was measured with) they read 379.4 and 424.6-438.1
(results/diagnostics/cpu-epyc-2core-step-memory-schedulers.txt).  With
``XLA_FLAGS=--xla_dump_to=DIR`` set by hand, XLA writes there instead, with each step's
buffer assignment (``*jit__step_fn*buffer-assignment.txt``: which arrays share the slab)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

DUMP = None
if "--xla_dump_to" not in os.environ.get("XLA_FLAGS", ""):  # before jax starts
    DUMP = Path(tempfile.mkdtemp(prefix="step-memory-"))
    flags = f"--xla_dump_to={DUMP} --xla_dump_hlo_module_re=.*step_fn.*"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()

from stde_bench.cell import build  # noqa: E402
from stde_bench.config import TrainConfig  # noqa: E402

PEAK = re.compile(r"Stack trace breakdown for peak usage: ([\d ]+) bytes")


def live_peak_mib(before: set[Path]) -> float | None:
    """The newest step's peak of live bytes from its live-range dump (None: no dump)."""
    if DUMP is None:
        return None
    new = set(DUMP.glob("*step_fn*after_optimizations-live-range.txt")) - before
    for path in new:
        found = PEAK.search(path.read_text())
        if found:
            return int(found.group(1).replace(" ", "")) / 2**20
    return None


def main(dim: int, specs: list[str]) -> None:
    for spec in specs:
        estimator, _, restrict = spec.partition(":")
        config = TrainConfig(steps=10, samples=16, restrict=bool(restrict), measure="speed")
        _, _, trainer = build("allen-cahn-two-body", estimator, dim, config)
        before = set(DUMP.glob("*")) if DUMP else set()
        trainer.compile()
        m = trainer._compiled.memory_analysis()
        parts = (m.argument_size_in_bytes, m.output_size_in_bytes, m.temp_size_in_bytes)
        total = sum(parts) - m.alias_size_in_bytes
        mib = [p / 2**20 for p in (*parts, m.alias_size_in_bytes, total)]
        live = live_peak_mib(before)
        print(
            f"{spec:32} args {mib[0]:.1f} out {mib[1]:.1f} temp {mib[2]:.1f} "
            f"alias {mib[3]:.1f} = {mib[4]:.1f} MiB"
            + (f"; live peak {live:.1f} MiB" if live is not None else "")
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
