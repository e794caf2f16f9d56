"""XLA's CPU schedulers side by side: each spec's step under the suite's memory-minimizing
scheduler and under XLA's default, concurrency-optimized one, in alternating processes
(``XLA_FLAGS`` is read once per process):

    python scripts/scheduler_ab.py 100000 primal-jax stde-jax:restrict stde-jax

Each spec is ``estimator[:restrict]`` on allen-cahn-two-body, |J| = 16, N_r = 100.  Per
process and spec: two warm-up steps, then ``--steps`` (3) synchronized steps timed, with
the minor page faults they took (``getrusage``) and XLA's compiled memory total.  A
diagnostic beside the sweeps, not a benchmark: compare the ratios within one round.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

from stde_core.xla import MEMORY_SCHEDULER

SCHEDULERS = {"memory": MEMORY_SCHEDULER, "default": MEMORY_SCHEDULER.replace("false", "true")}


def measure(dim: int, specs: list[str], steps: int) -> None:
    """In this process: one line per spec (s/step, minor faults/step, memory MiB)."""
    from stde_bench.cell import build
    from stde_bench.config import TrainConfig

    for spec in specs:
        estimator, _, restrict = spec.partition(":")
        config = TrainConfig(steps=10, samples=16, restrict=bool(restrict), measure="speed")
        _, _, trainer = build("allen-cahn-two-body", estimator, dim, config)
        trainer.compile()
        mib, _ = trainer.memory_mb()  # the cells' CPU memory method
        for _ in range(2):
            trainer.sync(trainer.step())
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for _ in range(steps):
            out = trainer.step()
        trainer.sync(out)
        seconds = (time.perf_counter() - start) / steps
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
        print(
            f"{spec:32} {seconds:7.3f} s/step  {faults * 4096 / 2**20:7.0f} MiB faulted/step"
            f"  memory {mib:8.1f} MiB",
            flush=True,
        )
        del trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dim", type=int)
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return measure(args.dim, args.specs, args.steps)
    for round_ in range(1, args.rounds + 1):
        for name, flag in SCHEDULERS.items():
            print(f"# round {round_}, scheduler {name} ({flag})", flush=True)
            env = {**os.environ, "XLA_FLAGS": flag, "TF_CPP_MIN_LOG_LEVEL": "2"}
            cmd = [sys.executable, __file__, str(args.dim), *args.specs, "--child"]
            subprocess.run([*cmd, "--steps", str(args.steps)], env=env, check=True)


if __name__ == "__main__":
    main()
