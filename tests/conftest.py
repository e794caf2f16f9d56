"""Every test runs on CPU in float64 (folx's habit): correctness is proven, not assumed."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from stde_core.xla import configure_xla_cpu  # noqa: E402

configure_xla_cpu()  # before JAX's backend starts: see stde_core/xla.py

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


#: fixtures whose set-up is heavy (a real ``asv run``, a pip install of the example
#: plugin): every test that uses one is ``slow``
HEAVY_FIXTURES = {"asv_results", "results_copy", "installed"}


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` the tests of heavy fixtures (``make test-fast`` leaves them out)."""
    import pytest

    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
