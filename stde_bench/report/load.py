"""Recorded results -> one tidy frame, one row per measurement (``COLUMNS``).

Cell records (``results/cells/``) are the primary source of training measurements (speed
and memory where ``config.measure`` is not "error", errors where it is not "speed"); asv's
results (asv 0.6) add the step timer, the estimator quality and cells without records,
joined on the keys the benchmark writes (machine, code version, grid, problem, estimator,
dim), never on values; the paper's table has ``source == "paper"``.  A file that cannot be
read is named in ``Loaded.problems`` and skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stde_bench.asv_results import join_records, load_asv
from stde_bench.cell import stochastic_of
from stde_bench.config import TrainConfig
from stde_bench.error_stats import STATS, read_constant_mode, record_stats
from stde_bench.evidence import error_trend, longer, longer_runs
from stde_bench.records import CellRecord, read_record, read_records, rel_path

#: a cell of a report: one measurement of one method (with "seed": one seed of it)
CELL = "machine problem method samples restricted torch_compile block net dim metric".split()
KEYS = ["machine", "code_version", "grid", *CELL[1:], "seed"]
COLUMNS = KEYS + "value std source origin kind derived profile measure status reason".split()
COLUMNS += "memory_method steps steps_done duration_s config date file table printed trend".split()
SPEED, ERRORS = ["it_per_s", "memory_mb", "compile_s"], ["error_min", "error_final"]
#: a cell's it/s ÷ the floor's timed beside it in the same process (``--paired-floor``),
#: and that floor's own it/s there
PAIRED, BESIDE = "it_per_s_over_floor", "floor_it_per_s"
#: record fields shown wherever a record has them, whatever its ``config.measure``
ALWAYS = ["n_params", PAIRED, BESIDE]
DEFAULTS = dict(samples=0, restricted=False, torch_compile=False, block=1, net="base", seed=-1)
DEFAULTS |= dict(derived=False)
#: record fields (``config.*`` flattened) -> frame columns
RENAME = {"estimator": "method", "asv_machine": "machine", "machine.date": "date"}
RENAME |= {f"config.{k}": k for k in "samples torch_compile block seed steps measure".split()}
RENAME |= {"config.restrict": "restricted"}


@dataclass
class Loaded:
    """The frame, asv's machine.json, the newest machine block per (machine, code version)."""

    root: Path
    frame: pd.DataFrame
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    hardware: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_paper() -> pd.DataFrame:
    """The paper's cells (``printed``: the value and its ± as printed; OOM: status)."""
    with resources.as_file(resources.files("stde_bench") / "data" / "stde_tables.csv") as path:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    f = raw.assign(machine="paper", code_version="paper", source="paper", origin="paper")
    f = f.assign(grid="table" + raw.table, table=raw.table.astype(int), kind="training")
    f["samples"] = pd.to_numeric(raw.batch.replace("", "0"))
    f["block"] = raw.note.str.extract(r"block=(\d+)", expand=False).fillna("1").astype(int)
    f["net"] = raw.note.str.extract(r"net=(\w+)", expand=False).fillna("base")
    f["metric"] = raw.metric.str.replace(r"^l[12]_rel_error$", "error_min", regex=True)
    oom = raw.value.str.upper() == "OOM"
    f["value"] = pd.to_numeric(raw.value.where(~oom), errors="coerce")
    f["std"], f["status"] = pd.to_numeric(raw["std"], errors="coerce"), np.where(oom, "oom", "ok")
    f["printed"] = raw.value + np.where(raw["std"] != "", " ± " + raw["std"], "")
    f = f.assign(**{k: v for k, v in DEFAULTS.items() if k not in f})
    return f.reindex(columns=COLUMNS).astype({"dim": int})


def machines(records: list[CellRecord]) -> list[str]:
    """Each record's asv machine (one without: the file's one machine, else its host)."""
    named = {r.asv_machine for r in records} - {None}
    one = named.pop() if len(named) == 1 else None
    return [r.asv_machine or one or r.machine.get("hostname") or "unknown" for r in records]


def record_frame(records: list[CellRecord], file: str, runs=None, constant=None) -> pd.DataFrame:
    """One row per (record, metric its ``config.measure`` takes; NaN: see the status), its
    ``error_stats.STATS`` where they apply (``constant``: ``read_constant_mode``); ``runs``:
    ``longer_runs``, appended to the trend of a cell trained for fewer steps."""
    f = pd.json_normalize([r.to_json() for r in records]).rename(columns=RENAME)
    f = f.join(pd.DataFrame([record_stats(r, constant or {}) for r in records], columns=STATS))
    f = f.assign(source="ours", origin="record", kind="training", derived=False, file=file)
    f["machine"] = machines(records)
    d, w = TrainConfig().depth, TrainConfig().width  # the paper's network; Table 11 varies it
    shape = [(r.config.get("depth", d), r.config.get("width", w)) for r in records]
    f["net"] = [f"L{a}" * (a != d) + f"h{b}" * (b != w) or "base" for a, b in shape]
    f["config"] = [json.dumps(r.config | {"seed": None}, sort_keys=True) for r in records]
    f["reason"] = f.reason.fillna("").str.strip().str.split("\n").str[0].str[:300]
    f["measure"] = f.get("measure", pd.Series("all", f.index)).fillna("all")
    trends = [(r, error_trend(r)) for r in records]  # "" when too short to tell
    f["trend"] = [t and t + longer(r, runs or {}) for r, t in trends]
    ids = [c for c in [*COLUMNS, "stochastic"] if c in f and c not in ("value", "metric")]
    long = f.reindex(columns=ids + SPEED + ERRORS + STATS + ALWAYS).melt(ids, var_name="metric")
    speed, error = long.metric.isin(SPEED), long.metric.isin(ERRORS + STATS)
    taken = (speed & (long.measure != "error")) | (error & (long.measure != "speed"))
    shown = long.value.notna() | ((long.status != "ok") & (speed | long.metric.isin(ERRORS)))
    return long[(taken | long.metric.isin(ALWAYS)) & shown]


def _read_cells(path: Path, rel: str, loaded: Loaded) -> list[CellRecord]:
    try:
        records, bad = read_records(path) if path.suffix == ".jsonl" else ([read_record(path)], {})
    except (OSError, ValueError, TypeError) as err:
        records, bad = [], {0: f"{rel}: not a cell record ({type(err).__name__}: {err})"}
    loaded.problems += [f"{why} (bad cell record; skipped)" for why in bad.values()]
    for rec, machine in zip(records, machines(records), strict=True):
        old = loaded.hardware.get((machine, rec.code_version), {})
        if rec.machine and str(rec.machine.get("date")) >= str(old.get("date") or ""):
            loaded.hardware[machine, rec.code_version] = rec.machine
    return records


def load_records(loaded: Loaded) -> pd.DataFrame:
    """Rows of every record under ``root/cells``; other files named and skipped."""
    parts, folder, runs = [], loaded.root / "cells", longer_runs(loaded.root)
    constant = read_constant_mode(loaded.root)
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        rel = rel_path(path, loaded.root)
        if path.suffix in (".jsonl", ".json"):
            records = _read_cells(path, rel, loaded)
            parts += [record_frame(records, rel, runs, constant)] if records else []
        elif path.suffix == ".corrupt":
            loaded.problems.append(f"{rel}: lines the record store moved aside as corrupt; skipped")
        elif path.suffix != ".lock" and not path.name.startswith("."):
            loaded.problems.append(f"{rel}: not a cell-record file (.jsonl, .json); skipped")
    if not parts:
        return pd.DataFrame()
    # |J| = 0 for a method that samples nothing (unless restricted): its record says (one
    # from before records said it: the estimator's class, ``stochastic_of``)
    f = pd.concat(parts, ignore_index=True)
    sampled = f.stochastic.fillna(f.method.map(stochastic_of)).fillna(True).astype(bool)
    return f.assign(samples=f.samples.where(sampled | f.restricted, 0))


def load_results(root: str | Path) -> Loaded:
    """Every asv result and cell record under ``root`` and the paper's cells: one frame."""
    loaded = Loaded(root=Path(root), frame=load_paper())
    if not loaded.root.is_dir():
        loaded.problems.append(f"{root}: no such results folder")
        return loaded
    records = load_records(loaded)
    asv = load_asv(loaded.root, loaded.problems, loaded.machines)
    if asv is not None:
        asv = join_records(asv.dropna(subset=["problem", "method", "dim"]), records)
    parts = [p.reindex(columns=COLUMNS) for p in (records, asv, loaded.frame) if p is not None]
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True)
    frame = frame.astype(dict.fromkeys([*DEFAULTS, "config"], object)).fillna(DEFAULTS)
    frame["date"] = pd.to_datetime(frame.date, utc=True, errors="coerce", format="mixed")
    types = dict(samples=int, block=int, dim=int, seed=int, value=float, derived=bool)
    loaded.frame = frame.astype(types | dict(restricted=bool, torch_compile=bool))
    return loaded
