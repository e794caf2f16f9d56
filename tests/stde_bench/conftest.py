"""A real results folder for the report tests: the asv suite itself, run once per test
session on the ``tiny`` profile (allen-cahn-two-body; sdgd-parallel-jax, stde-jax,
exact-jax; d = 4 and 200; 2 seeds; exact-jax at d = 200 is skipped by the profile).

The out-of-memory cell is real too: before asv runs, ``stde-bench run`` trains
sdgd-parallel-jax at d = 200 (both seeds) with N_r = 2,000,000 residual points under a
3 GB address-space cap (``ulimit -v``); JAX fails with RESOURCE_EXHAUSTED and the harness
records the cell as ``oom``.  Those two records go into the cell-record file the asv
sweep resumes from, so the sweep keeps them and asv's ``track_status`` reports 1 (OOM)
for that cell.  (The record says N_r = 2,000,000: it is what ran.)  Nothing in the
results is typed by hand.

asv does not pass ASV_CONF_DIR / ASV_COMMIT to benchmark processes (only to build
commands), so they are exported here for ``benchmarks/common.py`` to put the cell records
under ``<tmp>/results/cells`` with the commit in the name; HOME is the temporary folder
too, so the user's ``~/.asv-machine.json`` is left alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACHINE = "test-machine"
OOM_CELL = ("allen-cahn-two-body", "sdgd-parallel-jax", 200)
OOM_N_RESIDUAL = 2_000_000
OOM_CAP_KB = 3_000_000


def _asv_config(tmp: Path) -> Path:
    text = re.sub(r"^\s*//.*$", "", (ROOT / "asv.conf.json").read_text(), flags=re.M)
    conf = json.loads(text)
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        results_dir=str(tmp / "results"),
        html_dir=str(tmp / "html"),
        env_dir=str(tmp / "env"),
    )
    path = tmp / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def _oom_records(commit: str, env: dict[str, str], tmp: Path) -> Path:
    """Run the OOM cell for real (both seeds, in parallel) and store its records where
    the sweep of the tiny profile will find them."""
    from stde_bench.profiles import TINY, cell_config
    from stde_bench.records import RecordStore, read_record

    grid = TINY.grids[0]
    problem, estimator, dim = OOM_CELL
    procs = []
    for seed in grid.seeds:
        config = cell_config(grid, dim, seed).replace(n_residual=OOM_N_RESIDUAL)
        out = tmp / f"oom-seed{seed}.json"
        cmd = (
            f"ulimit -v {OOM_CAP_KB}; exec {sys.executable} -m stde_bench.cli run --quiet "
            f"--problem {problem} --estimator {estimator} --dim {dim} "
            f"--config-json '{json.dumps(config.asdict())}' --json {out}"
        )
        procs.append((out, subprocess.Popen(["bash", "-c", cmd], env=env, cwd=tmp)))
    store = RecordStore(
        tmp / "results" / "cells" / f"{MACHINE}-{TINY.name}-{grid.name}-{commit[:8]}.jsonl"
    )
    for out, proc in procs:
        proc.wait(timeout=300)
        record = read_record(out)
        assert record.status == "oom", f"expected an OOM, got {record.status}: {record}"
        store.put(record)
    return store.path


@pytest.fixture(scope="session")
def asv_results(tmp_path_factory) -> Path:
    """``<tmp>/results``: what ``asv run`` of the tiny profile wrote (see module doc).

    ``STDE_BENCH_TEST_RESULTS=<folder>`` reuses the results folder of an earlier session
    of this fixture instead of running the suite again (for working on the report)."""
    reuse = os.environ.get("STDE_BENCH_TEST_RESULTS")
    if reuse:
        return Path(reuse)
    if shutil.which("asv") is None and not (Path(sys.executable).parent / "asv").exists():
        pytest.skip("asv is not installed (pip install -e '.[test]')")
    asv = str(Path(sys.executable).parent / "asv") if not shutil.which("asv") else "asv"
    tmp = tmp_path_factory.mktemp("asv")
    conf = _asv_config(tmp)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    env = os.environ | {
        "STDE_BENCH_PROFILE": "tiny",
        "STDE_BENCH_MACHINE": MACHINE,
        "ASV_CONF_DIR": str(tmp),
        "ASV_COMMIT": commit,
        "JAX_PLATFORMS": "cpu",
        "HOME": str(tmp),  # asv keeps its machine file in ~/.asv-machine.json
    }
    env.pop("JAX_ENABLE_X64", None)
    subprocess.run(
        [asv, "machine", "--yes", "--machine", MACHINE, "--config", str(conf)],
        cwd=tmp,
        env=env,
        check=True,
        capture_output=True,
    )
    _oom_records(commit, env, tmp)
    run = subprocess.run(
        [
            asv,
            "run",
            "--config",
            str(conf),
            "-E",
            f"existing:{sys.executable}",
            "--set-commit-hash",
            commit,
            "--machine",
            MACHINE,
            "--quick",
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    results = tmp / "results"
    if not list((results / MACHINE).glob(f"{commit[:8]}-*.json")):
        pytest.fail(f"asv run wrote no results:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    return results


@pytest.fixture
def results_copy(asv_results, tmp_path) -> Path:
    """A private copy of the session's results, for tests that add or break files."""
    dest = tmp_path / "results"
    shutil.copytree(asv_results, dest)
    return dest
