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
HIGH_ORDER = ("backward-jax", "stde-jax", "stde-star-jax")
GPINN = ("jvp-hvp-jax", "stde-jax")
#: dense references that are only meant for small d (full Hessian: O(d^2) memory per point)
SMALL_D_ONLY = {"exact-jax": 100}


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

    def skip_reason(self, estimator: str, dim: int) -> str | None:
        limit = SMALL_D_ONLY.get(estimator)
        if limit is not None and dim > limit:
            return f"{estimator} is a dense reference for d <= {limit} only (O(d^2) per point)"
        return None

    def cells(self) -> list[tuple[str, str, int]]:
        return [(p, e, d) for p in self.problems for e in self.estimators for d in self.dims]


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    grids: tuple[Grid, ...]
    quality: Grid

    def grid(self, name: str) -> Grid:
        for g in self.grids:
            if g.name == name:
                return g
        raise ValueError(
            f"profile {self.name} has no grid {name!r}: {[g.name for g in self.grids]}"
        )


SMOKE_CONFIG = TrainConfig(steps=100, eval_every=50, n_test=2000, samples=16)

SMOKE = Profile(
    name="smoke",
    grids=(
        Grid(
            "AllenCahnTwoBody", ("allen-cahn-two-body",), LAPLACIAN, (10, 100, 1000), SMOKE_CONFIG
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

PAPER_CONFIG = TrainConfig(steps=10_000, eval_every=1000, n_test=20_000, samples=100)
PAPER_DIMS = (100, 1_000, 10_000, 100_000, 1_000_000)

PAPER = Profile(
    name="paper",
    grids=(
        # Table 3: two-body Allen-Cahn, |J| = 100 (and STDE |J| = 16 below)
        Grid(
            "AllenCahnTwoBody",
            ("allen-cahn-two-body",),
            LAPLACIAN,
            PAPER_DIMS,
            PAPER_CONFIG,
            seeds=(0, 1, 2, 3, 4),
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

TINY_CONFIG = TrainConfig(steps=12, eval_every=6, n_test=200, samples=4, n_residual=8, width=16)

#: for the test-suite: a real asv run over a handful of cells in seconds
TINY = Profile(
    name="tiny",
    grids=(
        Grid(
            "AllenCahnTwoBody",
            ("allen-cahn-two-body",),
            ("sdgd-parallel-jax", "stde-jax", "exact-jax"),
            (4, 200),
            TINY_CONFIG,
            seeds=(0, 1),
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

PROFILES = {p.name: p for p in (SMOKE, PAPER, TINY)}


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
    """The grid's config for one cell; in the paper profile the test set shrinks above
    10^4 dimensions (20,000 points x 10^6 dims would be 80 GB; recorded in the config)."""
    config = grid.config.replace(seed=seed)
    if dim > 10_000 and config.n_test > 2_000:
        config = config.replace(n_test=2_000)
    return config
