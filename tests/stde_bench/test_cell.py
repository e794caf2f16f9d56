"""stde_bench/cell.py: the names a cell and the report share with the registry."""

import estimators
from stde_bench.cell import FLOOR


def test_the_floor_named_by_the_harness_is_the_registry_s_one_floor():
    """``FLOOR`` (a plain string, so the report needs no JAX) is the one registered
    estimator whose ``floor`` flag is set."""
    floors = [n for n in estimators.names() if estimators.REGISTRY.factory(n).floor]
    assert floors == [FLOOR]
