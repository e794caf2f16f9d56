"""The XLA CPU flags are appended once, and a user's own setting of a flag wins."""

import pytest

from stde_core import xla
from stde_core.xla import MEMORY_SCHEDULER, YNN_OFF, configure_xla_cpu


@pytest.fixture
def new_jaxlib(monkeypatch):
    monkeypatch.setattr(xla, "_jaxlib_at_least", lambda major, minor: True)


def test_both_flags_appended_once(monkeypatch, new_jaxlib):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    configure_xla_cpu()
    configure_xla_cpu()
    flags = xla.os.environ["XLA_FLAGS"].split()
    assert flags == ["--xla_dump_to=/tmp/x", YNN_OFF, MEMORY_SCHEDULER]


def test_user_scheduler_choice_kept(monkeypatch, new_jaxlib):
    mine = "--xla_cpu_enable_concurrency_optimized_scheduler=true"
    monkeypatch.setenv("XLA_FLAGS", mine)
    configure_xla_cpu()
    assert xla.os.environ["XLA_FLAGS"].split() == [mine, YNN_OFF]


def test_old_jaxlib_left_alone(monkeypatch):
    monkeypatch.setattr(xla, "_jaxlib_at_least", lambda major, minor: False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    configure_xla_cpu()
    assert "XLA_FLAGS" not in xla.os.environ


@pytest.mark.skipif(
    not xla._jaxlib_at_least(0, 10), reason="jaxlib < 0.10 knows neither flag: none is set"
)
def test_this_process_runs_with_both():
    """conftest configured XLA before JAX started: the tests compile as the cells do."""
    flags = xla.os.environ.get("XLA_FLAGS", "")
    assert YNN_OFF in flags and MEMORY_SCHEDULER in flags
