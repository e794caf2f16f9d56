"""Plots of the frames (PNG for the README, PDF for papers), log axes: ``<table>-speed|memory|
error`` (vs d; ours solid, our restricted/compiled variants dotted, the paper's dashed, OOM as
crosses in a strip above), ``restriction-overhead`` (time per step and memory over the
floor's), ``quality-variance`` (relative std vs |J|) and ``history-<grid>-<metric>`` (asv's
values across code versions: the regression view)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogFormatter, NullLocator  # noqa: E402

from stde_bench.report.load import PAIRED  # noqa: E402
from stde_bench.report.tables import FLOOR, LABELS, METHOD_ORDER, Table, dim_label  # noqa: E402

PLOTS = {
    "it_per_s": ("speed", "training speed (it/s)"),
    "memory_mb": ("memory", "peak memory (MB)"),
}
PLOTS |= {"error_min": ("error", "relative error (min over checkpoints)")}
LEGEND = dict(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
KEYS = ["problem", "method", "row", "samples"]
HISTORY = {"step_s": "time per training step (s, asv time_step)", "it_per_s": "speed (it/s)"}


def _save(fig, out: Path, stem: str, line: str) -> list[Path]:
    fig.text(0.01, -0.02, line, fontsize=7, color="0.35", ha="left", va="top")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:  # no creation date in the PDF: an unchanged plot stays byte-equal
        meta = {"CreationDate": None} if path.suffix == ".pdf" else None
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta)
    plt.close(fig)
    return paths


def color(method: str, variant: int = 0):
    """A method's colour in every plot (tab20's dark shade; the light one for a variant)."""
    k = METHOD_ORDER.index(method) if method in METHOD_ORDER else sum(map(ord, method))
    return "black" if method == FLOOR else plt.get_cmap("tab20")((2 * (k % 10) + variant % 2) % 20)


def _axes(ax, x: list, ylabel: str, xlabel: str = "dimension d", base: int = 10) -> None:
    """Log-log axes with ticks at ``x`` (dimensions unless ``xlabel`` says otherwise)."""
    ax.set_xscale("log", base=base)
    ax.set(yscale="log", xlabel=f"{xlabel} (log scale)", ylabel=f"{ylabel} (log scale)")
    ax.set_xticks(x, [dim_label(d) if base == 10 else str(d) for d in x])
    ax.set_xlim(min(x) / 1.7, max(x) * 1.7)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    ax.grid(True, which="major", alpha=0.3)


def table_plots(table: Table, out: Path, line: str) -> list[Path]:
    """Speed, memory and error vs dimension for a table whose columns are dimensions."""
    written = []
    for metric, (stem, ylabel) in PLOTS.items():
        c = table.cells[table.cells.metric == metric]
        if table.spec.column == "dim" and (c.ours_status.notna() | c.paper_status.notna()).any():
            written += _save(_dim_plot(table, c, ylabel), out, f"{table.spec.key}-{stem}", line)
    return written


def _dim_plot(table: Table, c: pd.DataFrame, ylabel: str):
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    multi, handles, ooms, seen = c.problem.nunique() > 1, [], [], {}
    for i, ((problem, method, row, j), g) in enumerate(c.groupby(KEYS, sort=False)):
        seen[method] = seen.get(method, -1) + 1  # a second row of a method: the light shade
        col = plt.get_cmap("tab20")(i % 20) if multi else color(method, seen[method])
        solid = ":" if "(" in row else "-"  # our own variants (restricted, compiled): dotted
        for side, style, face in (("ours", solid, col), ("paper", "--", "white")):
            ok = g[(g[f"{side}_status"] == "ok") & (g[side] > 0)].sort_values("col")
            ax.plot(ok.col, ok[side], style, color=col, marker="o", mfc=face, mec=col, ms=5)
            if side == "ours" and ok.ours_std.notna().any():
                ax.errorbar(ok.col, ok.ours, ok.ours_std.fillna(0), fmt="none", ecolor=col)
            ooms += [(d, side, col) for d in g.col[g[f"{side}_status"] == "oom"]]
        label = (f"{problem} · " if multi else "") + row + (f", |J|={j}" if j else "")
        handles.append(Line2D([], [], color=col, ls=solid, marker="o", label=label))
    _axes(ax, sorted(c.col.unique()), ylabel)
    top = _oom_strip(ax, ooms) if ooms else ax
    top.set_title(f"{table.spec.title.split(':')[0]}: {ylabel} vs dimension", fontsize=10)
    handles.append(Line2D([], [], color="0.3", marker="o", label="ours (solid)"))
    handles.append(Line2D([], [], color="0.3", ls="--", marker="o", mfc="white", label="paper"))
    oom = Line2D([], [], color="0.3", marker="X", ls="none", label="OOM (ours X, paper x)")
    ax.legend(handles=handles + [oom] * bool(ooms), **LEGEND)
    return fig


def _oom_strip(ax, ooms: list):
    """Out-of-memory cells in a strip above the axes, side by side at one dimension."""
    strip = ax.inset_axes((0.0, 1.015, 1.0, 0.09), sharex=ax)
    strip.set(ylim=(0, 1), yticks=[])
    strip.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    strip.set_ylabel("OOM", rotation=0, ha="right", va="center", fontsize=8)
    for d in {d for d, _, _ in ooms}:
        marks = [(side, col) for dd, side, col in ooms if dd == d]
        for k, (side, col) in enumerate(marks):
            x = d * 10 ** (0.085 * (k - (len(marks) - 1) / 2))
            ours = side == "ours"  # ours: a filled X, the paper's: a thin x
            style = dict(marker="X", mec="k", mew=0.6) if ours else dict(marker="x", mew=2)
            strip.plot([x], [0.5], ls="none", color=col, ms=7, clip_on=False, **style)
    return strip


def overhead_plot(cells: pd.DataFrame, out: Path, line: str) -> list[Path]:
    """Each row's time per step and memory over the floor's (restricted rows solid; time
    from the paired ratio where the cell has one, ``--paired-floor``)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    floor, methods = LABELS[FLOOR], cells.drop_duplicates("row").set_index("row").method
    for ax, metric in zip(axes, ("it_per_s", "memory_mb"), strict=True):
        wide = cells[cells.metric == metric].pivot_table(index="row", columns="dim", values="value")
        if floor in wide.index:
            ratio = wide.loc[floor] / wide if metric == "it_per_s" else wide / wide.loc[floor]
            if metric == "it_per_s":  # a paired ratio, where the cell has one, wins
                paired = cells[cells.metric == PAIRED].pivot_table("value", "row", "dim")
                ratio = (1 / paired).combine_first(ratio)
            for row, v in ratio.iterrows():
                style = dict(color=color(methods[row], "(" in row), marker="o", label=row)
                ax.plot(v.index, v, "-" if "(" in row or row == floor else "--", **style)
            what = "time per step" if metric == "it_per_s" else "memory"
            _axes(ax, list(wide.columns), f"{what} ÷ the floor's")
    axes[0].set_title("Overhead of each estimator over the floor (no derivative)", fontsize=10)
    axes[1].legend(handles=axes[0].get_legend_handles_labels()[0], **LEGEND)
    return _save(fig, out, "restriction-overhead", line)


def quality_plot(table: Table, out: Path, line: str) -> list[Path]:
    """Relative std of the estimate vs |J|, with the Monte Carlo rate |J|^-1/2."""
    data = table.cells[(table.cells.metric == "rel_std") & (table.cells.ours > 0)]
    if data.empty:
        return []
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for k, ((problem, method), g) in enumerate(data.groupby(["problem", "method"], sort=False)):
        style = dict(marker="osD^vP"[k % 6], ms=max(9 - 1.5 * k, 3.5), color=color(method))
        ax.plot(g.col, g.ours, "-", label=f"{method} ({problem})", **style)  # later ones smaller
    j = sorted(data.col.unique())
    top = data[data.col == j[0]].ours.max()
    guide = [top * math.sqrt(j[0] / s) for s in j]  # the Monte Carlo rate
    ax.plot(j, guide, ":", color="0.4", label=r"$\propto |J|^{-1/2}$")
    _axes(ax, j, "relative std of the estimate", "randomization batch |J|", base=2)
    ax.set_title("Estimator variance vs |J| (fixed random network, no training)", fontsize=10)
    ax.legend(**LEGEND)
    return _save(fig, out, "quality-variance", line)


def history_plots(asv: pd.DataFrame, out: Path, line: str, reported: set[str]) -> list[Path]:
    """Per (grid, metric): asv's values by code version, a panel per d; shaded: reported."""
    data = asv[asv.metric.isin(list(HISTORY)) & (asv.value > 0)].sort_values("date")
    versions, written = list(data.code_version.unique()), []
    many = data.groupby("grid").problem.nunique()  # a grid of several problems: one each
    for (grid, problem, metric), g in data.groupby(["grid", "problem", "metric"]):
        grid = f"{grid}-{problem}" if many[grid] > 1 else grid
        dims = sorted(g.dim.unique())
        rows, cols = math.ceil(len(dims) / 3), min(3, len(dims))
        size = (max(4.2, 0.5 * len(versions)) * cols, 3.4 * rows)
        fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
        for ax, dim in zip(axes.flat, dims, strict=False):
            for method, s in g[g.dim == dim].groupby("method"):
                x = s.code_version.map(versions.index)
                ax.plot(x, s.value, "-o", color=color(method), label=method)
            for x in [versions.index(v) for v in reported if v in versions]:
                ax.axvspan(x - 0.3, x + 0.3, color="0.92", zorder=0)
            ax.set(title=f"d = {dim_label(dim)}", yscale="log", xlim=(-0.5, len(versions) - 0.5))
            ax.set_xticks(range(len(versions)), [v[:8] for v in versions], rotation=45, fontsize=7)
            ax.grid(True, alpha=0.3)
        for ax in axes.flat[len(dims) :]:
            ax.set_visible(False)
        handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
        fig.legend(handles=list(handles.values()), loc="upper left", bbox_to_anchor=(1, 0.95))
        fig.suptitle(f"{grid}: {HISTORY[metric]} by code version (shaded: reported)", fontsize=10)
        fig.supylabel(HISTORY[metric] + " (log scale)", fontsize=9)
        fig.tight_layout()
        written += _save(fig, out, f"history-{grid}-{metric}", line)
    return written
