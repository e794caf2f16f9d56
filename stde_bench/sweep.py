"""Sweeps: every cell in a fresh process (so peak memory is the cell's own), outcomes
recorded as they finish, resumable.

Records live in one JSON-lines file (``RecordStore``) rewritten atomically after each
cell: a crash or Ctrl-C leaves every finished cell intact, and running the same sweep
again skips the cells already recorded.  A cell that dies without writing its record is
classified from its exit: out-of-memory (allocator message, or killed by SIGKILL, as the
kernel's OOM killer does), timeout, or error with the tail of its stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stde_bench.cell import base_record, is_oom
from stde_bench.config import TrainConfig
from stde_bench.profiles import Grid, cell_config
from stde_bench.records import cell_id, read_json, to_jsonable, write_text_atomic


@dataclass(frozen=True)
class Cell:
    problem: str
    estimator: str
    dim: int
    config: TrainConfig
    skip_reason: str | None = None

    @property
    def key(self) -> str:
        c = self.config
        return cell_id(self.problem, self.estimator, self.dim, c.samples, c.seed)


def record_key(record: dict[str, Any]) -> str:
    c = record["config"]
    return cell_id(record["problem"], record["estimator"], record["dim"], c["samples"], c["seed"])


def grid_cells(grid: Grid) -> list[Cell]:
    """Every cell of a profile grid, once per seed, with the grid's skip reasons."""
    return [
        Cell(p, e, d, cell_config(grid, d, s), grid.skip_reason(e, d))
        for p, e, d in grid.cells()
        for s in grid.seeds
    ]


class RecordStore:
    """Cell records keyed by cell, persisted as JSON lines with atomic rewrites."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.records[record_key(rec)] = rec

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def put(self, record: dict[str, Any]) -> None:
        self.records[record_key(record)] = record
        lines = (
            json.dumps(to_jsonable(rec), sort_keys=True) + "\n" for rec in self.records.values()
        )
        write_text_atomic(self.path, "".join(lines))


def run_in_subprocess(cell: Cell, timeout: float | None) -> dict[str, Any]:
    """``stde-bench run`` for one cell in a fresh interpreter; always returns a record."""
    base = base_record(cell.problem, cell.estimator, cell.dim, cell.config)
    if cell.skip_reason:
        return base | {"status": "skipped", "reason": cell.skip_reason}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        cmd = [
            sys.executable, "-m", "stde_bench.cli", "run", "--quiet",
            "--problem", cell.problem, "--estimator", cell.estimator, "--dim", str(cell.dim),
            "--config-json", json.dumps(cell.config.asdict()), "--json", str(out),
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return base | {"status": "timeout", "reason": f"exceeded {timeout:.0f} s"}
        if out.exists():
            return read_json(out)
        tail = (proc.stderr or "")[-2000:]
        status = "oom" if proc.returncode in (-9, 137) or is_oom(tail) else "error"
        return base | {"status": status, "reason": f"exit {proc.returncode}: {tail}"}


def sweep(
    cells: list[Cell], store: RecordStore, *, timeout: float | None = None, progress: bool = True
) -> RecordStore:
    """Run every cell not yet in ``store``; record each outcome as soon as it is known."""
    from tqdm import tqdm

    todo = [c for c in cells if c.key not in store]
    bar = tqdm(
        todo, unit="cell", disable=not progress, desc=f"sweep ({len(cells) - len(todo)} done)"
    )
    for cell in bar:
        bar.set_postfix_str(cell.key, refresh=True)
        store.put(run_in_subprocess(cell, timeout))
    return store
