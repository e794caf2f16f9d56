"""Recorded results -> one tidy table.

Reads what ``asv run`` wrote (``results/<machine>/machine.json`` and
``results/<machine>/<commit8>-<env>.json``, asv results api_version 2, i.e. asv 0.6) and
the cell records the training benchmarks wrote beside them
(``results/cells/<host>-<profile>-<grid>-<commit8>.jsonl``: the reasons behind an OOM or a
skipped cell, |J| and the rest of the config, and the machine's versions).

Nothing here trusts a file: a file that is not JSON, or from another asv version, is named
in ``Loaded.problems`` and skipped; the rest is still read.

The tidy frame has one row per (machine, commit, benchmark, parameter combination):

    machine commit commit8 commit_date run_date env profile grid kind benchmark
    problem method dim samples block net metric value status reason unit

``status`` is the cell's outcome (``ok``, ``oom``, ``skipped``, ``timeout``, ``error``)
from ``track_status`` and the cell records, or ``failed`` where asv itself recorded a
failure (null) and ``skipped`` where asv recorded NaN (NotImplementedError).
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stde_bench.report.paper import net_label

#: the asv results format this reads (asv 0.6.x writes api_version 2)
ASV_RESULTS_API = 2
ASV_MACHINE_API = 1
STATUS_NAMES = {0: "ok", 1: "oom", 2: "skipped", 3: "timeout", 4: "error"}
#: asv method name -> our metric name
METRICS = {
    "track_it_per_s": "it_per_s",
    "track_peak_memory_mb": "memory_mb",
    "track_compile_s": "compile_s",
    "track_error_final": "error_final",
    "track_error_min": "error_min",
    "track_error_min_std": "error_min_std",
    "track_status": "status",
    "time_step": "step_s",
    "track_rel_std": "rel_std",
    "track_rel_bias": "rel_bias",
}
UNITS = {
    "it_per_s": "it/s",
    "memory_mb": "MB",
    "compile_s": "s",
    "error_final": "relative error",
    "error_min": "relative error",
    "error_min_std": "relative error",
    "status": "code",
    "step_s": "s",
    "rel_std": "relative std",
    "rel_bias": "relative bias",
    "n_params": "count",
}
DEFAULT_PARAM_NAMES = {
    "training": ["problem", "estimator", "dim"],
    "step": ["problem", "estimator", "dim"],
    "quality": ["problem", "estimator", "dim", "samples"],
}
COLUMNS = [
    "machine",
    "commit",
    "commit8",
    "commit_date",
    "run_date",
    "env",
    "profile",
    "grid",
    "kind",
    "benchmark",
    "problem",
    "method",
    "dim",
    "samples",
    "block",
    "net",
    "metric",
    "value",
    "status",
    "reason",
    "unit",
]


@dataclass
class Run:
    """One asv results file: a machine, a commit, an environment."""

    machine: str
    commit: str
    env: str
    commit_date: pd.Timestamp | None
    run_date: pd.Timestamp | None
    params: dict[str, Any]
    requirements: dict[str, Any]
    env_vars: dict[str, Any]
    path: Path


@dataclass
class Loaded:
    """Everything readable under a results folder."""

    root: Path
    frame: pd.DataFrame
    runs: list[Run] = field(default_factory=list)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: cell records by (commit8, grid): {host, profile, path, records}
    cells: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: "<path>: what is wrong with it (skipped)" for every file that could not be used
    problems: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.frame.empty


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _read_json(path: Path, root: Path, problems: list[str]) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problems.append(f"{_rel(path, root)}: not readable JSON ({err}); skipped")
        return None


def _timestamp(js_ms: Any) -> pd.Timestamp | None:
    if isinstance(js_ms, (int, float)) and math.isfinite(js_ms):
        return pd.Timestamp(int(js_ms), unit="ms", tz="UTC")
    return None


def _param_value(text: Any) -> Any:
    """asv stores parameter values as their repr: ``"'stde-jax'"``, ``"1000"``."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _split_benchmark(name: str) -> tuple[str, str, str] | None:
    """``bench_training.AllenCahnTwoBody.track_it_per_s`` -> (kind, grid, metric)."""
    parts = name.split(".")
    if len(parts) < 3 or parts[-1] not in METRICS:
        return None
    module, cls, method = parts[-3], parts[-2], parts[-1]
    metric = METRICS[method]
    if module == "bench_quality":
        return "quality", cls, metric
    if module == "bench_training":
        if method == "time_step" and cls.endswith("Step"):
            return "step", cls[: -len("Step")], metric
        return "training", cls, metric
    return None


# --------------------------------------------------------------------------- cell records
_CELLS_NAME = re.compile(
    r"^(?P<host>.+?)-(?P<profile>[A-Za-z0-9_]+)-(?P<grid>[A-Za-z0-9_]+)"
    r"-(?P<version>code-[0-9a-f]+|[0-9a-f]+|nocommit)$"
)


def _parse_cells_name(path: Path) -> tuple[str, str, str, str] | None:
    """``<host>-<profile>-<grid>-<version>.jsonl`` -> (host, profile, grid, version); the
    version is the commit's first 8 hex digits, or ``code-<hash>`` of the sources where the
    benchmarks could not tell the commit."""
    m = _CELLS_NAME.match(path.stem)
    return (m["host"], m["profile"], m["grid"], m["version"]) if m else None


def load_cell_records(root: Path, problems: list[str]) -> dict[tuple[str, str], list[dict]]:
    """Cell-record files under ``root/cells``, keyed by (commit8, grid)."""
    out: dict[tuple[str, str], list[dict]] = {}
    folder = root / "cells"
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.jsonl")):
        parsed = _parse_cells_name(path)
        if parsed is None:
            problems.append(
                f"{_rel(path, root)}: name is not <host>-<profile>-<grid>-<commit8>.jsonl; skipped"
            )
            continue
        host, profile, grid, commit8 = parsed
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            problems.append(f"{_rel(path, root)}: not readable ({err}); skipped")
            continue
        records = []
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or not {"problem", "estimator", "dim"} <= rec.keys():
                    raise ValueError("not a cell record")
            except ValueError as err:
                problems.append(f"{_rel(path, root)}:{lineno}: bad cell record ({err}); skipped")
                continue
            records.append(rec)
        out.setdefault((commit8, grid), []).append(
            {"host": host, "profile": profile, "path": path, "records": records}
        )
    return out


def _cell_summary(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the report needs from a cell's records (one per seed)."""
    config = next((r.get("config") or {} for r in recs if r.get("config")), {})
    ok = [r for r in recs if r.get("status") == "ok"]
    bad = [r for r in recs if r.get("status") not in ("ok", None)]
    n_params = next((r.get("n_params") for r in ok if r.get("n_params") is not None), None)
    return {
        "samples": config.get("samples"),
        "block": config.get("block") or 1,
        "net": net_label(config.get("depth"), config.get("width")),
        "config": config,
        "configs": [
            {k: v for k, v in (r.get("config") or {}).items() if k != "seed"} for r in recs
        ],
        "seeds": sorted({(r.get("config") or {}).get("seed") for r in recs} - {None}),
        "reason": "; ".join(sorted({str(r.get("reason") or "") for r in bad} - {""})),
        "statuses": sorted({r.get("status") for r in recs} - {None}),
        "stochastic": next((r.get("stochastic") for r in ok if "stochastic" in r), None),
        "memory_method": next((r.get("memory_method") for r in ok if r.get("memory_method")), None),
        "error_metric": next((r.get("error_metric") for r in ok if r.get("error_metric")), None),
        "it_per_s": [r["it_per_s"] for r in ok if r.get("it_per_s") is not None],
        "n_params": n_params,
        "machine": next((r.get("machine") for r in ok + recs if r.get("machine")), None),
    }


def _match_cells(
    cells: dict[tuple[str, str], list[dict]],
    machine: str,
    commit: str,
    grid: str,
    asv_it_per_s: dict[tuple, float],
) -> dict[str, Any] | None:
    """The cell-record file of this (machine, commit, grid): the host named like the asv
    machine, else the only candidate, else the one whose it/s agree with asv's."""
    candidates = cells.get((commit[:8], grid), [])
    by_code = not candidates
    if by_code:  # records named by a hash of the sources: only the values can tell
        candidates = [
            c for (v, g), cs in cells.items() if g == grid and v.startswith("code-") for c in cs
        ]
    if not candidates:
        return None
    if not by_code:
        for c in candidates:
            if c["host"] == machine:
                return c
        if len(candidates) == 1:
            return candidates[0]

    def agreement(c: dict) -> int:
        hits = 0
        grouped: dict[tuple, list[float]] = {}
        for r in c["records"]:
            if r.get("status") == "ok" and r.get("it_per_s") is not None:
                grouped.setdefault((r["problem"], r["estimator"], r["dim"]), []).append(
                    r["it_per_s"]
                )
        for key, values in grouped.items():
            ours = asv_it_per_s.get(key)
            if ours is not None and math.isclose(statistics.fmean(values), ours, rel_tol=1e-9):
                hits += 1
        return hits

    best = max(candidates, key=agreement)
    return best if not by_code or agreement(best) > 0 else None


# --------------------------------------------------------------------------- asv results
def _iter_results_files(root: Path, problems: list[str], machines: dict[str, dict]):
    for mdir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "cells"):
        files = sorted(p for p in mdir.glob("*.json") if p.name != "machine.json")
        mjson = mdir / "machine.json"
        if not mjson.exists():
            if files:
                problems.append(
                    f"{_rel(mdir, root)}/: no machine.json, not an asv machine folder; skipped"
                )
            continue
        info = _read_json(mjson, root, problems)
        if info is None:
            continue
        if not isinstance(info, dict) or info.get("version") != ASV_MACHINE_API:
            problems.append(
                f"{_rel(mjson, root)}: asv machine api_version "
                f"{info.get('version') if isinstance(info, dict) else '?'}, expected "
                f"{ASV_MACHINE_API} (asv 0.6); skipped with its results"
            )
            continue
        machines[mdir.name] = info
        yield from ((mdir.name, f) for f in files)


def _read_run(path: Path, machine: str, root: Path, problems: list[str]):
    data = _read_json(path, root, problems)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(f"{_rel(path, root)}: not an asv results file; skipped")
        return None
    version = data.get("version")
    if version != ASV_RESULTS_API:
        problems.append(
            f"{_rel(path, root)}: asv results api_version {version!r}, this report reads "
            f"{ASV_RESULTS_API} (asv 0.6); re-run the suite or `asv update`; skipped"
        )
        return None
    missing = {"commit_hash", "results", "result_columns"} - data.keys()
    if missing or not isinstance(data["results"], dict):
        what = ", ".join(sorted(missing)) or "results"
        problems.append(f"{_rel(path, root)}: asv results file without {what}; skipped")
        return None
    params = data.get("params") or {}
    run = Run(
        machine=params.get("machine") or machine,
        commit=str(data["commit_hash"]),
        env=str(data.get("env_name") or ""),
        commit_date=_timestamp(data.get("date")),
        run_date=None,
        params=params,
        requirements=data.get("requirements") or {},
        env_vars=data.get("env_vars") or {},
        path=path,
    )
    return run, data


def _entries(data: dict[str, Any], benchmarks: dict[str, Any]):
    """(benchmark name, kind, grid, metric, [(param dict, value, started_at)])."""
    columns = data["result_columns"]
    for name, row in data["results"].items():
        split = _split_benchmark(name)
        if split is None or not isinstance(row, list):
            continue
        kind, grid, metric = split
        entry = dict(zip(columns, row, strict=False))
        params = entry.get("params") or []
        if not params:  # every benchmark of the suite is a grid of cells; this is not one
            continue
        names = (benchmarks.get(name) or {}).get("param_names") or DEFAULT_PARAM_NAMES[kind]
        combos = list(itertools.product(*params)) if params else [()]
        result = entry.get("result")
        values = result if isinstance(result, list) else [result] * len(combos)
        if len(values) != len(combos):
            continue
        for combo, value in zip(combos, values, strict=True):
            p = {n: _param_value(v) for n, v in zip(names, combo, strict=False)}
            yield name, kind, grid, metric, p, value, entry.get("started_at")


def load_results(root: str | Path) -> Loaded:
    """Read every asv results file and cell record under ``root`` (never raises for a bad
    file: it is named in ``problems`` and skipped)."""
    root = Path(root)
    problems: list[str] = []
    loaded = Loaded(root=root, frame=pd.DataFrame(columns=COLUMNS))
    if not root.is_dir():
        problems.append(f"{root}: no such results folder")
        loaded.problems = problems
        return loaded
    benchmarks: dict[str, Any] = {}
    bjson = root / "benchmarks.json"
    if bjson.exists():
        b = _read_json(bjson, root, problems)
        if isinstance(b, dict):
            benchmarks = {k: v for k, v in b.items() if isinstance(v, dict)}
    loaded.cells = load_cell_records(root, problems)
    rows: list[dict[str, Any]] = []
    for machine, path in _iter_results_files(root, problems, loaded.machines):
        read = _read_run(path, machine, root, problems)
        if read is None:
            continue
        run, data = read
        entries = list(_entries(data, benchmarks))
        started = [s for *_, s in entries if isinstance(s, (int, float))]
        run.run_date = _timestamp(max(started)) if started else None
        loaded.runs.append(run)
        rows.extend(_rows_for_run(run, entries, loaded.cells, benchmarks))
    loaded.problems = problems
    if rows:
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["dim"] = frame["dim"].astype("Int64")
        frame["samples"] = frame["samples"].astype("Int64")
        frame["block"] = frame["block"].astype("Int64")
        frame["value"] = frame["value"].astype(float)
        loaded.frame = frame
    return loaded


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _rows_for_run(run: Run, entries: list, cells: dict, benchmarks: dict) -> list[dict]:
    # the outcome of each training cell, and asv's it/s (to tell cell-record files apart)
    codes: dict[tuple, Any] = {}
    asv_rates: dict[str, dict[tuple, float]] = {}
    for _, kind, grid, metric, p, value, _ in entries:
        key = (p.get("problem"), p.get("estimator"), p.get("dim"))
        if kind == "training" and metric == "status":
            codes[grid, *key] = value
        if kind == "training" and metric == "it_per_s" and _finite(value):
            asv_rates.setdefault(grid, {})[key] = value
    summaries: dict[str, dict[tuple, dict]] = {}
    profiles: dict[str, str] = {}
    for grid in {e[2] for e in entries}:
        match = _match_cells(cells, run.machine, run.commit, grid, asv_rates.get(grid, {}))
        if match is None:
            continue
        profiles[grid] = match["profile"]
        by_cell: dict[tuple, list[dict]] = {}
        for r in match["records"]:
            by_cell.setdefault((r["problem"], r["estimator"], r["dim"]), []).append(r)
        summaries[grid] = {k: _cell_summary(v) for k, v in by_cell.items()}
    default_profile = run.env_vars.get("STDE_BENCH_PROFILE") or (
        next(iter(set(profiles.values()))) if len(set(profiles.values())) == 1 else "unknown"
    )
    rows = []
    for name, kind, grid, metric, p, value, started in entries:
        key = (p.get("problem"), p.get("estimator"), p.get("dim"))
        summary = summaries.get(grid, {}).get(key) or {}
        code = codes.get((grid, *key)) if kind in ("training", "step") else None
        status = STATUS_NAMES.get(int(code)) if _finite(code) else None
        if value is None:
            status = status if status not in (None, "ok") else "failed"
        elif not _finite(value):
            status = status or "skipped"
        else:
            status = status or "ok"
        if kind == "step" and _finite(value):
            status = "ok"  # the step timer ran even where the training sweep failed
        unit = (benchmarks.get(name) or {}).get("unit") or UNITS.get(metric, "")
        samples = p.get("samples") if kind == "quality" else summary.get("samples")
        rows.append(
            {
                "machine": run.machine,
                "commit": run.commit,
                "commit8": run.commit[:8],
                "commit_date": run.commit_date,
                "run_date": _timestamp(started) or run.run_date,
                "env": run.env,
                "profile": profiles.get(grid, default_profile),
                "grid": grid,
                "kind": kind,
                "benchmark": name,
                "problem": key[0],
                "method": key[1],
                "dim": key[2],
                "samples": samples,
                "block": summary.get("block", 1),
                "net": summary.get("net", "base"),
                "metric": metric,
                "value": float(value) if _finite(value) else math.nan,
                "status": status,
                "reason": summary.get("reason", "") if status != "ok" else "",
                "unit": unit,
            }
        )
    # n_params is recorded in the cell records only (Table 10 prints it)
    for grid, by_cell in summaries.items():
        for (problem, method, dim), s in by_cell.items():
            if s.get("n_params") is None:
                continue
            rows.append(
                {
                    "machine": run.machine,
                    "commit": run.commit,
                    "commit8": run.commit[:8],
                    "commit_date": run.commit_date,
                    "run_date": run.run_date,
                    "env": run.env,
                    "profile": profiles.get(grid, default_profile),
                    "grid": grid,
                    "kind": "record",
                    "benchmark": "cell record n_params",
                    "problem": problem,
                    "method": method,
                    "dim": dim,
                    "samples": s.get("samples"),
                    "block": s.get("block", 1),
                    "net": s.get("net", "base"),
                    "metric": "n_params",
                    "value": float(s["n_params"]),
                    "status": "ok",
                    "reason": "",
                    "unit": "count",
                }
            )
    return rows


# --------------------------------------------------------------------------- selection
def cell_summaries(loaded: Loaded, machine: str, commit: str) -> dict[tuple, dict[str, Any]]:
    """Per (grid, problem, method, dim) of one run: records summary (config, reasons, ...)."""
    out: dict[tuple, dict[str, Any]] = {}
    rows = loaded.frame[(loaded.frame.machine == machine) & (loaded.frame.commit == commit)]
    for grid in rows.grid.unique():
        sub = rows[(rows.grid == grid) & (rows.metric == "it_per_s")]
        rates = {
            (r.problem, r.method, int(r.dim)): r.value for r in sub.itertuples() if _finite(r.value)
        }
        match = _match_cells(loaded.cells, machine, commit, grid, rates)
        if match is None:
            continue
        by_cell: dict[tuple, list[dict]] = {}
        for r in match["records"]:
            by_cell.setdefault((r["problem"], r["estimator"], r["dim"]), []).append(r)
        for key, recs in by_cell.items():
            out[(grid, *key)] = _cell_summary(recs) | {
                "profile": match["profile"],
                "records_file": match["path"],
            }
    return out


def select_commit(frame: pd.DataFrame, machine: str, commit: str | None) -> str:
    """The full hash of ``commit`` (a prefix) on ``machine``, else its newest commit.

    ValueError with the known commits if the prefix matches none or several."""
    runs = frame[frame.machine == machine]
    known = (
        runs.groupby("commit")
        .agg(commit_date=("commit_date", "max"), run_date=("run_date", "max"))
        .reset_index()
    )
    if known.empty:
        raise ValueError(f"no results for machine {machine!r}")
    if commit:
        hits = known[known.commit.str.startswith(commit)]
        if len(hits) != 1:
            listing = ", ".join(c[:8] for c in known.commit)
            what = "matches no" if hits.empty else "is ambiguous among the"
            raise ValueError(f"commit {commit!r} {what} results of {machine}: {listing}")
        return str(hits.commit.iloc[0])
    known = known.sort_values(["commit_date", "run_date"], na_position="first")
    return str(known.commit.iloc[-1])


def commit_order(frame: pd.DataFrame, machine: str) -> list[str]:
    """The machine's commits, oldest first (by commit date, then run date)."""
    runs = frame[frame.machine == machine]
    known = (
        runs.groupby("commit")
        .agg(commit_date=("commit_date", "max"), run_date=("run_date", "max"))
        .reset_index()
        .sort_values(["commit_date", "run_date"], na_position="first")
    )
    return list(known.commit)
