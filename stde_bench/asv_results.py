"""asv's results (asv 0.6, results api 2) as rows of the report's tidy frame.

``results/<machine>/<commit>-<env>.json`` holds one value (or a list, one per parameter
combination) per benchmark ``bench_training.<Grid>[Step].<method>``; a failed benchmark is
null, a skipped one NaN.  Each row is keyed by machine, code version, grid, problem,
estimator and dim, the keys the benchmark writes, so the report joins it to its cell's
records on keys, never on values.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stde_bench.records import rel_path

ASV_RESULTS_API, ASV_MACHINE_API = 2, 1
#: asv's ``track_status`` codes (benchmarks/common.py STATUS_CODES)
STATUS_NAMES = dict(enumerate(("ok", "oom", "skipped", "timeout", "error")))
#: folders of results/ that are not asv machines: the records, sweep logs, one-off runs
#: outside any profile (kept as evidence, never in a table), checkpoints, submitit's logs
NOT_MACHINES = ("cells", "sweeps", "diagnostics", "checkpoints", "submitit")
ASV_METRICS = {"track_peak_memory_mb": "memory_mb", "time_step": "step_s"}
ASV_METRICS |= {f"track_{m}": m for m in "it_per_s compile_s error_final error_min".split()}
ASV_METRICS |= {f"track_{m}": m for m in "error_min_std status rel_std rel_bias".split()}
ASV_METRICS["track_it_per_s_over_floor"] = "it_per_s_over_floor"


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


def load_asv(root: Path, problems: list[str], machines: dict) -> pd.DataFrame | None:
    """Rows of every asv results file under ``root/<machine>/``; unreadable or foreign files
    are named in ``problems``, each machine's machine.json goes to ``machines``."""
    parts = []
    names = _read_json(root / "benchmarks.json", "benchmarks.json", []) or {}
    for path in sorted(p for p in root.iterdir() if p.name[0] != "."):
        rel = rel_path(path, root)
        if path.is_file() and path.name != "benchmarks.json":
            problems.append(f"{rel}: not an asv results or cell-record file; skipped")
        if not path.is_dir() or path.name in NOT_MACHINES:
            continue
        mjson = path / "machine.json"
        info = _read_json(mjson, rel + "/machine.json", []) or {}
        if info.get("version") != ASV_MACHINE_API:
            problems.append(f"{rel}/: no asv machine.json of api_version 1; skipped")
            continue
        machines[path.name] = info
        for file in sorted(f for f in path.iterdir() if f.name[0] != "." and f != mjson):
            rel = rel_path(file, root)
            data = _read_json(file, rel, problems)
            version = data.get("version") if isinstance(data, dict) else None
            if data is not None and version != ASV_RESULTS_API:
                problems.append(
                    f"{rel}: asv results api_version {version!r}, this report"
                    f" reads {ASV_RESULTS_API} (asv 0.6): re-run asv; skipped"
                )
            elif data is not None and not {"commit_hash", "results", "result_columns"} <= set(data):
                problems.append(f"{rel}: not an asv results file; skipped")
            elif data is not None:
                parts.append(asv_frame(data, path.name, rel, names))
    return pd.concat(parts, ignore_index=True) if parts else None


def join_records(asv: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
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
