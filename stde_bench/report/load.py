"""Recorded results -> one tidy frame, one row per measurement (``COLUMNS``).

Cell records (``results/cells/``) are the primary source of training measurements (speed
and memory where ``config.measure`` is not "error", errors where it is not "speed"); asv's
results (asv 0.6) add the step timer, the estimator quality and cells without records,
joined on the keys the benchmark writes (machine, code version, grid, problem, estimator,
dim), never on values; the paper's table has ``source == "paper"``.  A file that cannot be
read is named in ``Loaded.problems`` and skipped."""

from __future__ import annotations

import ast
import itertools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stde_bench.records import CellRecord, read_record, read_records

#: a cell of a report: one measurement of one method (with "seed": one seed of it)
CELL = "machine problem method samples restricted torch_compile block net dim metric".split()
KEYS = ["machine", "code_version", "grid", *CELL[1:], "seed"]
COLUMNS = KEYS + "value std source origin kind derived profile measure status reason".split()
COLUMNS += "memory_method steps steps_done config date file table printed trend".split()
ASV_RESULTS_API, ASV_MACHINE_API = 2, 1
#: folders of results/ that are not asv machines: the records, sweep logs, one-off runs
#: outside any profile (kept as evidence, never in a table)
NOT_MACHINES = ("cells", "sweeps", "diagnostics")
STATUS_NAMES = dict(enumerate(("ok", "oom", "skipped", "timeout", "error")))
ASV_METRICS = {"track_peak_memory_mb": "memory_mb", "time_step": "step_s"}
ASV_METRICS |= {f"track_{m}": m for m in "it_per_s compile_s error_final error_min".split()}
ASV_METRICS |= {f"track_{m}": m for m in "error_min_std status rel_std rel_bias".split()}
SPEED, ERRORS = ["it_per_s", "memory_mb", "compile_s"], ["error_min", "error_final"]
#: a cell's it/s ÷ the floor's timed beside it in the same process (``--paired-floor``),
#: and that floor's own it/s there
PAIRED, BESIDE = "it_per_s_over_floor", "floor_it_per_s"
ASV_METRICS[f"track_{PAIRED}"] = PAIRED
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


def error_trend(record: CellRecord) -> str:
    """How a trained cell's test error moved (evidence beside a verdict), e.g. ``seed 0:
    5.48e-03 at step 1,000 ... 5.35e-03 at 9,000, 4.71e-03 at 10,000: still falling``."""
    history = [(int(s), float(e)) for s, e in record.error_history or []]
    if len(history) < 3:
        return ""
    (s0, e0), (sp, ep), (sn, en) = history[0], history[-2], history[-1]
    s_min, e_min = min(history, key=lambda h: h[1])
    if en < 0.95 * ep:
        how = "still falling when training stopped"
    elif en > 2 * e_min:
        how = f"rose after its minimum {e_min:.2e} at step {s_min:,}"
    else:  # flat since the first checkpoint from which every later one is within 5%
        flat = next(
            s
            for k, (s, _) in enumerate(history)
            if all(abs(e - en) <= 0.05 * en for _, e in history[k:])
        )
        how = f"flat (within 5%) from step {flat:,}"
    seed = record.config.get("seed")
    return f"seed {seed}: {e0:.2e} at step {s0:,} ... {ep:.2e} at {sp:,}, {en:.2e} at {sn:,}: {how}"


#: a trained cell's identity across runs of different length: (problem, method, d, |J|,
#: restricted, seed)
RunKey = tuple[str, str, int, int, bool, int]


def run_key(record: CellRecord) -> RunKey:
    c = record.config
    samples, restrict, seed = int(c.get("samples") or 0), bool(c.get("restrict")), c.get("seed")
    return record.problem, record.estimator, int(record.dim), samples, restrict, int(seed or 0)


def longer_runs(root: Path) -> dict[RunKey, tuple[int, str]]:
    """Evidence from ``root/diagnostics`` (one-off runs, never in a table): for each cell
    trained there, its steps and e.g. ``trained 20,000 steps (results/diagnostics/x.json, ...):
    3.10e-03 at step 10,000, 2.22e-04 at 20,000 (its minimum)``; the longest run wins."""
    folder, out = root / "diagnostics", {}
    for path in sorted(folder.glob("*.json*")) if folder.is_dir() else []:
        try:
            records = read_records(path)[0] if path.suffix == ".jsonl" else [read_record(path)]
        except (OSError, ValueError, TypeError):
            continue  # evidence only: an unreadable file is no evidence
        for r in records:
            history = {int(s): float(e) for s, e in r.error_history or []}
            steps = int(r.config.get("steps") or 0)
            if r.status != "ok" or len(history) < 2 or steps <= out.get(run_key(r), (0,))[0]:
                continue
            (s_min, e_min), last = min(history.items(), key=lambda h: h[1]), max(history)
            mid = [s for s in history if s <= last // 2]
            at = f"{history[max(mid)]:.2e} at step {max(mid):,}, " if mid else ""
            low = " (its minimum)" if s_min == last else f", minimum {e_min:.2e} at {s_min:,}"
            text = f"{at}{history[last]:.2e} at {last:,}{low}"
            where = f"{_rel(path, root)}, learning rate decaying to 0 over all {steps:,}"
            out[run_key(r)] = steps, f"trained {steps:,} steps ({where}): {text}"
    return out


def record_frame(
    records: list[CellRecord], file: str, longer: dict[RunKey, tuple[int, str]] | None = None
) -> pd.DataFrame:
    """One row per (record, metric its ``config.measure`` takes; NaN: see the status);
    ``longer``: ``longer_runs``, appended to the trend of a cell trained for fewer steps."""
    f = pd.json_normalize([r.to_json() for r in records]).rename(columns=RENAME)
    f = f.assign(source="ours", origin="record", kind="training", derived=False, file=file)
    f["machine"] = machines(records)
    shape = [(int(r.config.get("depth") or 4), int(r.config.get("width") or 128)) for r in records]
    f["net"] = [f"L{d}" * (d != 4) + f"h{w}" * (w != 128) or "base" for d, w in shape]  # Table 11
    f["config"] = [json.dumps(r.config | {"seed": None}, sort_keys=True) for r in records]
    f["reason"] = f.reason.fillna("").str.strip().str.split("\n").str[0].str[:300]
    f["measure"] = f.get("measure", pd.Series("all", f.index)).fillna("all")
    trends = [(r, error_trend(r)) for r in records]  # "" when too short to tell
    f["trend"] = [t and t + _longer(r, longer or {}) for r, t in trends]
    ids = [c for c in [*COLUMNS, "stochastic"] if c in f and c not in ("value", "metric")]
    long = f.reindex(columns=ids + SPEED + ERRORS + ALWAYS).melt(ids, var_name="metric")
    speed, error = long.metric.isin(SPEED), long.metric.isin(ERRORS)
    taken = (speed & (long.measure != "error")) | (error & (long.measure != "speed"))
    shown = long.value.notna() | ((long.status != "ok") & (speed | error))
    return long[(taken | long.metric.isin(ALWAYS)) & shown]


def _longer(record: CellRecord, longer: dict[RunKey, tuple[int, str]]) -> str:
    steps, text = longer.get(run_key(record), (0, ""))
    return f"; the same seed {text}" if steps > int(record.config.get("steps") or 0) else ""


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
    parts, folder, longer = [], loaded.root / "cells", longer_runs(loaded.root)
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        rel = _rel(path, loaded.root)
        if path.suffix in (".jsonl", ".json"):
            records = _read_cells(path, rel, loaded)
            parts += [record_frame(records, rel, longer)] if records else []
        elif path.suffix == ".corrupt":
            loaded.problems.append(f"{rel}: lines the record store moved aside as corrupt; skipped")
        elif path.suffix != ".lock" and not path.name.startswith("."):
            loaded.problems.append(f"{rel}: not a cell-record file (.jsonl, .json); skipped")
    if not parts:
        return pd.DataFrame()
    # |J| = 0 for a method that samples nothing (unless restricted); a record that does not
    # say (a cell skipped before its estimator was built) asks the method's other records
    f = pd.concat(parts, ignore_index=True)
    known = f.dropna(subset=["stochastic"]).groupby("method").stochastic.first()
    sampled = f.stochastic.fillna(f.method.map(known)).fillna(True).astype(bool)
    return f.assign(samples=f.samples.where(sampled | f.restricted, 0))


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root.parent) if path.is_relative_to(root.parent) else path)


def _read_json(path: Path, rel: str, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problems.append(f"{rel}: not readable JSON ({err}); skipped")


def _param(text: Any) -> Any:
    """asv stores parameter values as their repr: ``"'stde-jax'"``, ``"1000"``."""
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        return text


def split_benchmark(name: str) -> tuple[str, str, str] | None:
    """``bench_training.AllenCahnTwoBodyStep.time_step`` -> (kind, grid, metric)."""
    *_, module, cls, method = ["", "", *name.split(".")]
    if method not in ASV_METRICS or module not in ("bench_training", "bench_quality"):
        return None
    if module == "bench_quality":
        return "quality", cls, ASV_METRICS[method]
    step = method == "time_step" and cls.endswith("Step")
    return ("step" if step else "training"), cls.removesuffix("Step"), ASV_METRICS[method]


def asv_frame(data: dict, machine: str, rel: str, names: dict) -> pd.DataFrame:
    """A row per (benchmark, parameters) of an asv results file (null: failed; NaN: skipped)."""
    parts = []
    for name, row in data["results"].items():
        entry = dict(zip(data["result_columns"], row, strict=False)) if type(row) is list else {}
        split, params = split_benchmark(name), entry.get("params")
        if split is None or not params:
            continue
        pnames = (names.get(name) or {}).get("param_names") or ["problem", "estimator", "dim"]
        combos = pd.DataFrame(itertools.product(*params), columns=pnames[: len(params)])
        raw = entry.get("result") if type(entry.get("result")) is list else [entry.get("result")]
        raw = pd.Series(raw * len(combos) if len(raw) == 1 else raw, dtype=object)
        when = pd.Timestamp(entry.get("started_at") or 0, unit="ms", tz="UTC")
        if len(raw) == len(combos):
            kind = dict(zip(("kind", "grid", "metric"), split, strict=True))
            parts.append(combos.map(_param).assign(raw=raw, date=when, **kind))
    if not parts:
        return pd.DataFrame()
    f = pd.concat(parts, ignore_index=True).rename(columns={"estimator": "method"})
    ok = f.raw.map(lambda v: isinstance(v, (int, float)) and math.isfinite(v))
    f["status"] = np.where(ok, "ok", np.where(f.raw.map(lambda v: v is None), "failed", "skipped"))
    f["value"] = pd.to_numeric(f.raw.where(ok), errors="coerce")
    f = f.assign(machine=machine, code_version=str(data["commit_hash"])[:8], file=rel)
    profile = (data.get("env_vars") or {}).get("STDE_BENCH_PROFILE", "")
    return f.assign(source="ours", origin="asv", profile=profile).drop(columns="raw")


def load_asv(loaded: Loaded) -> pd.DataFrame | None:
    """Rows of every asv results file under ``root/<machine>/``; foreign files named."""
    root, parts = loaded.root, []
    names = _read_json(root / "benchmarks.json", "benchmarks.json", []) or {}
    for path in sorted(p for p in root.iterdir() if p.name[0] != "."):
        rel = _rel(path, root)
        if path.is_file() and path.name != "benchmarks.json":
            loaded.problems.append(f"{rel}: not an asv results or cell-record file; skipped")
        if not path.is_dir() or path.name in NOT_MACHINES:
            continue
        mjson = path / "machine.json"
        info = _read_json(mjson, rel + "/machine.json", []) or {}
        if info.get("version") != ASV_MACHINE_API:
            loaded.problems.append(f"{rel}/: no asv machine.json of api_version 1; skipped")
            continue
        loaded.machines[path.name] = info
        for file in sorted(f for f in path.iterdir() if f.name[0] != "." and f != mjson):
            rel = _rel(file, root)
            data = _read_json(file, rel, loaded.problems)
            version = data.get("version") if isinstance(data, dict) else None
            if data is not None and version != ASV_RESULTS_API:
                loaded.problems.append(
                    f"{rel}: asv results api_version {version!r}, this report"
                    f" reads {ASV_RESULTS_API} (asv 0.6): re-run asv; skipped"
                )
            elif data is not None and not {"commit_hash", "results", "result_columns"} <= set(data):
                loaded.problems.append(f"{rel}: not an asv results file; skipped")
            elif data is not None:
                parts.append(asv_frame(data, path.name, rel, names))
    return pd.concat(parts, ignore_index=True) if parts else None


def _join_asv(asv: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """asv rows with their cell's outcome, the error's std and the fields of its records."""
    key = ["machine", "code_version", "grid", "problem", "method", "dim"]
    told = asv[asv.metric == "status"].set_index(key).value.map(STATUS_NAMES).rename("told")
    std = asv[asv.metric == "error_min_std"].set_index(key).value.rename("std")
    asv = asv[~asv.metric.isin(["status", "error_min_std"])].join(told, on=key).join(std, on=key)
    bad = asv.told.notna() & (asv.told != "ok") & (asv.kind == "training")
    asv = asv.assign(std=asv["std"].where(asv.metric == "error_min"), derived=False)
    asv["status"] = asv.status.where(~bad, asv.told)
    if records.empty:
        return asv
    fields = "samples restricted torch_compile block net profile measure memory_method steps config"
    recs = records.drop_duplicates(key).set_index(key)[fields.split()]
    joined = asv.reindex(columns=dict.fromkeys([*asv, *recs])).join(recs.add_suffix("_"), on=key)
    for col in recs:
        joined[col] = joined[f"{col}_"].combine_first(joined[col])
    return joined.assign(derived=joined.config.notna() & (joined.kind == "training"))


def load_results(root: str | Path) -> Loaded:
    """Every asv result and cell record under ``root`` and the paper's cells: one frame."""
    loaded = Loaded(root=Path(root), frame=load_paper())
    if not loaded.root.is_dir():
        loaded.problems.append(f"{root}: no such results folder")
        return loaded
    records, asv = load_records(loaded), load_asv(loaded)
    if asv is not None:
        asv = _join_asv(asv.dropna(subset=["problem", "method", "dim"]), records)
    parts = [p.reindex(columns=COLUMNS) for p in (records, asv, loaded.frame) if p is not None]
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True)
    frame = frame.astype(dict.fromkeys([*DEFAULTS, "config"], object)).fillna(DEFAULTS)
    frame["date"] = pd.to_datetime(frame.date, utc=True, errors="coerce", format="mixed")
    types = dict(samples=int, block=int, dim=int, seed=int, value=float, derived=bool)
    loaded.frame = frame.astype(types | dict(restricted=bool, torch_compile=bool))
    return loaded


def select(frame: pd.DataFrame, commit: str | None = None) -> pd.DataFrame:
    """Our rows a report shows: for every cell, the config of its newest measurement (an
    error: the longest training first, so a short run never hides a converged one), and
    each seed's newest row of that config; ``commit`` keeps the code versions starting
    with it.  asv's values derived from records present are not shown twice, and asv's
    values of cells without records only where no record measured the cell."""
    ours = frame[(frame.source == "ours") & ~frame.derived]
    ours = ours[ours.code_version.str.startswith(commit or "")].fillna({"config": "asv"})
    at = ours.set_index(["machine", "problem", "method", "dim", "metric"]).index
    bare = (ours.origin == "asv") & (ours.kind == "training")
    ours = ours[~(bare & at.isin(at[ours.origin == "record"]))]
    trained = ours.steps.where(ours.metric.isin(ERRORS)).fillna(0).astype(float)
    ours = ours.assign(_rank=trained).sort_values(["_rank", "date"], na_position="first")
    chosen = ours.drop_duplicates(CELL, keep="last")[CELL + ["config"]]
    shown = ours.reset_index().merge(chosen, on=CELL + ["config"]).set_index("index")
    return frame.loc[shown.drop_duplicates(CELL + ["seed"], keep="last").index]


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the mean over seeds, the std (ddof = 0, as the paper; asv's where one
    row stands for all seeds), the seeds, the worst status, its reasons, the code versions."""
    if rows.empty:
        return rows.assign(seeds=0, versions="")
    g = rows.groupby(CELL, sort=False)
    first = "source grid profile config memory_method file printed table".split()
    out = g.agg(dict(value="mean", std="first", seed="nunique", steps="max", steps_done="min"))
    out = out.join(g[first].first()).rename(columns={"seed": "seeds"})
    out["status"] = g.status.agg(lambda s: next((x for x in s if x != "ok"), "ok"))
    out["reason"] = g.reason.agg(lambda s: "; ".join(dict.fromkeys(x for x in s.dropna() if x)))
    out["versions"] = g.code_version.agg(lambda s: ", ".join(sorted(set(s))))
    out["trend"] = g.trend.agg(lambda s: "; ".join(x for x in s.dropna() if x))
    spread = g.value.agg(lambda v: v.std(ddof=0) if v.count() > 1 else math.nan)
    return out.assign(std=spread.where(spread.notna(), out["std"])).reset_index()
