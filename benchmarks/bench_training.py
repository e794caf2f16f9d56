"""Training benchmarks: one pair of classes per grid of the active profile
(``STDE_BENCH_PROFILE``: ``smoke`` by default, ``paper``, or ``tiny``).

``<Grid>``: a sweep in ``setup_cache`` trains every cell in a fresh process (so its peak
memory is its own) and records it; the ``track_*`` methods report the cell's it/s, peak
memory, compile time, test error (final, minimum; mean over seeds, std over seeds) and
its outcome code.  An OOM/skipped/timed-out cell has status != 0 and no other values.

``<Grid>Step``: asv's own timer on one compiled training step (device-synchronized),
the number ``asv continuous`` and ``asv compare`` track across commits.

The classes are made from the profile's grids (``training_class``, ``step_class``): a
class exists exactly when the active profile has its grid.
"""

from __future__ import annotations

import statistics
import sys
import time
import types

from benchmarks.common import (
    PROFILE,
    STATUS_UNIT,
    SkipNotImplemented,
    mean,
    ok_values,
    run_grid,
    status,
)
from stde_bench.profiles import Grid, cell_config


def grid_params(grid: Grid) -> tuple[list, list, list]:
    return list(grid.problems), list(grid.estimators), list(grid.dims)


class _Training:
    """The tracked measurements of a grid's cells (``records`` from ``setup_cache``)."""

    param_names = ["problem", "estimator", "dim"]
    timeout = PROFILE.sweep_timeout_s

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


class _PairedFloor:
    """A grid with ``paired_floor``: its cells' it/s ÷ the floor's timed beside them."""

    def track_it_per_s_over_floor(self, records, problem, estimator, dim):
        return mean(ok_values(records, problem, estimator, dim, "it_per_s_over_floor"))

    track_it_per_s_over_floor.unit = "ratio"


_PENDING: list = []  # (sync, output) of the last dispatched step, for ``synced_clock``


def synced_clock() -> float:
    """asv's timer for the Step benchmarks: waits for the last dispatched step
    (``jax.block_until_ready`` / ``torch.cuda.synchronize``) before reading the clock, so a
    sample of ``number`` back-to-back steps is timed like ``stde-bench run`` times a window:
    pipelined steps, one synchronization at the end."""
    while _PENDING:
        sync, out = _PENDING.pop()
        sync(out)
    return time.perf_counter()


class _Step:
    """asv's timer on the training step of a cell: seconds per step, throughput.

    No ``setup``: asv re-runs a setup before every timed sample, which would recompile
    the step each time; the trainer is built and compiled on the first call instead
    (inside asv's warm-up, never in a sample).
    """

    param_names = ["problem", "estimator", "dim"]
    timeout = 1800
    warmup_time = 0.5
    rounds = 1
    repeat = PROFILE.asv_repeat
    timer = staticmethod(synced_clock)
    grid: Grid
    _trainers: dict = {}

    def _trainer(self, problem, estimator, dim):
        from stde_bench.cell import build

        key = (problem, estimator, dim)
        if key not in self._trainers:
            reason = self.grid.skip_reason(estimator, dim)
            if reason:
                raise SkipNotImplemented(reason)
            try:
                _, _, trainer = build(problem, estimator, dim, cell_config(self.grid, dim, 0))
            except ValueError as err:  # operator not supplied, dimension not taken
                raise SkipNotImplemented(str(err)) from None
            trainer.compile()
            trainer.sync(trainer.step())
            self._trainers[key] = trainer
        return self._trainers[key]

    def time_step(self, problem, estimator, dim):
        trainer = self._trainer(problem, estimator, dim)
        _PENDING[:] = [(trainer.sync, trainer.step())]


def step_class(grid: Grid) -> type:
    """``<Grid>Step``, for a grid with ``timed_step`` (the other grids' speed comes from
    their cells' own timed steps: compiling every cell twice is not free)."""
    attributes = {"grid": grid, "params": grid_params(grid), "__module__": __name__}
    return type(grid.name + "Step", (_Step,), attributes)


def setup_cache_of(grid: Grid):
    """The grid's ``setup_cache``: sweeps its cells (``run_grid``).  asv keys a cached
    setup by its function's module and line, so each grid's function is given a module
    name of its own (``<this module>.<grid>``, registered in ``sys.modules``) and grids
    never share a sweep."""

    def setup_cache(self):
        return run_grid(grid)

    namespace = f"{__name__}.{grid.name}"
    sys.modules.setdefault(namespace, types.ModuleType(namespace))
    setup_cache.__module__ = namespace
    return setup_cache


def training_class(grid: Grid) -> type:
    """``<Grid>``: the tracked measurements of the grid's cells, after its sweep; a grid
    with ``paired_floor`` also tracks the paired ratio."""
    bases = (_PairedFloor, _Training) if grid.paired_floor else (_Training,)
    attributes = {"grid": grid, "params": grid_params(grid), "setup_cache": setup_cache_of(grid)}
    return type(grid.name, bases, attributes | {"__module__": __name__})


# One ``<Grid>`` class per grid of the active profile, and ``<Grid>Step`` where it times
# its step: asv names them ``bench_training.<Grid>.<method>``.
for _grid in PROFILE.grids:
    globals()[_grid.name] = training_class(_grid)
    if _grid.timed_step:
        globals()[_grid.name + "Step"] = step_class(_grid)
del _grid
