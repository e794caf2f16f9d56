"""The report as web pages: ``reports/<machine>/index.html`` (``machine_page``) and
``reports/index.html`` (``index_page``), pure functions of a built report.

A machine's page is one self-contained file that opens from the file system: plotly's JS
inlined from the pinned Python package, the page's script and style from ``page_assets/``,
and the numbers it shows embedded as JSON: ``<script type="application/json"
id="data-<table>">`` holds a table's cells (one row per problem, method row, |J|, metric and
column: ``table_data``), ``id="figures"`` every figure.  The numbers are the report's own: a
table's are ``Table.cells`` (the frame its Markdown, LaTeX and CSV come from); a view's
figures plot its sections as the Markdown prints them.

The index compares machines by ratios only (ours ÷ the paper's per cell, STDE's speed-up on
the machine, a row ÷ the floor on the machine), never one machine's speed with another's."""

from __future__ import annotations

import html
import json
import math
import re
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex

from stde_bench.cell import FLOOR
from stde_bench.error_stats import BELOW, TRIVIAL, UNDETERMINED
from stde_bench.paper import differs
from stde_bench.profiles import TORCH
from stde_bench.report.plots import color
from stde_bench.report.tables import LABELS, SHORT, dim_label, fmt_value, row_label

#: legend groups, in the legend's order: key -> title
GROUPS = {
    "paper": "the paper's methods",
    "restricted": "ours, restricted to J",
    "torch": "PyTorch",
    "floor": "the floor",
}
METRICS = {
    "it_per_s": "speed (it/s)",
    "memory_mb": "memory (MB)",
    "error_min": "error (min over checkpoints)",
    "n_params": "parameters",
    "rel_std": "relative std of the estimate",
    "rel_bias": "relative bias of the estimate",
}
FIGURE_METRICS = ("it_per_s", "memory_mb", "error_min")
VERDICTS = {"agrees": "agrees", "better": "better", "worse": "worse", SHORT: "not judged"}
VERDICTS |= {BELOW: BELOW, TRIVIAL: TRIVIAL, UNDETERMINED: "undetermined"}
COLUMNS = "problem metric method |J| d ours paper".split() + ["ours ÷ paper", "verdict"]
COLUMNS += ["what differs"]
#: a table's embedded data (``data-<key>``): Table.cells' columns and what the page adds
DATA = "problem method row group samples metric col dim ours ours_std ours_status seeds".split()
DATA += "versions profile grid file paper paper_std paper_status printed ratio".split()
DATA += ["verdict", "differs"]
RATIOS = ["section", "quantity", "problem", "row", "samples", "col", "ratio"]
HOVER = "%{text}<extra></extra>"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script>{plotly}</script>
</head><body>
<nav>{nav}</nav>
<main>
<h1>{title}</h1>
{body}
</main>
<script type="application/json" id="figures">{figures}</script>
<script>{js}</script>
</body></html>
"""
INTRO = (
    "Rendered by <code>stde-bench report</code> from the recorded results only: ours beside "
    "the paper's printed values (Shi et al., NeurIPS 2024). The same numbers as "
    '<a href="README.md">the Markdown report</a>; every measurement in '
    '<a href="data.csv">data.csv</a>; <a href="../index.html">all machines</a>. Our speed and '
    "memory come from other hardware than the paper's (an A100): compare ratios between "
    "methods, not absolute numbers. Click a legend entry to hide a method, double-click to "
    "show it alone; hover a point for its value, seeds, code version and record."
)


# --------------------------------------------------------------------------- helpers
def _asset(name: str) -> str:
    return (resources.files("stde_bench") / "page_assets" / name).read_text(encoding="utf-8")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # the pinned package's bundle: no CDN

    return get_plotlyjs()


def _clean(obj: Any) -> Any:
    """JSON-able: NaN and inf -> None, numpy scalars -> Python's."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def to_json(obj: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</`` closes the element."""
    text = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/")


def records(frame: pd.DataFrame) -> list[dict]:
    """A frame's rows as JSON objects (NaN: null; 15 significant digits)."""
    return json.loads(frame.to_json(orient="records", double_precision=15))


def _rows(frame: pd.DataFrame) -> list[SimpleNamespace]:
    """A frame's rows with attribute access (``itertuples`` is slow on wide frames)."""
    return [SimpleNamespace(**row) for row in frame.to_dict("records")]


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def group_of(row: str) -> str:
    """A method row's legend group, from its label (``row_label``)."""
    method = row.split(" (")[0].split(",")[0]
    if method == FLOOR or row == LABELS[FLOOR]:
        return "floor"
    if "(restricted)" in row:
        return "restricted"
    return "torch" if method in TORCH else "paper"


def _hex(method: str, variant: int = 0) -> str:
    """A method's colour, as in the PNG plots (``plots.color``)."""
    return to_hex(color(method, variant))


def _cycle(k: int, name: str = "tab10") -> str:
    """The ``k``-th colour of a matplotlib cycle (rows that are not one method each)."""
    cmap = colormaps[name]
    return to_hex(cmap(k % cmap.N))


def _dim(heading: str) -> float:
    """``d=1K`` -> 1000.0: a section's column heading back to its dimension."""
    value = heading.removeprefix("d=")
    return float(value.rstrip("KM")) * {"K": 1e3, "M": 1e6}.get(value[-1:], 1.0)


def _number(text: Any) -> float:
    """A section's cell as printed (``2.4×``, ``1357.51``, ``–``) -> its number (NaN)."""
    match = re.search(r"-?\d+(\.\d+)?(e[-+]?\d+)?", str(text).replace(",", ""), re.I)
    return float(match[0]) if match and "OOM" not in str(text) else math.nan


def _log_axis(values: list, title: str, dims: bool = True) -> dict:
    ticks = sorted(set(values))
    text = [dim_label(int(v)) if dims else str(int(v)) for v in ticks]
    return dict(type="log", title=dict(text=title), tickvals=ticks, ticktext=text)


def _layout(title: str, xaxis: dict, ylabel: str, **kw) -> dict:
    legend = dict(traceorder="grouped", tracegroupgap=0, font=dict(size=11))
    layout = dict(title=dict(text=title, font=dict(size=14)), xaxis=xaxis, legend=legend)
    layout |= dict(yaxis=dict(type="log", title=dict(text=ylabel)), hovermode="closest")
    return layout | dict(margin=dict(t=70, r=10), height=460, template="plotly_white") | kw


def _line(x: list, y: list, text: list[str], colour: str, dash: str = "solid", **kw) -> dict:
    """A lines-and-markers trace whose hover is ``text``."""
    trace = dict(type="scatter", mode="lines+markers", x=x, y=y, text=text, hovertemplate=HOVER)
    trace |= dict(line=dict(color=colour, dash=dash, width=2))
    return trace | dict(marker=dict(color=colour, size=7)) | kw


# --------------------------------------------------------------------------- tables
def record_files(shown: pd.DataFrame) -> dict[tuple, str]:
    """The record files of each cell the report shows, keyed as Table.cells' rows:
    (problem, method row, |J|, d, metric)."""
    if shown.empty:
        return {}
    keys = ["problem", "row", "samples", "dim", "metric"]
    files = shown.assign(row=row_label(shown))[[*keys, "file"]].dropna().drop_duplicates()
    return files.groupby(keys, sort=False).file.agg(", ".join).to_dict()


def _differs(r) -> str:
    try:
        return differs(r)
    except (TypeError, ValueError, AttributeError):  # a cell of asv's without a config
        return ""


def table_data(table, files: dict[tuple, str]) -> pd.DataFrame:
    """A table's cells as the page shows them (``DATA``): ours, the paper's, ours ÷ the
    paper's, the verdict (errors), what differs and the record files; a row per cell that
    has either side."""
    c = table.cells
    c = c[c.ours_status.notna() | c.paper_status.notna()].copy()
    c["group"] = c.row.map(group_of)
    both = (c.ours_status == "ok") & (c.paper_status == "ok") & (c.paper > 0)
    c["ratio"] = (c.ours / c.paper).where(both)
    keys = zip(c.problem, c.row, c.samples, c.dim, c.metric, strict=True)
    c["file"] = [files.get(k, "") for k in keys]
    c["verdict"], c["differs"] = "", ""
    measured = c.metric.isin(METRICS) & c.ours_status.notna()
    c.loc[measured, "differs"] = [_differs(r) for r in _rows(c[measured])]
    if table.verdict is not None:
        key = ["problem", "row", "samples", "metric", "col"]
        v = table.verdict.set_index(key)[["verdict", "differs"]]
        at = c.set_index(key).index
        found = v.loc[at[at.isin(v.index)]]
        c.loc[at.isin(v.index), "verdict"] = found.verdict.map(VERDICTS).to_numpy()
        c.loc[at.isin(v.index), "differs"] = found.differs.to_numpy()
    return c.reindex(columns=DATA).reset_index(drop=True)


def metric_name(metric: str) -> str:
    name, _, j = metric.partition("|")
    if name in ("speedup", "memory_reduction"):
        return f"STDE (|J| = {j}) {'speed-up' if name == 'speedup' else 'memory reduction'}"
    return METRICS.get(name, name)


def _side(r, side: str) -> str:
    """One side of a cell as the Markdown prints it (the paper's: as printed)."""
    status, value = getattr(r, f"{side}_status"), getattr(r, side)
    if not isinstance(status, str):
        return "–"
    if not np.isfinite(value):
        return {"oom": "OOM", "ok": "n/a"}.get(status, status)
    if side == "paper" and isinstance(r.printed, str):
        return r.printed
    return fmt_value(r.metric, value, getattr(r, f"{side}_std")) + "†" * (status != "ok")


def _td(text: Any, value: Any) -> str:
    """A cell; ``data-v``: what it sorts by (empty: last)."""
    sort = "" if isinstance(value, float) and not math.isfinite(value) else value
    return f'<td data-v="{esc(sort)}">{esc(text)}</td>'


def _table(table_id: str, columns: list[str], rows: list[str], filter_box: bool) -> str:
    """A sortable table (click a header), with a box that filters its rows."""
    box = f'<input type="search" data-filter="{table_id}" placeholder="filter rows: words, '
    box += f'all must match"> <span class="count" id="{table_id}-count"></span>'
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    table = f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>'
    table += "\n".join(rows) + "</tbody></table>\n"
    return f'<div class="filter">{box}</div>\n{table}' if filter_box else table


def cells_table(data: pd.DataFrame, table_id: str) -> str:
    """``table_data``'s rows: method, |J|, d, ours, paper, ratio, verdict, what differs."""
    columns = [c for c in COLUMNS if c != "problem" or data.problem.nunique() > 1]
    rows = []
    for r in _rows(data):
        d = dim_label(int(r.col)) if isinstance(r.col, (int, float)) else r.col
        cells = {
            "problem": (r.problem, r.problem),
            "metric": (metric_name(r.metric), r.metric),
            "method": (r.row, r.row),
            "|J|": (r.samples or "–", r.samples),
            "d": (d, r.col),
            "ours": (_side(r, "ours"), r.ours),
            "paper": (_side(r, "paper"), r.paper),
            "ours ÷ paper": (f"{r.ratio:.3g}" if np.isfinite(r.ratio) else "–", r.ratio),
            "verdict": (r.verdict, r.verdict),
            "what differs": (r.differs, r.differs),
        }
        tds = "".join(_td(*cells[c]) for c in columns)
        rows.append(f'<tr class="{esc(r.group)}">{tds}</tr>')
    return _table(table_id, columns, rows, filter_box=True)


def wide_table(wide: pd.DataFrame, table_id: str) -> str:
    """A section as the Markdown prints it, sortable by its numbers."""
    rows = [
        "<tr>" + "".join(_td(v, _number(v)) for v in values) + "</tr>"
        for values in wide.itertuples(index=False)
    ]
    return _table(table_id, list(wide.columns), rows, filter_box=False)


# --------------------------------------------------------------------------- figures
def _hover(r, side: str, label: str) -> str:
    """A point's value (± std), seeds, code version, profile and record; the paper's as
    printed."""
    at = f"d = {dim_label(int(r.col))}" if isinstance(r.col, (int, float)) else r.col
    head = f"<b>{esc(label)}</b><br>{esc(at)}"
    if side == "paper":
        return f"{head}<br>paper: {esc(_side(r, 'paper'))} (A100, 5 seeds)"
    value = fmt_value(r.metric, r.ours, r.ours_std)
    if r.metric != "error_min" and np.isfinite(r.ours_std):
        value += f" ± {fmt_value(r.metric, r.ours_std)}"
    seeds = int(r.seeds) if np.isfinite(r.seeds) else 0
    lines = [head, f"ours: {esc(value)} ({seeds} seed{'s' * (seeds != 1)})"]
    lines += [f"code version {esc(r.versions)}", f"profile {esc(r.profile)}, grid {esc(r.grid)}"]
    return "<br>".join(lines + [f"record: {esc(r.file)}"] * bool(r.file))


def table_figure(table, data: pd.DataFrame, metric: str) -> dict | None:
    """Ours (solid) and the paper's (dashed, open markers) against the table's column, log-log;
    a legend entry per method row toggles both sides and its out-of-memory marks (crosses in a
    strip above); entries grouped by ``GROUPS``; buttons show ours, the paper's or both."""
    c = data[data.metric == metric]
    if not (c.ours.gt(0) | c.paper.gt(0)).any():
        return None
    dims, multi = table.spec.column == "dim", c.problem.nunique() > 1
    rows: dict[tuple, list[SimpleNamespace]] = {}
    for r in _rows(c):
        rows.setdefault((r.problem, r.row, r.samples), []).append(r)
    order = sorted(rows.items(), key=lambda kv: list(GROUPS).index(kv[1][0].group))
    traces, titled, shade = [], set(), {}
    for i, ((problem, row, j), cells) in enumerate(order):
        method, group = cells[0].method, cells[0].group
        shade[method] = shade.get(method, -1) + 1  # a method's second row: the light shade
        colour = _cycle(i, "tab20") if multi else _hex(method, shade[method])
        label = (f"{problem} · " if multi else "") + row + (f", |J|={j}" if j else "")
        legend = dict(legendgroup=f"{problem}|{row}|{j}", name=label, showlegend=True)
        legend |= {} if group in titled else dict(legendgrouptitle=dict(text=GROUPS[group]))
        titled.add(group)
        for side, dash in (("ours", "solid"), ("paper", "dash")):
            ok = [r for r in cells if getattr(r, f"{side}_status") == "ok" and getattr(r, side) > 0]
            ok = sorted(ok, key=lambda r: r.col) if dims else ok
            if ok:
                text = [_hover(r, side, label) for r in ok]
                x, y = [r.col for r in ok], [getattr(r, side) for r in ok]
                trace = _line(x, y, text, colour, dash, meta=side, **legend)
                trace["mode"] = "lines+markers" if dims else "markers"  # no line across nets
                if side == "paper":
                    trace["marker"] |= dict(color="white", line=dict(color=colour, width=1.5))
                if side == "ours" and any(np.isfinite(r.ours_std) for r in ok):
                    trace["error_y"] = dict(type="data", array=[r.ours_std for r in ok])
                traces.append(trace)
                legend["showlegend"] = False  # one entry per row
        for side, symbol in (("ours", "x"), ("paper", "x-thin-open")):
            oom = [r.col for r in cells if getattr(r, f"{side}_status") == "oom"]
            if oom:  # side by side at one dimension
                x = [v * 10 ** (0.03 * (k % 5 - 2)) if dims else v for k, v in enumerate(oom)]
                text = [f"<b>{esc(label)}</b><br>{side}: out of memory at {v}" for v in oom]
                marker = dict(symbol=symbol, size=10, color=colour, line=dict(width=2))
                trace = _line(x, [0.5] * len(x), text, colour, meta=f"oom-{side}", **legend)
                traces.append(trace | dict(mode="markers", marker=marker, yaxis="y2"))
                legend["showlegend"] = False
    what = METRICS[metric]
    order = [x for x in table.sections[0][1].columns if x in set(c.col)] if table.sections else []
    category = dict(type="category", categoryorder="array", categoryarray=order)  # the Markdown's
    xaxis = _log_axis(list(c.col), "dimension d (log)") if dims else category
    title = f"{table.spec.title.split(':')[0]}: {what} vs {'d' if dims else table.spec.column}"
    layout = _layout(title, xaxis, f"{what} (log)", updatemenus=[_sides_menu(traces)])
    if any(t["meta"].startswith("oom") for t in traces):
        layout["yaxis"]["domain"] = [0, 0.88]
        strip = dict(domain=[0.91, 1], range=[0, 1], showticklabels=False, showgrid=False)
        layout["yaxis2"] = strip | dict(title=dict(text="OOM", font=dict(size=10)), zeroline=False)
    layout["height"] = max(460, 21 * (len(rows) + len(titled)) + 160)  # the legend fits
    return dict(data=traces, layout=layout)


def _sides_menu(traces: list[dict]) -> dict:
    """Buttons: ours and the paper's, ours only, the paper's only."""
    choices = (("ours and paper", ("ours", "paper")), ("ours", ("ours",)), ("paper", ("paper",)))
    shown = lambda sides: [t["meta"].removeprefix("oom-") in sides for t in traces]
    buttons = [dict(label=a, method="restyle", args=[{"visible": shown(b)}]) for a, b in choices]
    return dict(type="buttons", direction="right", x=0, y=1.13, xanchor="left", buttons=buttons)


def section_figure(title: str, wide: pd.DataFrame) -> dict | None:
    """A view's section (a row per method or factor, a ``d=`` column per dimension, text
    cells) against d, log-log, the numbers as the Markdown prints them; the paper's dashed."""
    columns = [c for c in wide.columns if str(c).startswith("d=")]
    traces, titled = [], set()
    for values in wide.itertuples(index=False):
        cells = dict(zip(wide.columns, values, strict=True))
        label = str(values[0])
        points = [(_dim(c), cells[c]) for c in columns if _number(cells[c]) > 0]
        if not points:
            continue
        factor, paper = "÷" in label or ":" in label, label.startswith("the paper's")
        group = "factor" if factor else group_of(label)
        method = FLOOR if group == "floor" else label.split(" (")[0]
        light = group == "restricted" or "(torch.compile)" in label  # as the table's rows
        colour = _cycle(len(traces)) if factor else _hex(method, light)
        text = [f"<b>{esc(label)}</b><br>d = {dim_label(int(x))}<br>{esc(t)}" for x, t in points]
        x, y = [x for x, _ in points], [_number(t) for _, t in points]
        meta, dash = ("paper", "dash") if paper else ("ours", "solid")
        trace = _line(x, y, text, "#555555" if paper else colour, dash, name=label, meta=meta)
        if not factor and group not in titled:
            trace["legendgrouptitle"] = dict(text=GROUPS[group])
            titled.add(group)
        traces.append(trace | dict(legendgroup=label))
    if not traces:
        return None
    ratio = "÷" in title or any("×" in str(v) for v in wide[columns].to_numpy().flat)
    xaxis = _log_axis([x for t in traces for x in t["x"]], "dimension d (log)")
    layout = _layout(title[:110] + "…" * (len(title) > 110), xaxis, "× (log)" if ratio else "(log)")
    if any("÷" in t["name"] or ":" in t["name"] for t in traces):  # long names: below
        layout["legend"] |= dict(orientation="h", y=-0.2)
    return dict(data=traces, layout=layout | dict(height=max(460, 22 * len(traces) + 200)))


def quality_figure(table) -> dict | None:
    """Relative std of the estimate against |J|, with the Monte Carlo rate |J|^-1/2."""
    data = table.cells[(table.cells.metric == "rel_std") & (table.cells.ours > 0)]
    if data.empty:
        return None
    traces, symbols = [], "circle square diamond triangle-up x cross".split()
    for k, ((problem, method), g) in enumerate(data.groupby(["problem", "method"], sort=False)):
        text = [
            f"<b>{esc(method)}</b> ({esc(problem)})<br>|J| = {int(j)}<br>relative std "
            f"{fmt_value('rel_std', v)}<br>code version {esc(version)}"
            for j, v, version in zip(g.col, g.ours, g.versions, strict=True)
        ]
        trace = _line(list(g.col), list(g.ours), text, _hex(method), meta="ours")
        trace["marker"] |= dict(symbol=symbols[k % 6], size=max(11 - 1.5 * k, 5))
        traces.append(trace | dict(name=f"{method} ({problem})"))  # later ones smaller
    j = sorted(data.col.unique())
    top = data[data.col == j[0]].ours.max()
    guide = [top * math.sqrt(j[0] / s) for s in j]  # the Monte Carlo rate
    guide = _line(j, guide, ["∝ |J|^-1/2"] * len(j), "#666666", "dot", name="∝ |J|^-1/2")
    traces.append(guide | dict(mode="lines", meta="guide"))
    xaxis = _log_axis(j, "randomization batch |J| (log)", dims=False)
    title = "Estimator variance vs |J| (fixed random network, no training)"
    return dict(data=traces, layout=_layout(title, xaxis, "relative std (log)"))


def history_figures(frame: pd.DataFrame, machine: str, reported: set[str]) -> dict[str, dict]:
    """asv's ``time_step`` per (grid, problem) across code versions in date order, a trace
    per (method, d), a legend entry per method; the versions the report shows shaded."""
    steps = frame[(frame.machine == machine) & (frame.kind == "step") & (frame.value > 0)]
    steps = steps.sort_values("date")
    versions, out = list(steps.code_version.unique()), {}
    keys = ("value", "code_version", "date", "file")
    for (grid, problem), g in steps.groupby(["grid", "problem"]):
        traces, dims = [], sorted(g.dim.unique())
        for (method, dim), s in g.groupby(["method", "dim"]):
            text = [
                f"<b>{esc(method)}</b>, d = {dim_label(int(dim))}<br>{v:.4g} s per step<br>"
                f"code version {esc(version)}, {esc(str(date)[:16])}<br>record: {esc(file)}"
                for v, version, date, file in zip(*(s[k] for k in keys), strict=True)
            ]
            name = f"{method}, d = {dim_label(int(dim))}"
            colour = _hex(method, dims.index(dim))
            x, y = list(s.code_version), list(s.value)
            traces.append(_line(x, y, text, colour, name=name, legendgroup=method, meta="ours"))
        xaxis = dict(type="category", categoryorder="array", categoryarray=versions)
        xaxis |= dict(title=dict(text="code version (date order)"))
        band = dict(type="rect", xref="x", yref="paper", y0=0, y1=1, fillcolor="#e8e8e8")
        band |= dict(line=dict(width=0), layer="below")
        at = [versions.index(v) for v in reported if v in versions]
        shapes = [band | dict(x0=k - 0.4, x1=k + 0.4) for k in at]
        title = f"{grid} ({problem}): asv's time_step by code version (shaded: reported)"
        layout = _layout(title, xaxis, "time per training step (s, log)", shapes=shapes)
        key = re.sub(r"[^a-z0-9]+", "-", f"{grid}-{problem}".lower())
        out[f"fig-history-{key}"] = dict(data=traces, layout=layout)
    return out


# --------------------------------------------------------------------------- the page
def verdict_counts(table) -> dict[str, int]:
    """A table's verdicts by kind (the Markdown's summary counts the same cells)."""
    v = table.verdict.verdict if table.verdict is not None else pd.Series(dtype=str)
    return {name: int((v == kind).sum()) for kind, name in VERDICTS.items()}


def headlines(views) -> pd.DataFrame:
    """The summary's ratios: each view's ``headline`` (the Markdown summary's), beside its
    view's title."""
    out = [
        {"view": v.title, "ratio": what, "over d": values}
        for v in views
        for what, values in v.headline
    ]
    return pd.DataFrame(out, columns=["view", "ratio", "over d"])


def summary(report) -> str:
    """Verdict counts per table (each linked, with the Markdown's sentence), the headline
    ratios, the machine."""
    rows = []
    for t in report.tables:
        counts = "".join(
            f'<td data-k="{k}" data-v="{n}">{n}</td>' for k, n in verdict_counts(t).items()
        )
        link = f'<td><a href="#{t.spec.key}">{esc(t.spec.title)}</a></td>'
        rows.append(f'<tr data-table="{t.spec.key}">{link}{counts}{_td(t.summary, "")}</tr>')
    columns = ["table", *VERDICTS.values(), "the Markdown's verdict"]
    lines = headlines(report.views)
    ratios = "<h3>Headline ratios on this machine</h3>" + wide_table(lines, "headlines")
    block = [
        f"<tr><th>{esc(k)}</th><td>{esc(v.replace('`', ''))}</td></tr>" for k, v in report.block
    ]
    return (
        f'<section id="summary"><h2>Summary</h2><p>{INTRO}</p>'
        f"<h3>Reproduction verdicts per table</h3>{_table('verdicts', columns, rows, False)}"
        + ratios * bool(len(lines))
        + f'<details><summary>Machine</summary><table class="block">{"".join(block)}'
        + "</table></details></section>"
    )


def _section(key: str, title: str, parts: list[str]) -> str:
    return f'<section id="{key}"><h2>{esc(title)}</h2>\n' + "\n".join(parts) + "</section>"


def _notes(notes: list[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"


def machine_page(report) -> str:
    """The page of one machine's report (``Report``: its tables, views, shown rows, frame)."""
    figures, nav, body = {}, ['<a href="#summary">Summary</a>'], [summary(report)]

    def figure(fig_id: str, fig: dict | None) -> list[str]:
        figures.update({fig_id: fig} if fig else {})
        return [f'<div class="fig" id="{fig_id}"></div>'] if fig else []

    files = record_files(report.shown)
    for t in report.tables:
        key, data = t.spec.key, table_data(t, files)
        parts = [f'<p class="verdict">Verdict (errors): {esc(t.summary)}</p>'] * bool(t.summary)
        if key == "quality":
            parts += figure(f"fig-{key}-rel_std", quality_figure(t))
        for metric in FIGURE_METRICS if key != "quality" else ():
            parts += figure(f"fig-{key}-{metric}", table_figure(t, data, metric))
        parts += [cells_table(data, f"cells-{key}"), _notes(t.notes)]
        embedded = to_json(records(data))
        parts.append(f'<script type="application/json" id="data-{key}">{embedded}</script>')
        body.append(_section(key, t.spec.title, parts))
        nav.append(f'<a href="#{key}">{esc(t.spec.title.split(":")[0])}</a>')
    for view in report.views:
        parts = []
        for k, (title, wide) in enumerate(view.sections):
            parts += figure(f"fig-{view.key}-{k}", section_figure(title, wide))
            table = wide_table(wide, f"{view.key}-{k}")
            parts.append(f"<details><summary>{esc(title)}: the table</summary>{table}</details>")
        body.append(_section(view.key, view.title, parts + [_notes(view.notes)]))
        nav.append(f'<a href="#{view.key}">{esc(view.title.split(":")[0])}</a>')
    reported = set(report.shown.code_version)
    history = history_figures(report.loaded.frame, report.machine, reported)
    if history:
        parts = [line for k, fig in history.items() for line in figure(k, fig)]
        body.append(_section("history", "History of asv's time_step across code versions", parts))
        nav.append('<a href="#history">History</a>')
    return PAGE.format(
        title=esc(f"stde-bench report: {report.machine}"),
        css=_asset("page.css"),
        plotly=_plotly_js(),
        nav=" ".join(nav),
        body="\n".join(body),
        figures=to_json(figures),
        js=_asset("page.js"),
    )


def write_page(report) -> Path:
    """``<report.out>/index.html``."""
    path = Path(report.out) / "index.html"
    path.write_text(machine_page(report), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the index
def machine_ratios(folder: Path) -> pd.DataFrame:
    """A machine's ratios (``RATIOS``) from its report's CSVs: per table cell, ours ÷ the
    paper's (speed, memory, error) and STDE's speed-up and memory reduction on the machine;
    per row of the restriction view, its speed and memory ÷ the floor's on the machine."""
    parts = []
    for csv in sorted((folder / "tables").glob("*.csv")):
        c = pd.read_csv(csv)
        if {"ours", "paper", "metric", "row", "col"} <= set(c.columns):
            raw = c[c.metric.isin(FIGURE_METRICS)]
            ok = (raw.ours_status == "ok") & (raw.paper_status == "ok") & (raw.paper > 0)
            mine = raw.assign(ratio=raw.ours / raw.paper)[ok]
            mine = mine.assign(quantity=mine.metric.map(METRICS) + ": ours ÷ paper")
            stde = c[c.metric.str.contains("|", regex=False) & (c.ours_status == "ok")]
            stde = stde.assign(ratio=stde.ours, quantity=stde.metric.map(metric_name))
            stde = stde.assign(quantity=stde.quantity + " over the row, on the machine")
            parts.append(pd.concat([mine, stde]).assign(section=csv.stem))
        elif csv.stem == "restriction" and {"row", "dim", "metric", "value"} <= set(c.columns):
            wide = c.pivot_table(index="row", columns=["metric", "dim"], values="value")
            for metric in ("it_per_s", "memory_mb"):
                if metric in wide.columns.get_level_values(0) and LABELS[FLOOR] in wide.index:
                    over = wide[metric] / wide.loc[LABELS[FLOOR], metric]
                    long = over.stack().rename("ratio").reset_index().rename(columns={"dim": "col"})
                    what = f"{METRICS[metric]} ÷ the floor's, on the machine"
                    parts.append(long.assign(section="restriction", quantity=what, samples=0))
    out = pd.concat([pd.DataFrame(columns=RATIOS), *parts], ignore_index=True)[RATIOS]
    return out.assign(problem=out.problem.fillna(""), col=out.col.astype(str))


def index_page(ratios: dict[str, pd.DataFrame]) -> str:
    """The machines, each linked, and any two side by side as ratios (``ratios``: per
    machine folder, ``machine_ratios``)."""
    links = "".join(
        f'<li><b>{esc(m)}</b>: <a href="{esc(m)}/index.html">page</a> · '
        f'<a href="{esc(m)}/README.md">Markdown</a></li>'
        for m in ratios
    )
    options = "".join(f'<option value="{esc(m)}">{esc(m)}</option>' for m in ratios)
    data = to_json({m: records(f) for m, f in ratios.items()})
    body = f"""<p>One page per machine, rendered by <code>stde-bench report</code> from the
recorded results.</p><ul>{links}</ul>
<section id="compare"><h2>Two machines side by side, as ratios</h2>
<p>Ratios only: each machine's ours ÷ the paper's per cell, and ratios between methods on one
machine (STDE's speed-up over a row, a row ÷ the floor). The absolute speeds of two machines
are never compared here.</p>
<label>A <select id="machine-a">{options}</select></label>
<label>B <select id="machine-b">{options}</select></label>
<label>quantity <select id="quantity"></select></label>
<div class="fig" id="fig-compare"></div>
{_table("compare-table", [], [], filter_box=True)}
<script type="application/json" id="ratios">{data}</script></section>"""
    return PAGE.format(
        title="stde-bench reports",
        css=_asset("page.css"),
        plotly=_plotly_js(),
        nav="",
        body=body,
        figures="{}",
        js=_asset("page.js"),
    )


def write_index(base: Path) -> Path:
    """``<base>/index.html`` over every machine folder with a report."""
    folders = sorted(p.parent for p in Path(base).glob("*/README.md"))
    path = Path(base) / "index.html"
    path.write_text(index_page({f.name: machine_ratios(f) for f in folders}), encoding="utf-8")
    return path
