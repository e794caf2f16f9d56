"""Plots (PNG for the README, PDF for papers), all on log axes:

* ``<table>-speed|memory|error``: the metric vs dimension, one colour per method (and
  |J|), ours solid with filled markers, the paper's dashed with open markers; an
  out-of-memory cell is an ``x`` on the top edge at its dimension.
* ``quality-variance``: relative std of the estimate vs |J|, with a |J|^-1/2 guide.
* ``history-<grid>-<metric>``: a benchmark across commits (the regression view), one
  panel per dimension, the commit hashes on the x axis.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from stde_bench.report.tables import METHOD_ORDER, Table, dim_label  # noqa: E402

PLOT_SECTIONS = {
    "it_per_s": ("speed", "training speed (it/s)"),
    "memory_mb": ("memory", "peak memory (MB)"),
    "error": ("error", "relative error (min over checkpoints)"),
}
DPI = 150


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _colors(n: int):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def method_color(method: str, variant: int = 0):
    """The same colour for a method in every plot (tab20's dark shades); a second row of
    the same method (another |J|) gets the light shade of it."""
    i = METHOD_ORDER.index(method) if method in METHOD_ORDER else sum(map(ord, method))
    return plt.get_cmap("tab20")((2 * (i % 10) + (variant % 2)) % 20)


def _dim_axis(ax, dims: list[int]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(dims)
    ax.set_xticklabels([dim_label(d) for d in dims])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    lo, hi = min(dims), max(dims)
    ax.set_xlim(lo / 1.7, hi * 2.0)


def table_plots(table: Table, out: Path, machine_line: str) -> list[Path]:
    """Speed / memory / error vs dimension for one table (columns must be dimensions)."""
    if table.column_name != "d":
        return []
    dims = [int(c) for c in table.columns]
    written: list[Path] = []
    for section in table.sections:
        if section.key in PLOT_SECTIONS:
            fig = _table_plot(table, section, dims, machine_line)
            if fig is not None:
                written += _save(fig, out, f"{table.key}-{PLOT_SECTIONS[section.key][0]}")
    return written


def _table_plot(table: Table, section, dims: list[int], machine_line: str):
    ylabel = PLOT_SECTIONS[section.key][1]
    if section.key == "error":  # L2, or the L1 error at one point (Tables 7-9)
        ylabel = section.title.split(" (")[0].split(",")[0]
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    handles, ooms, seen = [], [], {}
    palette = _colors(len(section.rows))
    for i, row in enumerate(section.rows):
        if table.multi_problem:  # the same method for several problems: a colour per row
            color = palette[i]
        else:
            color = method_color(row.method, seen.get(row.method, 0))
            seen[row.method] = seen.get(row.method, 0) + 1
        drawn = False
        for side, style, face in (("ours", "-", color), ("paper", "--", "white")):
            cells = [(d, row.cells[d]) for d in dims]
            pts = [
                (d, getattr(c, side), getattr(c, f"{side}_std"))
                for d, c in cells
                if getattr(c, f"{side}_status") == "ok" and _finite(getattr(c, side))
            ]
            if pts:
                x, y, err = zip(*pts, strict=True)
                ax.plot(
                    x,
                    y,
                    style,
                    color=color,
                    marker="o",
                    markerfacecolor=face,
                    markeredgecolor=color,
                    markersize=5,
                    linewidth=1.6,
                )
                if side == "ours" and section.key == "error":
                    yerr = [e if _finite(e) else 0 for e in err]
                    ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=color, capsize=2, lw=0.8)
                drawn = True
            for d, c in cells:
                if getattr(c, f"{side}_status") == "oom":
                    ooms.append((d, side, color))
                    drawn = True
        if drawn:
            label = (f"{row.problem} · " if table.multi_problem else "") + row.legend_text
            handles.append(Line2D([], [], color=color, marker="o", label=label))
    if not handles:
        plt.close(fig)
        return None
    ax.set_yscale("log")
    _dim_axis(ax, dims)
    title_ax = _oom_strip(ax, ooms) if ooms else ax
    ax.set_xlabel("dimension d (log scale)")
    ax.set_ylabel(ylabel + " (log scale)")
    title_ax.set_title(f"{table.title.split(':')[0]}: {ylabel} vs dimension", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    handles += [
        Line2D([], [], color="0.3", linestyle="-", marker="o", label="ours (solid)"),
        Line2D(
            [],
            [],
            color="0.3",
            linestyle="--",
            marker="o",
            markerfacecolor="white",
            label="paper (dashed, A100)",
        ),
    ]
    if any(side == "ours" for _, side, _ in ooms):
        handles.append(
            Line2D(
                [],
                [],
                color="0.5",
                marker="X",
                markeredgecolor="black",
                markeredgewidth=0.6,
                markersize=7,
                linestyle="none",
                label="ours: out of memory",
            )
        )
    if any(side == "paper" for _, side, _ in ooms):
        handles.append(
            Line2D(
                [],
                [],
                color="0.3",
                marker="x",
                markeredgewidth=1.8,
                linestyle="none",
                label="paper: out of memory",
            )
        )
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False
    )
    fig.text(0.01, -0.02, machine_line, fontsize=7, color="0.35", ha="left", va="top")
    return fig


def _oom_strip(ax, ooms: list[tuple[int, str, tuple]]):
    """Out-of-memory cells in a thin strip above the plot (same x axis, no y scale), side
    by side where several methods ran out at one dimension; returns the strip's axes."""
    strip = ax.inset_axes((0.0, 1.015, 1.0, 0.09), sharex=ax)
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    strip.set_ylabel("OOM", rotation=0, ha="right", va="center", fontsize=8)
    for spine in strip.spines.values():
        spine.set_color("0.75")
    by_dim: dict[int, list] = {}
    for d, side, color in ooms:
        by_dim.setdefault(d, []).append((side, color))
    for d, marks in by_dim.items():
        n = len(marks)
        for k, (side, color) in enumerate(marks):
            x = d * 10 ** (0.085 * (k - (n - 1) / 2))
            if side == "ours":
                style = dict(marker="X", markersize=7, markeredgewidth=0.6, markeredgecolor="black")
            else:
                style = dict(marker="x", markersize=6, markeredgewidth=1.8)
            strip.plot([x], [0.5], linestyle="none", color=color, clip_on=False, **style)
    return strip


def quality_plot(quality: pd.DataFrame, out: Path, machine_line: str) -> list[Path]:
    """Relative std of the estimate vs |J| (``quality``: tidy rows of rel_std)."""
    data = quality[(quality.metric == "rel_std") & quality.value.map(_finite)]
    if data.empty:
        return []
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    groups = list(data.groupby(["problem", "method", "dim"], sort=True))
    multi = len({(p, d) for (p, _, d), _ in groups}) > 1
    markers = ["o", "s", "^", "D", "v", "P"]
    for k, ((problem, method, dim), g) in enumerate(groups):
        g = g.sort_values("samples")
        # several estimators can coincide (SDGD and sparse STDE for the Laplacian): each
        # series gets its own marker, the later ones smaller, so that none hides another
        ax.plot(
            g.samples.astype(float),
            g.value,
            "-",
            marker=markers[k % len(markers)],
            color=_colors(len(groups))[k] if multi else method_color(method),
            markersize=max(9 - 1.5 * k, 3.5),
            linewidth=1.6,
            label=f"{method} ({problem}, d={dim_label(int(dim))})",
        )
    samples = sorted({int(s) for s in data.samples})
    if len(samples) > 1:  # anchored at the largest std at the smallest |J|
        s0 = samples[0]
        v0 = data[data.samples == s0].value.max()
        ax.plot(
            samples,
            [v0 * math.sqrt(s0 / s) for s in samples],
            ":",
            color="0.4",
            label=r"$\propto |J|^{-1/2}$ (Monte Carlo rate)",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(samples)
    ax.set_xticklabels([str(s) for s in samples])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("randomization batch |J| (sampled dimensions, log scale)")
    ax.set_ylabel("relative std of the operator estimate\n(std / |exact|, log scale)")
    ax.set_title("Estimator variance vs |J| (fixed random network, no training)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    fig.text(0.01, -0.02, machine_line, fontsize=7, color="0.35", ha="left", va="top")
    return _save(fig, out, "quality-variance")


HISTORY_METRICS = {
    "step_s": ("time per training step (s)", "asv timer, time_step"),
    "it_per_s": ("training speed (it/s)", "track_it_per_s"),
}


def history_plots(
    frame: pd.DataFrame,
    commits: list[str],
    out: Path,
    machine_line: str,
    reported: str | None = None,
) -> list[Path]:
    """One figure per (grid, metric) and, where a grid has several, per problem: the value
    at each commit (oldest first), one panel per dimension, one line per method; the
    reported commit is shaded."""
    written: list[Path] = []
    order = {c: i for i, c in enumerate(commits)}
    data = frame[frame.metric.isin(list(HISTORY_METRICS)) & frame.value.map(_finite)]
    for (grid, metric), g in data.groupby(["grid", "metric"], sort=True):
        problems = sorted(set(g.problem))
        for problem in problems:
            sub = g[g.problem == problem]
            fig = _history_figure(sub, commits, order, metric, reported)
            title = grid if len(problems) == 1 else f"{grid}, {problem}"
            fig.suptitle(
                f"{title}: {HISTORY_METRICS[metric][0]} across commits "
                f"({HISTORY_METRICS[metric][1]})",
                fontsize=10,
            )
            fig.tight_layout()
            fig.text(0.01, -0.01, machine_line, fontsize=7, color="0.35", ha="left", va="top")
            stem = (
                f"history-{grid}-{metric}"
                if len(problems) == 1
                else (f"history-{grid}-{problem}-{metric}")
            )
            written += _save(fig, out, stem)
    return written


def _history_figure(g: pd.DataFrame, commits, order, metric: str, reported: str | None):
    ylabel = HISTORY_METRICS[metric][0]
    dims = sorted({int(d) for d in g.dim})
    ncols = min(3, len(dims))
    nrows = math.ceil(len(dims) / ncols)
    width = max(4.2 * ncols, 0.45 * len(commits) * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.4 * nrows), squeeze=False)
    methods = sorted(set(g.method), key=lambda m: _method_rank(m))
    for k, (ax, dim) in enumerate(zip(axes.flat, dims, strict=False)):
        for method, s in g[g.dim == dim].groupby("method", sort=True):
            s = s.assign(x=s.commit.map(order)).sort_values("x")
            ax.plot(s.x, s.value, "-o", color=method_color(method), markersize=5)
        if reported in order:
            ax.axvspan(order[reported] - 0.3, order[reported] + 0.3, color="0.92", zorder=0)
        ax.set_title(f"d = {dim_label(dim)}", fontsize=9)
        ax.set_yscale("log")
        ax.set_xticks(range(len(commits)))
        ax.set_xticklabels(
            [c[:8] for c in commits], rotation=45, ha="right", fontsize=7, family="monospace"
        )
        ax.set_xlim(-0.5, len(commits) - 0.5)
        ax.grid(True, which="major", alpha=0.3)
        if k % ncols == 0:
            ax.set_ylabel(ylabel + "\n(log scale)")
        if k + ncols >= len(dims):  # the lowest panel of its column
            ax.set_xlabel("commit (oldest → newest)")
    for ax in axes.flat[len(dims) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=method_color(m), marker="o", label=m) for m in methods]
    if reported in order:
        handles.append(Patch(color="0.92", label=f"reported commit {reported[:8]}"))
    fig.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False
    )
    return fig


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)
