"""Benchmark profiles: which cells a sweep (and the asv suite) runs, and with what config.

``smoke`` (default): CPU-sized, d <= 10^3, a few hundred steps, the whole suite in minutes.
``paper``: the paper's dimensions 10^2 ... 10^6, its step counts and |J|, for GPU machines.
``tiny``: a handful of cells in seconds, for the test-suite's real asv runs.
Chosen by the environment variable ``STDE_BENCH_PROFILE``.

A profile is a tuple of grids; each grid is a product problems x estimators x dims with
one config, and becomes one asv benchmark class.  Cells an estimator cannot do (operator
not supplied, dimension the problem cannot take, above an estimator's ``max_dim``) are
recorded as skipped with the reason, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import os

from stde_bench.config import TrainConfig

LAPLACIAN = (
    "sdgd-backward-torch",
    "sdgd-backward-jax",
    "sdgd-parallel-jax",
    "sdgd-fwd-over-bwd-jax",
    "forward-laplacian-jax",
    "stde-jax",
    "hte-jax",
    "exact-jax",
)
#: Table 3's methods (the paper's rows), without our additions
TABLE3 = LAPLACIAN[:6]
#: the PyTorch rows: the paper's loop baseline and our vectorized ones
TORCH = ("sdgd-backward-torch", "sdgd-parallel-torch", "stde-torch")
#: every sampled JAX Laplacian estimator that can run restricted to J (ours)
RESTRICTABLE = (
    "sdgd-backward-jax",
    "sdgd-parallel-jax",
    "sdgd-fwd-over-bwd-jax",
    "forward-laplacian-jax",
    "stde-jax",
)
#: the floor and the paper-faithful rows beside the restricted ones
FLOOR_AND_FAITHFUL = ("primal-jax", "sdgd-parallel-jax", "stde-jax")
HIGH_ORDER = ("backward-jax", "stde-jax", "stde-star-jax")
GPINN = ("jvp-hvp-jax", "stde-jax")
#: ours beside them: stde-jax's gPINN pairs from three 3-jets instead of one 7-jet
GPINN_AND_OURS = (*GPINN, "stde-3jet-jax")


@dataclasses.dataclass(frozen=True)
class Grid:
    """problems x estimators x dims trained with ``config``; a problem of fixed dimension
    is skipped (with the reason) at the other dims."""

    name: str
    problems: tuple[str, ...]
    estimators: tuple[str, ...]
    dims: tuple[int, ...]
    config: TrainConfig
    seeds: tuple[int, ...] = (0,)
    samples: tuple[int, ...] = ()  # |J| values for the estimator-quality benchmark
    #: ``(dim, steps)`` pairs: a speed grid's step count at that dimension instead of
    #: ``config.steps`` (more timed steps where a step is short, fewer where it takes seconds)
    steps_at: tuple[tuple[int, int], ...] = ()
    #: speed grids: each cell also times the floor in its own process, window by window
    #: (``stde_bench.cell.run_cell``), for a ratio to the floor free of the machine's drift
    paired_floor: bool = False
    #: whether asv also times the grid's compiled step (``<Grid>Step.time_step``, the
    #: number ``asv continuous`` tracks); budgeted grids time their cells' own steps
    timed_step: bool = False
    #: ``(dim, n)``: above ``dim`` dimensions the test set has at most ``n`` points
    #: (20,000 points x 10^6 dims would be 80 GB; the cell's config records what it used)
    test_cap: tuple[int, int] | None = (10_000, 2_000)

    def skip_reason(self, estimator: str, dim: int) -> str | None:
        """Why the grid skips this cell: above the estimator's ``max_dim``; else None."""
        import estimators

        limit = estimators.REGISTRY.factory(estimator).max_dim
        if limit is not None and dim > limit:
            return f"{estimator} is a dense reference for d <= {limit} only (O(d^2) per point)"
        return None

    def cells(self) -> list[tuple[str, str, int]]:
        return [(p, e, d) for p in self.problems for e in self.estimators for d in self.dims]


@dataclasses.dataclass(frozen=True)
class Profile:
    """A named set of grids (each one asv class pair) plus the estimator-quality grid."""

    name: str
    grids: tuple[Grid, ...]
    quality: Grid
    description: str = ""
    #: what the profile is for: "cpu" or "gpu" (a GPU profile's ETA, without records of
    #: the machine, comes from the paper's A100 it/s)
    device: str = "cpu"
    #: seconds one grid's sweep may take inside asv's ``setup_cache``
    sweep_timeout_s: float = 48 * 3600.0
    #: asv's ``repeat`` for the ``<Grid>Step`` timers: (min, max samples, max seconds)
    asv_repeat: tuple[int, int, float] = (3, 10, 10.0)

    def grid(self, name: str) -> Grid:
        for g in self.grids:
            if g.name == name:
                return g
        raise ValueError(
            f"profile {self.name} has no grid {name!r}: {[g.name for g in self.grids]}"
        )


SMOKE_CONFIG = TrainConfig(steps=100, eval_every=50, n_test=2000, samples=16, budget_s=600.0)

SMOKE = Profile(
    name="smoke",
    description="pipeline check: d <= 10^3 (one restricted cell at 10^4), 100 steps, one seed",
    sweep_timeout_s=3600.0,
    asv_repeat=(2, 5, 5.0),
    grids=(
        Grid(
            "AllenCahnTwoBody",
            ("allen-cahn-two-body",),
            (*LAPLACIAN, *TORCH[1:], "primal-jax"),
            (100, 1000),
            SMOKE_CONFIG,
            timed_step=True,
        ),
        # ours: every sampled JAX estimator restricted to J, and one cell at 10^4
        Grid(
            "AllenCahnRestrictedJ16",
            ("allen-cahn-two-body",),
            RESTRICTABLE,
            (100, 1000),
            SMOKE_CONFIG.replace(restrict=True),
        ),
        Grid(
            "HighDimRestrictedJ16",
            ("allen-cahn-two-body",),
            ("stde-jax",),
            (10_000,),
            SMOKE_CONFIG.replace(restrict=True, n_test=500),
        ),
        Grid(
            "InseparableJ16",
            ("sine-gordon-three-body",),
            ("sdgd-parallel-jax", "stde-jax"),
            (100,),
            SMOKE_CONFIG,
        ),
        Grid(
            "Semilinear",
            ("heat-semilinear",),
            ("sdgd-parallel-jax", "stde-jax"),
            (10, 100),
            SMOKE_CONFIG.replace(samples=10),
        ),
        Grid(
            "HighOrder",
            ("kdv-2d", "kp-2d", "gkdv-1d"),
            HIGH_ORDER,
            (1, 2),
            SMOKE_CONFIG.replace(eval_every=100),
        ),
        Grid("GradientEnhanced", ("allen-cahn-two-body-gpinn",), GPINN, (10, 100), SMOKE_CONFIG),
        Grid("Biharmonic", ("biharmonic",), ("hte-jax", "exact-jax"), (4, 16), SMOKE_CONFIG),
    ),
    quality=Grid(
        "EstimatorQuality",
        ("allen-cahn-two-body",),
        ("sdgd-parallel-jax", "stde-jax", "hte-jax", "forward-laplacian-jax"),
        (100,),
        SMOKE_CONFIG,
        samples=(4, 16, 64),
    ),
)

PAPER_CONFIG = TrainConfig(
    steps=10_000, eval_every=1000, n_test=20_000, samples=100, budget_s=4 * 3600.0
)
PAPER_DIMS = (100, 1_000, 10_000, 100_000, 1_000_000)

PAPER = Profile(
    name="paper",
    description=(
        "the full protocol: every table, five seeds, 10,000 steps (20,000 gPINN), "
        "each cell within a 4 h budget; for GPU days"
    ),
    device="gpu",
    asv_repeat=(3, 20, 60.0),
    grids=(
        # Table 3: two-body Allen-Cahn, |J| = 100 (and STDE |J| = 16 below)
        Grid(
            "AllenCahnTwoBody",
            ("allen-cahn-two-body",),
            LAPLACIAN,
            PAPER_DIMS,
            PAPER_CONFIG,
            seeds=(0, 1, 2, 3, 4),
            timed_step=True,
        ),
        Grid(
            "AllenCahnTwoBodyJ16",
            ("allen-cahn-two-body",),
            ("stde-jax",),
            PAPER_DIMS,
            PAPER_CONFIG.replace(samples=16),
            seeds=(0, 1, 2, 3, 4),
        ),
        # Tables 4-6: the other inseparable problems, |J| = 16
        Grid(
            "InseparableJ16",
            (
                "sine-gordon-two-body",
                "poisson-two-body",
                "poisson-three-body",
                "allen-cahn-three-body",
                "sine-gordon-three-body",
            ),
            LAPLACIAN,
            PAPER_DIMS,
            PAPER_CONFIG.replace(samples=16),
            seeds=(0, 1, 2, 3, 4),
        ),
        # Tables 7-9: semilinear parabolic, |J| = 10
        Grid(
            "Semilinear",
            ("heat-semilinear", "allen-cahn-semilinear", "sine-gordon-semilinear"),
            LAPLACIAN,
            (10, 100, 1_000, 10_000),
            PAPER_CONFIG.replace(samples=10, eval_every=100, n_test=1),
            seeds=(0, 1, 2, 3, 4),
        ),
        # Table 11: high-order low-dimensional (speed)
        Grid("HighOrder", ("kdv-2d", "kp-2d", "gkdv-1d"), HIGH_ORDER, (1, 2), PAPER_CONFIG),
        # Table 12: gradient-enhanced, 20,000 steps
        Grid(
            "GradientEnhanced",
            ("allen-cahn-two-body-gpinn", "sine-gordon-two-body-gpinn"),
            GPINN,
            (100, 1_000, 10_000, 100_000),
            PAPER_CONFIG.replace(steps=20_000, samples=16),
        ),
        Grid(
            "Biharmonic",
            ("biharmonic",),
            ("hte-jax", "exact-jax"),
            (10, 100, 1_000),
            PAPER_CONFIG.replace(samples=16),
        ),
    ),
    quality=Grid(
        "EstimatorQuality",
        ("allen-cahn-two-body",),
        ("sdgd-parallel-jax", "stde-jax", "hte-jax", "forward-laplacian-jax"),
        (1_000, 100_000),
        PAPER_CONFIG,
        samples=(4, 16, 64, 256),
    ),
)

TINY_CONFIG = TrainConfig(
    steps=12, eval_every=6, n_test=200, samples=4, n_residual=8, width=16, budget_s=300.0
)

#: for the test-suite: a real asv run over a handful of cells in seconds
TINY = Profile(
    name="tiny",
    description="the test-suite's: a handful of cells in seconds",
    sweep_timeout_s=600.0,
    grids=(
        Grid(
            "AllenCahnTwoBody",
            ("allen-cahn-two-body",),
            ("sdgd-parallel-jax", "stde-jax", "exact-jax"),
            (4, 200),
            TINY_CONFIG,
            seeds=(0, 1),
            timed_step=True,
        ),
    ),
    quality=Grid(
        "EstimatorQuality",
        ("allen-cahn-two-body",),
        ("stde-jax", "hte-jax"),
        (8,),
        TINY_CONFIG,
        samples=(2, 8),
    ),
)

# --- budgeted profiles: speed and memory from timed steps, error from full training ----
# Speed cells (measure="speed") train a fixed number of timed steps after the warm-up and
# evaluate nothing; error cells (measure="error") train the paper's full schedule.

REPRO_ERROR = TrainConfig(
    steps=10_000, eval_every=1000, n_test=20_000, samples=100, measure="error", budget_s=2400.0
)
REPRO_SPEED = TrainConfig(
    steps=200, eval_every=200, n_test=1, samples=16, measure="speed", budget_s=600.0
)
#: at 10^5 and 10^6 a step takes seconds on a CPU: a dozen timed steps, split into at
#: least three windows (docs/findings.md#high-d-timing-windows)
HIGH_D_SPEED = REPRO_SPEED.replace(steps=12, eval_every=12, budget_s=900.0)
HIGH_DIMS = (100_000, 1_000_000)
#: at 10^5 a step is ~0.3 s: 46 steps, the warm-up then three windows of ~5 s each (or ~1 s
#: windows paired with the floor, ``Grid.paired_floor``), so a ratio spans more than this
#: shared CPU's slow swings (docs/findings.md#high-d-timing-windows)
HIGH_D_STEPS = ((100_000, 46),)

REPRO_CPU = Profile(
    name="repro-cpu",
    description=(
        "the paper's settings on a 2-core CPU, in resumable pieces (the ETA below is this "
        "machine's; reports/SUMMARY.md#profiles has the measured cell time): converged errors "
        "(10,000 steps, 20,000 for gPINN, two seeds) for Tables 3-9 and 12 at low "
        "dimension, speed and memory from timed steps up to 10^6"
    ),
    grids=(
        # Table 3 error, |J| = 100.  The JAX SDGD variants and sparse STDE draw the same J
        # from the same key and give the same estimate (tested to 1e-10), so they train
        # the same trajectory: stde-jax stands for all (its error is theirs).  |J| = 100
        # is the costliest error cell here, so the PyTorch loop and a second JAX method are
        # left out (docs/findings.md#repro-cpu-budgets).
        Grid(
            "Table3Error",
            ("allen-cahn-two-body",),
            ("stde-jax",),
            (100, 1_000),
            REPRO_ERROR,
            seeds=(0, 1),
        ),
        # the exact Forward Laplacian: 10,000 steps fit at d = 100 only (d^2 per point)
        Grid(
            "Table3ErrorExact",
            ("allen-cahn-two-body",),
            ("forward-laplacian-jax",),
            (100,),
            REPRO_ERROR,
            seeds=(0, 1),
        ),
        Grid(
            "Table3ErrorJ16",
            ("allen-cahn-two-body",),
            ("stde-jax",),
            (100, 1_000, 10_000),
            REPRO_ERROR.replace(samples=16),
            seeds=(0, 1),
        ),
        # ours: training restricted to J converges like the paper's STDE (same seeds)
        Grid(
            "Table3ErrorRestrictedJ16",
            ("allen-cahn-two-body",),
            ("stde-jax",),
            (1_000,),
            REPRO_ERROR.replace(samples=16, restrict=True),
            seeds=(0, 1),
        ),
        # ours: the paper's headline dimension, restricted to J
        Grid(
            "Table3ErrorRestrictedHighDimJ16",
            ("allen-cahn-two-body",),
            ("stde-jax",),
            (100_000,),
            REPRO_ERROR.replace(samples=16, restrict=True, budget_s=4 * 3600.0),
            seeds=(0, 1),
        ),
        # Tables 4-6: the other inseparable problems, STDE |J| = 16
        Grid(
            "InseparableErrorJ16",
            (
                "sine-gordon-two-body",
                "poisson-two-body",
                "poisson-three-body",
                "allen-cahn-three-body",
                "sine-gordon-three-body",
            ),
            ("stde-jax",),
            (100, 1_000),
            REPRO_ERROR.replace(samples=16),
            seeds=(0, 1),
        ),
        # Tables 7-9: semilinear parabolic, |J| = 10, the paper's evaluation every 100 steps
        Grid(
            "SemilinearError",
            ("heat-semilinear", "allen-cahn-semilinear", "sine-gordon-semilinear"),
            ("sdgd-backward-jax", "stde-jax"),
            (10, 100),
            REPRO_ERROR.replace(samples=10, eval_every=100, n_test=1),
            seeds=(0, 1),
        ),
        # Table 12: gradient-enhanced, 20,000 steps
        Grid(
            "GradientEnhancedError",
            ("allen-cahn-two-body-gpinn", "sine-gordon-two-body-gpinn"),
            GPINN,
            (100,),
            # stde-jax's 7-jet takes longer than REPRO_ERROR's budget for 20,000 steps
            # (docs/findings.md#repro-cpu-budgets)
            REPRO_ERROR.replace(steps=20_000, samples=16, budget_s=5400.0),
            seeds=(0, 1),
        ),
        # Table 12 speed and memory (the paper prints it/s for both methods), and ours
        Grid(
            "GradientEnhancedSpeed",
            ("allen-cahn-two-body-gpinn",),
            GPINN_AND_OURS,
            (100, 1_000),
            REPRO_SPEED,
        ),
        # Table 3 speed and memory, |J| = 100 and 16, and the PyTorch rows
        Grid(
            "Table3Speed",
            ("allen-cahn-two-body",),
            TABLE3,
            (100, 1_000),
            REPRO_SPEED.replace(samples=100),
        ),
        # the rows of the framework-vs-algorithm decomposition, measured in one sweep with
        # TorchCompileJ16: the PyTorch loop, PyTorch parallel SDGD and STDE, JAX parallel
        # SDGD and STDE, the floor, and (next grid) the restricted JAX rows
        Grid(
            "Table3SpeedJ16",
            ("allen-cahn-two-body",),
            ("primal-jax", "sdgd-parallel-jax", "stde-jax", *TORCH),
            (100, 1_000, 10_000),
            REPRO_SPEED,
        ),
        Grid(
            "Table3SpeedRestrictedJ16",
            ("allen-cahn-two-body",),
            ("sdgd-parallel-jax", "stde-jax"),
            (100, 1_000, 10_000),
            REPRO_SPEED.replace(restrict=True),
        ),
        Grid(
            "TorchCompileJ16",
            ("allen-cahn-two-body",),
            TORCH,
            (1_000, 10_000),
            REPRO_SPEED.replace(torch_compile=True),
        ),
        # ours: restriction to J against the floor and the paper-faithful rows, 10^5 and 10^6
        Grid(
            "HighDimJ16",
            ("allen-cahn-two-body",),
            FLOOR_AND_FAITHFUL,
            HIGH_DIMS,
            HIGH_D_SPEED,
            steps_at=HIGH_D_STEPS,
            paired_floor=True,
        ),
        Grid(
            "HighDimRestrictedJ16",
            ("allen-cahn-two-body",),
            RESTRICTABLE,
            HIGH_DIMS,
            HIGH_D_SPEED.replace(restrict=True),
            steps_at=HIGH_D_STEPS,
            paired_floor=True,
        ),
    ),
    quality=Grid(
        "EstimatorQuality",
        ("allen-cahn-two-body",),
        ("sdgd-parallel-jax", "stde-jax", "hte-jax", "forward-laplacian-jax"),
        (1_000,),
        REPRO_SPEED,
        samples=(4, 16, 64, 256),
    ),
)

#: 20 s a cell, compile included: the H100's slowest cells (the PyTorch loop at 2.4 it/s,
#: |J| = 100 SDGD at 10^6 after a 15 s compile) still time some steps
GPU_SPEED = TrainConfig(
    steps=200, eval_every=200, n_test=1, samples=100, measure="speed", budget_s=20.0
)

GPU_QUICK = Profile(
    name="gpu-quick",
    description=(
        "for one H100-class GPU (docs/findings.md#gpu-quick-on-an-h100), as asv commands "
        "of at most 9 minutes that resume from the records: Table 3 speed and memory at "
        "10^2 ... 10^6 (|J| = 100, STDE |J| = 16), restricted rows and the floor; no accuracy"
    ),
    device="gpu",
    sweep_timeout_s=3600.0,
    grids=(
        Grid("AllenCahnTwoBody", ("allen-cahn-two-body",), TABLE3, PAPER_DIMS, GPU_SPEED),
        Grid(
            "AllenCahnTwoBodyJ16",
            ("allen-cahn-two-body",),
            FLOOR_AND_FAITHFUL,
            PAPER_DIMS,
            GPU_SPEED.replace(samples=16),
        ),
        Grid(
            "AllenCahnRestrictedJ16",
            ("allen-cahn-two-body",),
            RESTRICTABLE,
            PAPER_DIMS,
            GPU_SPEED.replace(samples=16, restrict=True),
        ),
    ),
    quality=Grid(
        "EstimatorQuality",
        ("allen-cahn-two-body",),
        ("sdgd-parallel-jax", "stde-jax"),
        (1_000,),
        GPU_SPEED,
        samples=(16, 100),
    ),
)

PROFILES = {p.name: p for p in (SMOKE, REPRO_CPU, GPU_QUICK, PAPER, TINY)}


def get_profile(name: str | None = None) -> Profile:
    """The profile ``name``, else ``$STDE_BENCH_PROFILE``, else ``smoke``."""
    name = name or os.environ.get("STDE_BENCH_PROFILE", "smoke")
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)} "
            "(set STDE_BENCH_PROFILE)"
        ) from None


def cell_config(grid: Grid, dim: int, seed: int) -> TrainConfig:
    """The grid's config for one cell: its step count at ``dim`` (``Grid.steps_at``; a
    speed cell evaluates once, at the end) and its test set under ``Grid.test_cap``."""
    config = grid.config.replace(seed=seed)
    steps = dict(grid.steps_at).get(dim)
    if steps is not None:
        if config.measure != "speed":
            raise ValueError(f"grid {grid.name}: steps_at is for speed grids (measure='speed')")
        config = config.replace(steps=steps, eval_every=steps)
    if grid.test_cap is not None:
        above, most = grid.test_cap
        if dim > above and config.n_test > most:
            config = config.replace(n_test=most)
    return config
