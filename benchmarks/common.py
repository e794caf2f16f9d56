"""Shared by the asv benchmark modules: the profile, where cell records go, the sweep.

Nothing here imports JAX or torch: asv imports every benchmark module in a fresh
interpreter, and the frameworks are loaded only inside the benchmark calls.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from stde_bench.profiles import Grid, get_profile

try:  # asv's way to mark a benchmark *call* skipped (NotImplementedError only works in setup)
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # pragma: no cover - outside asv
    SkipNotImplemented = NotImplementedError

PROFILE = get_profile()
STATUS_CODES = {"ok": 0, "oom": 1, "skipped": 2, "timeout": 3, "error": 4}
STATUS_UNIT = "status (0 ok, 1 OOM, 2 skipped, 3 timeout, 4 error)"


PROJECT = Path(__file__).resolve().parents[1]


def machine_name() -> str:
    """The asv machine: ``$STDE_BENCH_MACHINE``, else the hardware's name
    (``stde_bench.asv_machine.default_machine``)."""
    from stde_bench.asv_machine import default_machine

    return default_machine()


def records_path(grid: Grid) -> Path:
    """``results/cells/<machine>-<profile>-<grid>-<code version>.jsonl`` beside asv's
    results (not ``.json``, so asv's own result loader passes over them).  The code
    version is in the name so that resuming never mixes commits (``asv continuous``).
    The root is ``$ASV_CONF_DIR`` when set, else this project."""
    from stde_bench.provenance import code_version
    from stde_bench.records import records_file

    return records_file(cells_root(), machine_name(), PROFILE.name, grid.name, code_version())


def cells_root() -> Path:
    """``results/cells`` under ``$ASV_CONF_DIR`` when set, else under this project."""
    return Path(os.environ.get("ASV_CONF_DIR") or PROJECT) / "results" / "cells"


def sweep_records_path() -> Path:
    """``results/cells/<machine>-<profile>.jsonl``: what ``stde-bench sweep`` of this
    profile and machine records, with any executor (a Slurm sweep's task records beside it
    in ``.jsonl.d/`` included: ``stde_bench.records.read_store``)."""
    return cells_root() / f"{machine_name()}-{PROFILE.name}.jsonl"


def run_grid(grid: Grid) -> dict[str, list[dict[str, Any]]]:
    """Sweep the grid (resumable) and group the records by ``problem/estimator/dim``.
    A cell that ``stde-bench sweep`` of this profile and machine recorded with this code
    version (``sweep_records_path``: e.g. a cluster sweep) is reported from that record,
    not run again."""
    from stde_bench.provenance import code_version
    from stde_bench.records import RecordStore, is_finished, read_store
    from stde_bench.sweep import grid_cells, overlaps, sweep

    store = RecordStore(records_path(grid))
    cells = grid_cells(grid, PROFILE)
    code = code_version()
    swept = read_store(sweep_records_path())
    swept = {c.key: swept[c.key] for c in cells if is_finished(swept.get(c.key), code)}
    todo = [c for c in cells if c.key not in swept]
    ahead = int(overlaps(PROFILE.device))
    sweep(todo, store, progress=False, asv_machine=machine_name(), ahead=ahead)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for rec in (store.records | swept).values():
        grouped.setdefault(f"{rec.problem}/{rec.estimator}/{rec.dim}", []).append(rec.to_json())
    return grouped


def ok_values(records: dict, problem: str, estimator: str, dim: int, field: str) -> list[float]:
    """The field over the cell's successful seeds; NotImplementedError (asv: skipped) if none."""
    recs = records.get(f"{problem}/{estimator}/{dim}", [])
    values = [r[field] for r in recs if r["status"] == "ok" and r.get(field) is not None]
    if not values:
        raise SkipNotImplemented(f"no successful measurement of {field} for this cell")
    return values


def status(records: dict, problem: str, estimator: str, dim: int) -> int:
    recs = records.get(f"{problem}/{estimator}/{dim}", [])
    if not recs:
        raise SkipNotImplemented("cell not run")
    worst = max(recs, key=lambda r: STATUS_CODES[r["status"]] if r["status"] != "skipped" else -1)
    return STATUS_CODES[worst["status"]]


def mean(values: list[float]) -> float:
    return statistics.fmean(values)
