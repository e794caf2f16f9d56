"""Training benchmarks, one pair of classes per grid of the active profile
(``STDE_BENCH_PROFILE``: ``smoke`` by default, or ``paper``).

``<Grid>``: a sweep in ``setup_cache`` trains every cell in a fresh process (so its peak
memory is its own) and records it; the ``track_*`` methods report the cell's it/s, peak
memory, compile time, test error (final, minimum; mean over seeds, std over seeds) and
its outcome code.  An OOM/skipped/timed-out cell has status != 0 and no other values.

``<Grid>Step``: asv's own timer on one compiled training step (device-synchronized),
the number ``asv continuous`` and ``asv compare`` track across commits.
"""

from __future__ import annotations

import statistics

from benchmarks.common import (
    PROFILE,
    STATUS_UNIT,
    SWEEP_TIMEOUT,
    SkipNotImplemented,
    mean,
    ok_values,
    run_grid,
    status,
)
from stde_bench.profiles import Grid, cell_config


def training_class(grid: Grid) -> type:
    class Training:
        params = (list(grid.problems), list(grid.estimators), list(grid.dims))
        param_names = ["problem", "estimator", "dim"]
        timeout = SWEEP_TIMEOUT

        def setup_cache(self):
            return run_grid(grid)

        def track_it_per_s(self, records, problem, estimator, dim):
            return mean(ok_values(records, problem, estimator, dim, "it_per_s"))

        track_it_per_s.unit = "it/s"

        def track_peak_memory_mb(self, records, problem, estimator, dim):
            return mean(ok_values(records, problem, estimator, dim, "memory_mb"))

        track_peak_memory_mb.unit = "MB"

        def track_compile_s(self, records, problem, estimator, dim):
            return mean(ok_values(records, problem, estimator, dim, "compile_s"))

        track_compile_s.unit = "s"

        def track_error_final(self, records, problem, estimator, dim):
            return mean(ok_values(records, problem, estimator, dim, "error_final"))

        track_error_final.unit = "relative error"

        def track_error_min(self, records, problem, estimator, dim):
            return mean(ok_values(records, problem, estimator, dim, "error_min"))

        track_error_min.unit = "relative error"

        def track_error_min_std(self, records, problem, estimator, dim):
            values = ok_values(records, problem, estimator, dim, "error_min")
            if len(values) < 2:
                raise SkipNotImplemented("one seed: no spread to report")
            return statistics.pstdev(values)  # ddof = 0, as the released code

        track_error_min_std.unit = "relative error"

        def track_status(self, records, problem, estimator, dim):
            return status(records, problem, estimator, dim)

        track_status.unit = STATUS_UNIT

    Training.__name__ = Training.__qualname__ = grid.name
    return Training


def step_class(grid: Grid) -> type:
    class Step:
        params = (list(grid.problems), list(grid.estimators), list(grid.dims))
        param_names = ["problem", "estimator", "dim"]
        timeout = 1800
        warmup_time = 0.5
        repeat = (3, 20, 30.0)

        def setup(self, problem, estimator, dim):
            from stde_bench.cell import build

            if grid.skip_reason(estimator, dim):
                raise NotImplementedError(grid.skip_reason(estimator, dim))
            try:
                _, _, self.trainer = build(problem, estimator, dim, cell_config(grid, dim, 0))
            except ValueError as err:  # operator not supplied, dimension not taken
                raise NotImplementedError(str(err)) from None
            self.trainer.compile()
            self.trainer.sync(self.trainer.step())

        def time_step(self, problem, estimator, dim):
            self.trainer.sync(self.trainer.step())

    Step.__name__ = Step.__qualname__ = grid.name + "Step"
    return Step


for _grid in PROFILE.grids:
    globals()[_grid.name] = training_class(_grid)
    globals()[_grid.name + "Step"] = step_class(_grid)
del _grid
