"""Paper tables as pure functions of the cells: ``TableSpec`` picks them; ours beside the
paper's; best per column by ``groupby().transform``; STDE's ratios by division; a verdict
per printed error (runs shorter than the paper's are not judged).  Rendering: ``render``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stde_bench.cell import FLOOR
from stde_bench.error_stats import NOTES, UNDETERMINED, classify, error_notes, reference, summarize
from stde_bench.error_stats import SHORT as SHORT  # the page's
from stde_bench.error_stats import TITLES as ERROR_TITLES
from stde_bench.paper import PROTOCOL, differs
from stde_bench.profiles import GPINN, HIGH_ORDER, LAPLACIAN, TORCH

STDE = "stde-jax"
METHOD_ORDER = list(dict.fromkeys(LAPLACIAN + TORCH + HIGH_ORDER + GPINN + ("none", FLOOR)))
LABELS = {FLOOR: "floor (no derivative)", "none": "no gPINN loss (paper baseline)"}
BETTER = {"it_per_s": "max", "memory_mb": "min", "rel_std": "min"}
BETTER |= dict.fromkeys(["error_min", "error_final", "error_late"], "min")
ERRORS = list(ERROR_TITLES)  # the error sections
ROW = ["problem", "row", "samples"]
KEY = ["problem", "method", "row", "samples", "metric", "col"]
OURS = "ours ours_std ours_status reason seeds versions grid profile steps".split()
OURS += "steps_done config memory_method dim trend".split()
PAPER_COLS = ["paper", "paper_std", "paper_status", "printed", "adopted"]
SIDES = ["ours", "paper", "ours_status", "paper_status"]
#: statistics shown inside another's cell: the metric -> (the other, the column)
FOLD = {"error_late_ours_hi": ("error_late_ours", "ours_hi")}
FOLD |= {"constant_only": ("error_min", "constant_only")}  # the share of seeds
TITLES = {
    "it_per_s": "Speed (it/s, higher is better)",
    "memory_mb": "Memory (MB, lower is better)",
    "n_params": "Parameters (count)",
    "rel_std": "Relative std of the estimate (std / |exact|), lower is better",
    "rel_bias": "Relative bias of the estimate (mean − exact) / |exact|",
    "speedup": "STDE (|J| = {}) speed-up over each baseline (STDE it/s ÷ its it/s); ours / paper",
    "memory_reduction": "STDE (|J| = {}) memory reduction (baseline MB ÷ STDE MB); ours / paper",
}
CONFIG = "{steps:,} steps, N_r = {n_residual}, {depth}-layer MLP of width {width}, "
CONFIG += "{n_test:,} test points, measure {measure}"


@dataclass(frozen=True)
class TableSpec:
    """Which cells fill a table (an empty/None filter: all) and how its columns are made."""

    key: str
    title: str
    problems: tuple[str, ...] = ()
    number: int | None = None
    methods: tuple[str, ...] | None = None
    dims: tuple[int, ...] | None = None
    grids: tuple[str, ...] | None = None
    blocks: bool = False
    column: str = "dim"
    metrics: tuple[str, ...] = ("it_per_s", "memory_mb", *ERRORS)
    error: str = "L2 relative error"
    #: the error statistic the verdict divides by the paper's (which prints its minimum)
    verdict_metric: str = "error_min"


def _paper(n: int, title: str, *problems: str, **kw) -> TableSpec:
    return TableSpec(f"table{n}", f"Table {n}: {title}", problems, n, **kw)


THREE_BODY = ("allen-cahn-three-body", "poisson-three-body", "sine-gordon-three-body")
SHARE = dict(methods=(STDE,), dims=(10**6, 5 * 10**6), blocks=True)
SHARE |= dict(metrics=(*TableSpec.metrics, "n_params"))
L1 = dict(error="L1 relative error at x = 0, t = 0.3", verdict_metric="error_late_ours")
PAPER_TABLES = (
    _paper(3, "Two-body Allen-Cahn (also main-text Tables 1 and 2)", "allen-cahn-two-body"),
    _paper(4, "Two-body Poisson", "poisson-two-body"),
    _paper(5, "Two-body Sine-Gordon", "sine-gordon-two-body"),
    _paper(6, "Three-body Allen-Cahn, Poisson and Sine-Gordon", *THREE_BODY),
    _paper(7, "Semilinear heat equation", "heat-semilinear", **L1),
    _paper(8, "Semilinear Allen-Cahn equation", "allen-cahn-semilinear", **L1),
    _paper(9, "Semilinear Sine-Gordon equation", "sine-gordon-semilinear", **L1),
    _paper(10, "Weight sharing: STDE with input blocks of size B", "allen-cahn-two-body", **SHARE),
    _paper(11, "High-order low-dimensional PDEs", "kdv-2d", "kp-2d", "gkdv-1d", column="net"),
    _paper(12, "Gradient-enhanced PINN", "allen-cahn-two-body-gpinn", "sine-gordon-two-body-gpinn"),
)
QUALITY_TITLE = (
    "Estimator quality vs |J| (no paper table: the paper leaves variance to future work)"
)
QUALITY = TableSpec("quality", QUALITY_TITLE, column="samples", metrics=("rel_std", "rel_bias"))


@dataclass
class Table:
    """A built table: its long frame (the CSV, the plots), wide sections, verdict, notes."""

    spec: TableSpec
    cells: pd.DataFrame
    sections: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    verdict: pd.DataFrame | None = None
    summary: str = ""
    notes: list[str] = field(default_factory=list)


def dim_label(d) -> str:
    """1000 -> 1K, 1000000 -> 1M (the paper's column headings)."""
    for k, suffix in ((10**6, "M"), (1000, "K"), (1, "")):
        if isinstance(d, (int, np.integer, float)) and d >= k and d % k == 0:
            return f"{int(d) // k}{suffix}"
    return str(d)


def fmt_value(metric: str, v: float, std: float = math.nan) -> str:
    if metric.startswith(("speedup", "memory_reduction")):
        return f"{v:.0f}×" if v >= 100 else (f"{v:.1f}×" if v >= 1 else f"{v:.2f}×")
    if metric.startswith("error"):
        return f"{v:.2E}" + (f" ± {std:.2E}" if np.isfinite(std) else "")
    if metric in ("it_per_s", "memory_mb"):
        return f"{v:.{0 if metric == 'memory_mb' and v >= 100 else 2}f}" if v >= 1 else f"{v:.3g}"
    return f"{v:.0f}" if metric == "n_params" else f"{v:.3g}"


def _side(r, side: str) -> str:
    """One side of a cell: value (the paper's as printed; †: not all finished) or outcome."""
    status, value = getattr(r, f"{side}_status"), getattr(r, side)
    if not isinstance(status, str):
        return "–"
    if not np.isfinite(value):
        text = {"oom": "OOM", "ok": "n/a"}.get(status, status)
    elif side == "paper" and isinstance(r.printed, str):
        text = r.printed
    elif side == "ours" and np.isfinite(getattr(r, "ours_hi", math.nan)):
        text = f"[{value:.2E}, {r.ours_hi:.2E}]"
    else:
        text = fmt_value(r.metric, value, getattr(r, f"{side}_std")) + "†" * (status != "ok")
    return f"**{text}**" if getattr(r, f"best_{side}") else text


def row_label(f: pd.DataFrame) -> pd.Series:
    label = f.method.map(LABELS).fillna(f.method) + np.where(f.restricted, " (restricted)", "")
    label += np.where(f.torch_compile, " (torch.compile)", "")
    return label + np.where(f.block != 1, ", B=" + f.block.astype(str), "")


def pick(spec: TableSpec, f: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``f`` (ours or the paper's) a table takes (the floor: no error row)."""
    keep = f.metric.isin([*spec.metrics, *FOLD]) & ~((f.method == FLOOR) & f.metric.isin(ERRORS))
    for name in ("problems", "methods", "dims", "grids"):
        keep &= f[name[:-1]].isin(getattr(spec, name)) if getattr(spec, name) else True
    f = f[keep & ((f.block == 1) | spec.blocks)]
    f = f.assign(row=row_label(f), col=f[spec.column])
    if spec.column == "samples":  # the quality table: a row per (method, problem and d)
        f = f.assign(problem=f.problem + ", d=" + f.dim.map(dim_label), samples=0)
    return f


def mark_best(cells: pd.DataFrame) -> pd.DataFrame:
    """``best_<side>``: the best of its column where two methods or more (not the floor) compete."""
    for side in ("ours", "paper"):
        v = cells[side].where((cells[f"{side}_status"] == "ok") & (cells.method != FLOOR))
        g = v.groupby([cells.problem, cells.metric, cells.col])
        best = np.where(cells.metric.map(BETTER) == "max", g.transform("max"), g.transform("min"))
        cells[f"best_{side}"] = cells.metric.isin(BETTER) & (v == best) & (g.transform("count") > 1)
    return cells


def merge_cells(spec: TableSpec, ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, method, row, |J|, metric, column): ours beside the paper's."""
    o, p = pick(spec, ours), pick(spec, paper[paper.table == spec.number])
    paper_of = lambda r: p[(p.row == r.removesuffix(" (restricted)")) & p.metric.isin(ERRORS)]
    p = pd.concat([p, *(paper_of(r).assign(row=r) for r in o.row[o.restricted].unique())])
    if spec.column != "dim" and len(p):  # a problem of fixed dimension: the paper's only
        o = o[o.set_index(["problem", "dim"]).index.isin(p.set_index(["problem", "dim"]).index)]
    o = o.rename(columns=dict(value="ours", std="ours_std", status="ours_status"))[KEY + OURS]
    by = ["problem", "method", "row"]  # where the paper does not state |J| (0): ours
    single = o.groupby(by).samples.agg(lambda s: s.iloc[0] if s.nunique() == 1 else 0)
    fill = p.join(single.rename("_ours"), on=by)["_ours"].fillna(0).astype(int)
    p = p.assign(adopted=(p.samples == 0) & (fill != 0))
    p = p.assign(samples=p.samples.where(~p.adopted, fill))
    p = p.rename(columns=dict(value="paper", std="paper_std"))
    p = p.rename(columns={"status": "paper_status"})[KEY + PAPER_COLS]
    cells = o.merge(p, on=KEY, how="outer").astype({"adopted": bool})
    order = [*spec.problems, *cells.problem], METHOD_ORDER  # the paper's; variants; |J| down
    rank = lambda o: lambda s: s.map({x: i for i, x in enumerate(o)}).fillna(len(o))
    by = dict(problem=rank(order[0]), method=rank(order[1]), row=lambda s: s.str.len())
    key = lambda s: by.get(s.name, lambda x: x)(s)
    cells = cells.sort_values([*by, "samples"], ascending=[1, 1, 1, 0], key=key)
    for metric, (host, column) in FOLD.items():
        inside = cells[cells.metric == metric].assign(metric=host).set_index(KEY).ours
        cells = cells[cells.metric != metric].join(inside.rename(column), on=KEY)
    return mark_best(cells).reset_index(drop=True)


def ratio_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """STDE's speed-up (its it/s ÷ each baseline's) and memory reduction (baseline MB ÷ its)."""
    plain = ~cells.row.str.contains(r"\(|, B=")
    baselines = set(cells.method[cells.paper_status.notna()]) - {STDE}
    out = []
    for name, metric in (("speedup", "it_per_s"), ("memory_reduction", "memory_mb")):
        m = cells[(cells.metric == metric) & plain]
        ref = m[m.method == STDE][["problem", "col", "samples", *SIDES]]
        pairs = m[m.method.isin(baselines)].merge(ref, on=["problem", "col"], suffixes=("", "_s"))
        for side in ("ours", "paper"):
            a, b, sa, sb = (pairs[f"{side}{x}"] for x in ("_s", "", "_status_s", "_status"))
            pairs[side] = b / a if name == "memory_reduction" else a / b
            ok_a, ok_b = sa == "ok", sb == "ok"
            cases = [pairs[side].notna() & ok_a & ok_b, ok_a & (sb == "oom"), (sa == "oom") & ok_b]
            pairs[f"{side}_status"] = np.select(cases, ["ok", "baseline OOM", "STDE OOM"], None)
            pairs[f"best_{side}"] = False
        pairs = pairs.assign(metric=name + "|" + pairs.samples_s.astype(str), printed=None)
        out.append(pairs.drop(columns=[c for c in pairs if c.endswith("_s")]))
    return pd.concat(out, ignore_index=True)


def section(cells: pd.DataFrame, metric: str, spec: TableSpec) -> pd.DataFrame:
    """One section, wide: (problem,) method, |J|, a column per column value of the table."""
    c = cells[cells.metric == metric]
    c = c[c.ours_status.notna() | c.paper_status.notna()]
    paper = c.paper_status.notna().groupby([c[k] for k in ROW]).transform("any")  # ours / paper
    both = zip(c.itertuples(), paper, strict=True)
    c = c.assign(text=[_side(r, "ours") + f" / {_side(r, 'paper')}" * has for r, has in both])
    index = ROW[cells.problem.nunique() == 1 :]
    wide = c.pivot_table(index=index, columns="col", values="text", aggfunc="first")
    wide = wide.loc[list(dict.fromkeys(zip(*(c[k] for k in index), strict=True)))]
    nets = ["base", "L8", "L16", "h256", "h512", "h1024"]
    columns = sorted(cells.col.unique(), key=lambda x: nets.index(x) if x in nets else x)
    wide = wide.reindex(columns=[x for x in columns if x in wide]).fillna("–").reset_index()
    wide["samples"] = wide.samples.map(lambda s: str(s) if s else "–")
    name = {"dim": "d={}", "samples": "|J|={}", "net": "{}"}[spec.column]
    names = {"row": "method", "samples": "|J|"} | {x: name.format(dim_label(x)) for x in columns}
    return wide.rename(columns=names).drop(columns=["|J|"] if spec.column == "samples" else [])


def verdict(cells: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Our error cells the paper prints: our ``spec.verdict_metric`` ÷ the paper's error,
    judged by ``error_stats.classify`` against the reference's accuracy and the baseline."""
    at, e = KEY[:4] + ["col"], cells[(cells.metric == "error_min") & np.isfinite(cells.paper)]
    rows = pd.MultiIndex.from_frame(e[at])
    of = lambda m, c="ours": cells[cells.metric == m].set_index(at)[c].reindex(rows).to_numpy()
    e = e.assign(ours=of(spec.verdict_metric), ours_std=of(spec.verdict_metric, "ours_std"))
    e = e.assign(baseline=of("error_constant"), lo=of("error_late_ours"))
    e = e.assign(hi=of("error_late_ours", "ours_hi"))
    if spec.verdict_metric == "error_late_ours":  # no reference of ours: the published one
        published = pd.Series(of("error_late"), e.index)
        e = e.assign(ours=e.ours.fillna(published), lo=e.lo.fillna(published))
        spread = pd.Series(of("error_late", "ours_std"), e.index)
        e = e.assign(hi=e.hi.fillna(published), ours_std=e.ours_std.fillna(spread))
    e = e[np.isfinite(e.ours)]
    refs = [reference(p, d) for p, d in zip(e.problem, e.dim, strict=True)]
    accuracy = [r.accuracy if r else math.nan for r in refs]
    short = e.steps < [PROTOCOL.get(p, {}).get("steps", 0) for p in e.problem]  # never judged
    mark = classify(e.ours, e.paper, short, accuracy, e.baseline)
    if spec.verdict_metric == "error_late_ours":  # [lo, hi]: judged where both ends agree
        other = classify(e.hi, e.paper, short, accuracy, e.baseline)
        mark = np.where(mark == other, mark, UNDETERMINED)
    e = e.assign(ratio=e.ours / e.paper, verdict=mark)
    worse = (e.verdict == "worse") & (e.trend.fillna("") != "")  # the evidence: its curves
    more = ("; test error " + e.trend.fillna("")).where(worse, "")
    seeds = zip(e.constant_only * e.seeds, e.seeds, strict=True)
    more += [f"; {k:.0f} of {n:.0f} seeds {NOTES['constant_only']}" * (k > 0) for k, n in seeds]
    e["differs"] = pd.Series([differs(x) for x in e.itertuples()], e.index, dtype=object) + more
    e["text"] = [fmt_value("error_min", a, b) for a, b in zip(e.ours, e.ours_std, strict=True)]
    fmt = lambda f, *c: [f.format(*x) if np.isfinite(x[0]) else "" for x in zip(*c, strict=True)]
    e["j"], e["d"] = e.samples.replace(0, "–"), e.col.map(dim_label)
    e["times"], e["vs_ours"] = fmt("{:.3g}", e.ratio), fmt("[{:.2E}, {:.2E}]", e.lo, e.hi)
    e["vs_constant"], e["accuracy"] = fmt("{:.2E}", e.baseline), fmt("{:.1E}", accuracy)
    return e.assign(mark=e.verdict.where(e.verdict != "worse", "**worse**"))


def notes(cells: pd.DataFrame) -> list[str]:
    """Where our values come from (grid, config, code versions), memory, failed cells."""
    ours, out = cells[cells.ours_status.notna() & cells.versions.notna()], []
    for (grid, profile, config), g in ours.groupby(["grid", "profile", "config"], dropna=False):
        versions = sorted({v for vs in g.versions for v in vs.split(", ")})
        more = f" (+{len(versions) - 3})" * (len(versions) > 3)
        code = "code " + ", ".join(f"`{v}`" for v in versions[:3]) + more
        lo, hi = int(g.seeds.min()), int(g.seeds.max())
        seeds = (f"{lo}–" if lo < hi else "") + f"{hi} seed" + "s" * (hi > 1)
        c = json.loads(config) if isinstance(config, str) and config[:1] == "{" else {}
        text = CONFIG.format(**{"n_test": 0, "measure": "all"} | c) if c else "asv results only"
        text += ", restricted to J" * bool(c.get("restrict"))
        out.append(f"Ours, {grid} ({profile or '?'}): {text}, {seeds}; {code}.")
    methods = "; ".join(sorted(set(ours.memory_method.dropna()) - {""}))
    out += [f"Our memory: {methods}. The paper's: nvidia-smi's peak (App. H)."] * bool(methods)
    bad = ours[(ours.ours_status != "ok") & ours.metric.isin(["it_per_s", "error_min", "rel_std"])]
    for r in bad.drop_duplicates(ROW + ["col", "ours_status"]).itertuples():
        outcome = f"{r.ours_status.upper()}: {r.reason or 'no reason recorded'}"
        out.append(f"Ours, {r.row} d={dim_label(r.dim)}: {outcome}")
    partial = (ours.ours_status != "ok") & np.isfinite(ours.ours)
    return out + ["†: from the seeds or steps that finished (outcome above)."] * bool(partial.any())


def build_table(spec: TableSpec, ours: pd.DataFrame, paper: pd.DataFrame) -> Table:
    """Sections per metric and per STDE |J| ratio, the verdict and the notes."""
    cells = merge_cells(spec, ours, paper)
    ratios = ratio_cells(cells) if spec.number else cells.iloc[:0]
    table = Table(spec, pd.concat([cells, ratios], ignore_index=True))
    titles = TITLES | {m: ERROR_TITLES[m].format(spec.error) for m in ERRORS}
    by_j = sorted(ratios.metric.unique(), key=lambda m: (m[0] == "m", -int(m.split("|")[1])))
    for metric in [*spec.metrics, *by_j]:
        wide = section(table.cells, metric, spec)
        name, _, samples = metric.partition("|")
        j = samples if samples != "0" else "as the paper's, not stated"  # 0: not printed
        table.sections += [(titles[name].format(j), wide)] * bool(len(wide))
    unrestricted = cells[(cells.metric == "error_min") & ~cells.row.str.endswith(" (restricted)")]
    printed = int((unrestricted.paper_status == "ok").sum())  # the paper's own cells
    if printed:
        table.verdict = v = verdict(cells, spec)
        table.summary = summarize(v.verdict, printed, spec.verdict_metric)
    errors = cells[(cells.metric == "error_min") & (spec.column == "dim")]
    dims = errors.groupby("problem", sort=False).col.agg(lambda c: sorted(set(c.astype(int))))
    has = bool((cells.metric == "error_constant").any())
    table.notes = error_notes(dims.to_dict(), spec.verdict_metric, has, dim_label) + notes(cells)
    return table


def build_tables(ours: pd.DataFrame, paper: pd.DataFrame) -> list[Table]:
    """Every paper table our cells fill, one per grid of the rest (a cell of a paper table's
    problem that did not run is only listed as not run), and the estimator quality."""
    tables = [build_table(s, ours, paper) for s in PAPER_TABLES]
    tables = [t for t in tables if t.cells.ours_status.notna().any()]
    tabled = pd.concat([t.cells[t.cells.ours_status.notna()] for t in tables] + [ours.iloc[:0]])
    at = lambda f, *keys: f.set_index(["problem", "method", *keys]).index
    used = at(ours, "dim").isin(at(tabled, "dim"))
    known = at(ours).isin(at(tabled)) & (ours.status != "ok")
    rest = ours[~used & ~known & ours.metric.isin(TableSpec.metrics)]
    for grid, g in rest.groupby("grid"):
        title = f"{grid}: {', '.join(sorted(set(g.problem)))} (no paper table)"
        spec = TableSpec(f"other-{grid}", title, grids=(grid,), blocks=True)
        tables.append(build_table(spec, rest, paper))
    quality = ours.metric.isin(QUALITY.metrics).any()
    return tables + ([build_table(QUALITY, ours, paper)] if quality else [])
