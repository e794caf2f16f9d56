"""The two test tiers (tests/conftest.py): ``make test`` runs every case; ``make test-fast``
(``-m "not slow"``) runs one case of each parametrized test of a ``fast_first`` module and
none of a test marked ``slow``."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/estimators/test_laplacian.py"  # fast_first, with slow and parametrized tests


def _collected(*args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_the_fast_tier_runs_the_first_case_of_each_test_and_no_slow_one():
    every, fast = _collected(MODULE), _collected(MODULE, "-m", "not slow")
    cases = collections.Counter(i.split("[")[0] for i in every)
    first = {}
    for i in every:
        first.setdefault(i.split("[")[0], i)
    slow = set(_collected(MODULE, "-m", "slow"))
    assert max(cases.values()) > 1 and slow  # the module has both kinds: not vacuous
    assert set(fast) == {i for i in first.values() if i not in slow}
    assert set(fast) | slow == set(every) and not set(fast) & slow
