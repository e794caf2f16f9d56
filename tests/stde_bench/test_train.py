"""The training harness: one step for every estimator, identical but for the estimate;
cells record their outcome instead of crashing."""

import jax
import numpy as np
import pytest

import estimators
from stde_bench.cell import build, run_cell
from stde_bench.config import TrainConfig

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

TINY = TrainConfig(steps=6, eval_every=3, n_test=64, samples=4, n_residual=8, width=16)
EXACT_WHEN_ALL_DIMS = [
    "exact-jax",
    "forward-laplacian-jax",
    "stde-jax",
    "sdgd-backward-jax",
    "sdgd-parallel-jax",
    "sdgd-fwd-over-bwd-jax",
]


def losses(estimator: str, problem: str = "allen-cahn-two-body", dim: int = 5, steps: int = 3):
    config = TINY.replace(samples=dim)  # |J| = d: every sampled estimator is exact
    _, _, trainer = build(problem, estimator, dim, config)
    return np.array([float(trainer.sync(trainer.step())) for _ in range(steps)])


@pytest.mark.slow  # trains every exact estimator
def test_step_is_identical_across_estimators_apart_from_the_estimate():
    """With |J| = d all Laplacian estimators are exact, so the same seed must give the
    same sampled points, the same network and the same Adam trajectory: equal losses."""
    reference = losses("exact-jax")
    assert np.all(np.isfinite(reference)) and reference[0] > 0
    for name in EXACT_WHEN_ALL_DIMS[1:]:
        np.testing.assert_allclose(losses(name), reference, rtol=1e-7, err_msg=name)


@pytest.mark.slow  # trains every sampled estimator
def test_sampled_estimators_differ_when_sampling():
    """The comparison above is not vacuous: with |J| < d the estimate changes the loss."""
    config = TINY.replace(samples=2)
    _, _, a = build("allen-cahn-two-body", "stde-jax", 5, config)
    _, _, b = build("allen-cahn-two-body", "exact-jax", 5, config)
    assert float(a.step()) != pytest.approx(float(b.step()), rel=1e-4)


def test_run_cell_records_everything():
    record = run_cell("allen-cahn-two-body", "stde-jax", 6, TINY, progress=False)
    assert record.status == "ok", record.reason
    assert record.it_per_s > 0 and record.compile_s > 0
    assert [s for s, _ in record.error_history] == [3, 6]
    assert record.error_min <= record.error_final
    assert record.memory_mb > 0 and "xla" in record.memory_method
    assert record.n_params == TINY.mlp.n_params(6)
    assert record.machine["jax"] == jax.__version__


@pytest.mark.parametrize("steps", [2, 5, 12, 31])
def test_a_speed_cells_timed_steps_make_at_least_three_windows(steps):
    """The median it/s drops one slow window only if there are three: every timed step
    (all but the warm-up) is in a window, and there are min(3, steps - 1) of them or more."""
    config = TINY.replace(steps=steps, eval_every=steps, measure="speed", n_test=1)
    record = run_cell("allen-cahn-two-body", "primal-jax", 6, config, progress=False)
    assert record.status == "ok", record.reason
    assert sum(n for n, _ in record.timed_windows) == steps - 1
    assert len(record.timed_windows) >= min(3, steps - 1)


@pytest.mark.slow  # a timed speed cell and its floor
def test_a_paired_floor_is_timed_beside_every_window_of_a_speed_cell():
    """``paired_floor``: a floor window after each of the cell's, as many steps; the ratio
    is the median over windows of floor seconds ÷ the cell's."""
    config = TINY.replace(steps=7, eval_every=7, measure="speed", n_test=1, restrict=True)
    record = run_cell(
        "allen-cahn-two-body", "stde-jax", 6, config, progress=False, paired_floor=True
    )
    assert record.status == "ok", record.reason
    cell, floor = record.timed_windows, record.floor_windows
    assert [n for n, _ in floor] == [n for n, _ in cell] and len(cell) >= 3
    ratios = sorted(f / s for (_, s), (_, f) in zip(cell, floor, strict=True))
    assert record.it_per_s_over_floor == pytest.approx(ratios[len(ratios) // 2])
    assert record.floor_it_per_s > 0 and record.steps_done == 7  # the floor's steps not counted
    alone = run_cell("allen-cahn-two-body", "primal-jax", 6, config.replace(restrict=False),
                     progress=False, paired_floor=True)  # fmt: skip
    assert alone.status == "ok" and alone.floor_windows == [] and alone.it_per_s_over_floor is None
    with pytest.raises(ValueError, match="paired_floor.*measure='speed'"):
        run_cell("allen-cahn-two-body", "stde-jax", 6, TINY, progress=False, paired_floor=True)


@pytest.mark.slow  # a training cell
def test_unbiased_loss_option_runs():
    record = run_cell(
        "allen-cahn-two-body", "stde-jax", 6, TINY.replace(unbiased=True), progress=False
    )
    assert record.status == "ok", record.reason


def test_unsupported_cells_are_recorded_as_skipped_with_reason():
    record = run_cell("biharmonic", "sdgd-parallel-jax", 4, TINY, progress=False)
    assert record.status == "skipped"
    assert "biharmonic" in record.reason and "hte-jax" in record.reason
    record = run_cell("heat-semilinear", "stde-jax", 50, TINY, progress=False)
    assert record.status == "skipped" and "10000" in record.reason


@pytest.mark.parametrize("name", estimators.supporting("laplacian"))
def test_every_laplacian_estimator_trains_a_cell(name):
    record = run_cell("sine-gordon-two-body", name, 5, TINY.replace(steps=3), progress=False)
    assert record.status == "ok", record.reason
    assert np.isfinite(record.final_loss)


@pytest.mark.parametrize(
    "problem,dim",
    [
        ("kdv-2d", 2),
        ("kp-2d", 2),
        ("gkdv-1d", 1),
        ("allen-cahn-two-body-gpinn", 5),
        ("biharmonic", 4),
        ("heat-semilinear", 10),
    ],
)
@pytest.mark.slow  # a training cell per problem family
def test_every_problem_family_trains_with_stde_or_hte(problem, dim):
    name = "hte-jax" if problem == "biharmonic" else "stde-jax"
    record = run_cell(problem, name, dim, TINY.replace(steps=3, n_test=16), progress=False)
    assert record.status == "ok", record.reason
    assert np.isfinite(record.final_loss) and record.error_final is not None


def test_every_profile_grid_has_its_own_asv_setup_cache():
    """asv shares a setup_cache between classes whose setup_cache has the same cache key
    (module and line): each grid must have its own, or one grid's sweep is handed to all.
    Every grid of every profile has its class, and its Step class where it times a step."""
    import importlib
    import os

    from asv_runner.benchmarks._base import get_setup_cache_key

    from stde_bench.profiles import PROFILES

    keys = {}
    for name in PROFILES:
        os.environ["STDE_BENCH_PROFILE"] = name
        try:
            import benchmarks.bench_training as bt
            import benchmarks.common

            importlib.reload(benchmarks.common)
            importlib.reload(bt)
            for grid in PROFILES[name].grids:
                cls = getattr(bt, grid.name)
                assert cls.grid is grid
                key = get_setup_cache_key(cls.setup_cache)
                assert keys.setdefault(grid.name, key) == key
                step = vars(bt).get(grid.name + "Step")  # reload keeps an old profile's
                assert (step is not None and step.grid is grid) == grid.timed_step
                assert hasattr(cls, "track_it_per_s_over_floor") == grid.paired_floor
        finally:
            os.environ.pop("STDE_BENCH_PROFILE")
    assert len(set(keys.values())) == len(keys)
    # the shared bases are not benchmarks themselves (asv skips names starting with "_")
    assert not any(n in vars(bt) for n in ("Training", "Step"))
