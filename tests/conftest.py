"""Every test runs on CPU in float64 (folx's habit): correctness is proven, not assumed."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from stde_core.xla import configure_xla_cpu  # noqa: E402

configure_xla_cpu()  # before JAX's backend starts: see stde_core/xla.py

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


#: fixtures whose set-up is heavy (a real ``asv run``, a pip install of the example
#: plugin, a browser): every test that uses one is ``slow``
HEAVY_FIXTURES = {"asv_results", "results_copy", "installed", "browser"}


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` (``make test-fast`` leaves them out) the tests of heavy fixtures, and
    every case but the first of a parametrized test marked ``fast_first`` (a module's
    ``pytestmark``): ``make test`` runs every case, ``make test-fast`` one per test."""
    import pytest

    seen = set()
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("fast_first"):
            test = (item.nodeid.split("[")[0], getattr(item, "originalname", item.name))
            if test in seen:
                item.add_marker(pytest.mark.slow)
            seen.add(test)
