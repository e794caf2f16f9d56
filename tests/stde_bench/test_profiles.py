"""Profiles: a grid's per-cell config."""

from __future__ import annotations

import pytest

from stde_bench.config import TrainConfig
from stde_bench.profiles import PROFILES, Grid, cell_config


def test_steps_at_sets_a_speed_grids_steps_at_one_dimension_only():
    config = TrainConfig(steps=12, eval_every=12, measure="speed")
    grid = Grid(
        "G", ("allen-cahn-two-body",), ("primal-jax",), (10, 20), config, steps_at=((10, 46),)
    )
    assert (cell_config(grid, 10, 0).steps, cell_config(grid, 10, 0).eval_every) == (46, 46)
    assert cell_config(grid, 20, 1) == config.replace(seed=1)


def test_steps_at_is_refused_on_an_error_grid():
    config = TrainConfig(steps=100, eval_every=10, measure="error")
    grid = Grid("G", ("allen-cahn-two-body",), ("primal-jax",), (10,), config, steps_at=((10, 5),))
    with pytest.raises(ValueError, match="steps_at is for speed grids"):
        cell_config(grid, 10, 0)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_cell_config_of_every_profile_is_valid(profile):
    for grid in PROFILES[profile].grids:
        for _, _, dim in grid.cells():
            config = cell_config(grid, dim, 0)
            assert config.steps % config.eval_every == 0 or config.measure == "error"
