"""Shared by the asv benchmark modules: the profile, where cell records go, the sweep.

Nothing here imports JAX or torch: asv imports every benchmark module in a fresh
interpreter, and the frameworks are loaded only inside the benchmark calls.
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path
from typing import Any

from stde_bench.profiles import Grid, cell_config, get_profile

PROFILE = get_profile()
STATUS_CODES = {"ok": 0, "oom": 1, "skipped": 2, "timeout": 3, "error": 4}
STATUS_UNIT = "status (0 ok, 1 OOM, 2 skipped, 3 timeout, 4 error)"
#: seconds a whole grid's sweep may take inside asv's setup_cache
SWEEP_TIMEOUT = {"tiny": 600, "smoke": 3600, "paper": 48 * 3600}[PROFILE.name]
#: seconds one cell may take before it is recorded as a timeout
CELL_TIMEOUT = {"tiny": 300, "smoke": 600, "paper": 4 * 3600}[PROFILE.name]


def records_path(grid: Grid) -> Path:
    """``results/cells/<host>-<profile>-<grid>-<commit>.jsonl`` beside asv's results (not
    ``.json``, so asv's own result loader passes over them)."""
    root = Path(os.environ.get("ASV_CONF_DIR", ".")) / "results" / "cells"
    commit = os.environ.get("ASV_COMMIT", "nocommit")[:8]
    host = os.environ.get("STDE_BENCH_MACHINE") or platform.node() or "unknown"
    return root / f"{host}-{PROFILE.name}-{grid.name}-{commit}.jsonl"


def run_grid(grid: Grid) -> dict[str, list[dict[str, Any]]]:
    """Sweep the grid (resumable) and group the records by ``problem/estimator/dim``."""
    from stde_bench.sweep import Cell, RecordStore, sweep

    cells = [
        Cell(p, e, d, cell_config(grid, d, s), grid.skip_reason(e, d))
        for p, e, d in grid.cells()
        for s in grid.seeds
    ]
    store = sweep(cells, RecordStore(records_path(grid)), timeout=CELL_TIMEOUT, progress=False)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for rec in store.records.values():
        grouped.setdefault(f"{rec['problem']}/{rec['estimator']}/{rec['dim']}", []).append(rec)
    return grouped


def ok_values(records: dict, problem: str, estimator: str, dim: int, field: str) -> list[float]:
    """The field over the cell's successful seeds; NotImplementedError (asv: skipped) if none."""
    recs = records.get(f"{problem}/{estimator}/{dim}", [])
    values = [r[field] for r in recs if r["status"] == "ok" and r.get(field) is not None]
    if not values:
        raise NotImplementedError(f"no successful measurement of {field} for this cell")
    return values


def status(records: dict, problem: str, estimator: str, dim: int) -> int:
    recs = records.get(f"{problem}/{estimator}/{dim}", [])
    if not recs:
        raise NotImplementedError("cell not run")
    worst = max(recs, key=lambda r: STATUS_CODES[r["status"]] if r["status"] != "skipped" else -1)
    return STATUS_CODES[worst["status"]]


def mean(values: list[float]) -> float:
    return statistics.fmean(values)
