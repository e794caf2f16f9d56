"""Training benchmarks: one pair of classes per grid of the active profile
(``STDE_BENCH_PROFILE``: ``smoke`` by default, ``paper``, or ``tiny``).

``<Grid>``: a sweep in ``setup_cache`` trains every cell in a fresh process (so its peak
memory is its own) and records it; the ``track_*`` methods report the cell's it/s, peak
memory, compile time, test error (final, minimum; mean over seeds, std over seeds) and
its outcome code.  An OOM/skipped/timed-out cell has status != 0 and no other values.

``<Grid>Step``: asv's own timer on one compiled training step (device-synchronized),
the number ``asv continuous`` and ``asv compare`` track across commits.

asv keys a ``setup_cache`` by its module and source line, so every grid class spells out
its own ``setup_cache`` (a shared one would hand one grid's sweep to all of them).  A
class exists only when the active profile has its grid.
"""

from __future__ import annotations

import statistics
import time

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

GRIDS = {g.name: g for g in PROFILE.grids}


def grid_params(grid: Grid) -> tuple[list, list, list]:
    return list(grid.problems), list(grid.estimators), list(grid.dims)


class _Training:
    """The tracked measurements of a grid's cells (``records`` from ``setup_cache``)."""

    param_names = ["problem", "estimator", "dim"]
    timeout = SWEEP_TIMEOUT

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
    repeat = {"paper": (3, 20, 60.0), "smoke": (2, 5, 5.0)}.get(PROFILE.name, (3, 10, 10.0))
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


def step_class(name: str) -> type | None:
    """The Step class of a grid with ``timed_step``, else None (the other grids' speed
    comes from their cells' own timed steps: compiling every cell twice is not free)."""
    grid = GRIDS[name]
    if not grid.timed_step:
        return None
    return type(name + "Step", (_Step,), {"grid": grid, "params": grid_params(grid)})


if "AllenCahnTwoBody" in GRIDS:  # Table 3

    class AllenCahnTwoBody(_Training):
        params = grid_params(GRIDS["AllenCahnTwoBody"])

        def setup_cache(self):
            return run_grid(GRIDS["AllenCahnTwoBody"])

    AllenCahnTwoBodyStep = step_class("AllenCahnTwoBody")

if "AllenCahnTwoBodyJ16" in GRIDS:  # Table 3, the STDE |J| = 16 row

    class AllenCahnTwoBodyJ16(_Training):
        params = grid_params(GRIDS["AllenCahnTwoBodyJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["AllenCahnTwoBodyJ16"])

    AllenCahnTwoBodyJ16Step = step_class("AllenCahnTwoBodyJ16")

if "InseparableJ16" in GRIDS:  # Tables 4-6

    class InseparableJ16(_Training):
        params = grid_params(GRIDS["InseparableJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["InseparableJ16"])

    InseparableJ16Step = step_class("InseparableJ16")

if "Semilinear" in GRIDS:  # Tables 7-9

    class Semilinear(_Training):
        params = grid_params(GRIDS["Semilinear"])

        def setup_cache(self):
            return run_grid(GRIDS["Semilinear"])

    SemilinearStep = step_class("Semilinear")

if "HighOrder" in GRIDS:  # Table 11

    class HighOrder(_Training):
        params = grid_params(GRIDS["HighOrder"])

        def setup_cache(self):
            return run_grid(GRIDS["HighOrder"])

    HighOrderStep = step_class("HighOrder")

if "GradientEnhanced" in GRIDS:  # Table 12

    class GradientEnhanced(_Training):
        params = grid_params(GRIDS["GradientEnhanced"])

        def setup_cache(self):
            return run_grid(GRIDS["GradientEnhanced"])

    GradientEnhancedStep = step_class("GradientEnhanced")

if "Biharmonic" in GRIDS:  # no table in the paper

    class Biharmonic(_Training):
        params = grid_params(GRIDS["Biharmonic"])

        def setup_cache(self):
            return run_grid(GRIDS["Biharmonic"])

    BiharmonicStep = step_class("Biharmonic")

if "AllenCahnRestrictedJ16" in GRIDS:  # ours: restricted to J (gpu-quick)

    class AllenCahnRestrictedJ16(_Training):
        params = grid_params(GRIDS["AllenCahnRestrictedJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["AllenCahnRestrictedJ16"])

    AllenCahnRestrictedJ16Step = step_class("AllenCahnRestrictedJ16")

if "Table3Error" in GRIDS:  # Table 3 errors (repro-cpu)

    class Table3Error(_Training):
        params = grid_params(GRIDS["Table3Error"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3Error"])

    Table3ErrorStep = step_class("Table3Error")

if "Table3ErrorExact" in GRIDS:  # Table 3 errors, Forward Laplacian (repro-cpu)

    class Table3ErrorExact(_Training):
        params = grid_params(GRIDS["Table3ErrorExact"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3ErrorExact"])

    Table3ErrorExactStep = step_class("Table3ErrorExact")

if "Table3ErrorJ16" in GRIDS:  # Table 3 errors, STDE |J| = 16 (repro-cpu)

    class Table3ErrorJ16(_Training):
        params = grid_params(GRIDS["Table3ErrorJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3ErrorJ16"])

    Table3ErrorJ16Step = step_class("Table3ErrorJ16")

if "Table3ErrorRestrictedJ16" in GRIDS:  # ours: restricted training (repro-cpu)

    class Table3ErrorRestrictedJ16(_Training):
        params = grid_params(GRIDS["Table3ErrorRestrictedJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3ErrorRestrictedJ16"])

    Table3ErrorRestrictedJ16Step = step_class("Table3ErrorRestrictedJ16")

if "InseparableErrorJ16" in GRIDS:  # Tables 4-6 errors (repro-cpu)

    class InseparableErrorJ16(_Training):
        params = grid_params(GRIDS["InseparableErrorJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["InseparableErrorJ16"])

    InseparableErrorJ16Step = step_class("InseparableErrorJ16")

if "SemilinearError" in GRIDS:  # Tables 7-9 errors (repro-cpu)

    class SemilinearError(_Training):
        params = grid_params(GRIDS["SemilinearError"])

        def setup_cache(self):
            return run_grid(GRIDS["SemilinearError"])

    SemilinearErrorStep = step_class("SemilinearError")

if "GradientEnhancedError" in GRIDS:  # Table 12 errors (repro-cpu)

    class GradientEnhancedError(_Training):
        params = grid_params(GRIDS["GradientEnhancedError"])

        def setup_cache(self):
            return run_grid(GRIDS["GradientEnhancedError"])

    GradientEnhancedErrorStep = step_class("GradientEnhancedError")

if "GradientEnhancedSpeed" in GRIDS:  # Table 12 speed and memory, and ours (repro-cpu)

    class GradientEnhancedSpeed(_Training):
        params = grid_params(GRIDS["GradientEnhancedSpeed"])

        def setup_cache(self):
            return run_grid(GRIDS["GradientEnhancedSpeed"])

    GradientEnhancedSpeedStep = step_class("GradientEnhancedSpeed")

if "Table3Speed" in GRIDS:  # Table 3 speed and memory (repro-cpu)

    class Table3Speed(_Training):
        params = grid_params(GRIDS["Table3Speed"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3Speed"])

    Table3SpeedStep = step_class("Table3Speed")

if "Table3SpeedJ16" in GRIDS:  # Table 3 speed, |J| = 16, floor and PyTorch rows (repro-cpu)

    class Table3SpeedJ16(_Training):
        params = grid_params(GRIDS["Table3SpeedJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3SpeedJ16"])

    Table3SpeedJ16Step = step_class("Table3SpeedJ16")

if "Table3SpeedRestrictedJ16" in GRIDS:  # restricted JAX rows at d <= 10^4 (repro-cpu)

    class Table3SpeedRestrictedJ16(_Training):
        params = grid_params(GRIDS["Table3SpeedRestrictedJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["Table3SpeedRestrictedJ16"])

    Table3SpeedRestrictedJ16Step = step_class("Table3SpeedRestrictedJ16")

if "TorchCompileJ16" in GRIDS:  # PyTorch rows under torch.compile (repro-cpu)

    class TorchCompileJ16(_Training):
        params = grid_params(GRIDS["TorchCompileJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["TorchCompileJ16"])

    TorchCompileJ16Step = step_class("TorchCompileJ16")

if "HighDimJ16" in GRIDS:  # floor and paper-faithful rows at 10^5, 10^6 (repro-cpu)

    class HighDimJ16(_PairedFloor, _Training):
        params = grid_params(GRIDS["HighDimJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["HighDimJ16"])

    HighDimJ16Step = step_class("HighDimJ16")

if "HighDimRestrictedJ16" in GRIDS:  # ours: restricted rows at 10^5, 10^6 (repro-cpu)

    class HighDimRestrictedJ16(_PairedFloor, _Training):
        params = grid_params(GRIDS["HighDimRestrictedJ16"])

        def setup_cache(self):
            return run_grid(GRIDS["HighDimRestrictedJ16"])

    HighDimRestrictedJ16Step = step_class("HighDimRestrictedJ16")

UNKNOWN = set(GRIDS) - {n for n in dir() if n in GRIDS}
if UNKNOWN:  # a grid added to a profile needs its class here
    raise RuntimeError(f"benchmarks/bench_training.py has no class for grids {sorted(UNKNOWN)}")
UNTRACKED = {
    n for n, g in GRIDS.items() if g.paired_floor and not issubclass(globals()[n], _PairedFloor)
}
if UNTRACKED:  # its cells measure the paired ratio: asv tracks it
    raise RuntimeError(
        f"grids {sorted(UNTRACKED)} have paired_floor: give their class _PairedFloor"
    )
