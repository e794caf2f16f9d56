"""``stde-bench report``: tables and plots from recorded results only.

    stde-bench report [--results results/] [--machine NAME ...] [--commit REV] [--out DIR]

Reads asv's results (``results/<machine>/*.json``) and the cell records beside them
(``results/cells/*.jsonl``), and writes for each machine, into ``reports/<machine>/``
(or ``--out``; with several machines, ``--out/<machine>/``):

* ``README.md``: the machine block, every table, every plot, the cells that did not run
  and why, and the files that could not be read;
* ``tables/<key>.md|.tex|.csv``: paper-style tables (Markdown, LaTeX booktabs, CSV with
  one line per cell), ours beside the paper's printed value, with STDE's speed-up and
  memory reduction over each baseline (ours and the paper's);
* ``plots/*.png|.pdf``: speed/memory/error vs dimension (ours solid, paper dashed),
  estimator variance vs |J|, and each benchmark across commits;
* ``data.csv``: every measurement of the machine, tidy (all commits).

The paper's numbers come from ``stde_bench/data/stde_tables.csv`` (``PAPER.md``).
Empty or partial results give a message and whatever report they allow, never a traceback;
an unreadable results file is named and skipped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from stde_bench.report import machine as machine_mod
from stde_bench.report.load import Loaded, cell_summaries, commit_order, load_results, select_commit
from stde_bench.report.paper import PAPER_HARDWARE, load_paper
from stde_bench.report.plots import history_plots, quality_plot, table_plots
from stde_bench.report.tables import (
    Section,
    Table,
    build_table,
    default_sections,
    dim_label,
    fmt_plain,
    paper_table_title,
    to_frame,
    to_latex,
    to_markdown,
)

__all__ = ["main", "render"]

NET_ORDER = ["base", "L8", "L16", "h256", "h512", "h1024"]
PAPER_SETUP = {
    "default": "10,000 steps, N_r = 100 residual points, 4-layer MLP of width 128, "
    "20,000 test points, 5 seeds",
    12: "20,000 steps, N_r = 100, 4-layer MLP of width 128, 5 seeds",
}


class ReportError(Exception):
    """Nothing (or not what was asked for) to report: the message says why."""


def main(args: Any) -> int:
    """Entry point of ``stde-bench report`` (``args``: results, machine, commit, out)."""
    try:
        written = render(
            Path(getattr(args, "results", None) or "results"),
            machines=getattr(args, "machine", None),
            commit=getattr(args, "commit", None),
            out=getattr(args, "out", None),
        )
    except ReportError as err:
        print(f"stde-bench report: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a report never ends in a traceback; STDE_BENCH_DEBUG shows it
        if os.environ.get("STDE_BENCH_DEBUG"):
            raise
        print(
            f"stde-bench report: internal error: {type(err).__name__}: {err} "
            "(set STDE_BENCH_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
    for path in written:
        print(f"report: {path}")
    return 0


def render(
    results: Path,
    *,
    machines: list[str] | None = None,
    commit: str | None = None,
    out: Path | None = None,
) -> list[Path]:
    """Write the reports; returns each machine's README path (ReportError if none)."""
    loaded = load_results(results)
    for problem in loaded.problems:
        print(f"stde-bench report: skipped {problem}", file=sys.stderr)
    if loaded.empty:
        raise ReportError(
            f"no benchmark results in {results}/ (asv writes them to "
            f"{results}/<machine>/<commit>-<env>.json: run `make bench`, or `asv run` as in "
            "the README, then `stde-bench report` again). Nothing to report."
        )
    known = sorted(loaded.frame.machine.unique())
    chosen = machines or known
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise ReportError(
            f"no results for machine {', '.join(unknown)} in {results}/; "
            f"machines with results: {', '.join(known)}"
        )
    if len(chosen) == 1:
        targets = [(chosen[0], Path(out) if out else Path("reports") / chosen[0])]
    else:
        base = Path(out) if out else Path("reports")
        targets = [(m, base / m) for m in chosen]
    try:
        picks = [(m, select_commit(loaded.frame, m, commit), o) for m, o in targets]
    except ValueError as err:
        raise ReportError(str(err)) from None
    written = [render_machine(loaded, m, c, o) for m, c, o in picks]
    if out is None or len(chosen) > 1:
        written.append(write_index(written[0].parent.parent))
    return written


# --------------------------------------------------------------------------- one machine
def _ours_cells(cur: pd.DataFrame) -> pd.DataFrame:
    """Training measurements of one run as table cells (error = error_min ± its std)."""
    t = cur[cur.kind.isin(["training", "record"])]
    keep = t[t.metric.isin(["it_per_s", "memory_mb", "error_min", "n_params"])].copy()
    std = {
        (r.grid, r.problem, r.method, r.dim): r.value
        for r in t[t.metric == "error_min_std"].itertuples()
    }
    keep["std"] = [
        std.get((r.grid, r.problem, r.method, r.dim)) if r.metric == "error_min" else None
        for r in keep.itertuples()
    ]
    keep["metric"] = keep.metric.replace({"error_min": "error"})
    keep["dim"] = keep.dim.astype(int)
    return keep


def _notes(
    table_key: str,
    ours: pd.DataFrame,
    tbl: Table,
    summaries: dict,
    paper_number: int | None,
) -> list[str]:
    notes = []
    grids = sorted(set(ours.grid))
    for grid in grids:
        notes += _config_notes(grid, ours, summaries)
    if paper_number is not None:
        setup = PAPER_SETUP.get(paper_number, PAPER_SETUP["default"])
        notes.append(f"Paper: {setup}; {PAPER_HARDWARE.split(';')[0]}.")
    mismatched = sorted(
        {
            (r.method, r.samples_ours, r.samples_paper)
            for s in tbl.sections
            for r in s.rows
            if r.has_ours
            and r.has_paper
            and r.samples_ours is not None
            and r.samples_paper is not None
            and r.samples_ours != r.samples_paper
        }
    )
    for method, so, sp in mismatched:
        notes.append(
            f"{method}: |J| {so} / {sp} means ours sampled {so} dimensions and the paper "
            f"{sp}: not a like-for-like comparison."
        )
    methods = sorted(
        {
            s["memory_method"]
            for k, s in summaries.items()
            if k[0] in grids and s.get("memory_method")
        }
    )
    if methods:
        notes.append(
            "Our memory: " + "; ".join(methods) + ". The paper's: peak GPU memory read with "
            "nvidia-smi (App. H); the two are not the same measurement."
        )
    bad = ours[(ours.status != "ok") & (ours.metric == "it_per_s")]
    for r in bad.sort_values(["problem", "method", "dim"]).itertuples():
        reason = (r.reason or "no reason recorded").strip().splitlines()[0][:240]
        where = f"{r.problem} · " if tbl.multi_problem else ""
        notes.append(
            f"Ours, {where}{r.method} d={dim_label(int(r.dim))}: {r.status.upper()}: {reason}"
        )
    if any(
        c.ours_status not in (None, "ok") and c.ours is not None and pd.notna(c.ours)
        for s in tbl.sections
        for r in s.rows
        for c in r.cells.values()
    ):
        notes.append("†: measured on the seeds that finished; others ran out of memory or failed.")
    return notes


def _config_text(c: dict) -> str:
    """``12 steps, N_r = 8, 4-layer MLP of width 16, ...`` for the fields present in ``c``."""
    parts = []
    if c.get("steps") is not None:
        parts.append(f"{c['steps']} steps")
    if c.get("n_residual") is not None:
        parts.append(f"N_r = {c['n_residual']}")
    if c.get("depth") is not None or c.get("width") is not None:
        parts.append(f"{c.get('depth', '?')}-layer MLP of width {c.get('width', '?')}")
    if c.get("block") is not None:
        parts.append(f"input blocks of {c['block']}")
    if c.get("n_test") is not None:
        parts.append(f"{c['n_test']} test points")
    if c.get("unbiased"):
        parts.append("unbiased two-sample loss")
    return ", ".join(parts)


def _config_notes(grid: str, ours: pd.DataFrame, summaries: dict) -> list[str]:
    """The grid's training config (the most common one among its records), its seeds, and
    every cell that ran with another config."""
    cells = {(p, m, int(d)) for p, m, d in zip(ours.problem, ours.method, ours.dim, strict=True)}
    mine = {k[1:]: s for k, s in summaries.items() if k[0] == grid and k[1:] in cells}
    counts: dict[str, int] = {}
    for s in mine.values():
        for c in s["configs"]:
            key = json.dumps({k: v for k, v in c.items() if k != "samples"}, sort_keys=True)
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return []
    common = json.loads(max(counts, key=counts.get))
    seeds = sorted({sd for s in mine.values() for sd in s["seeds"]})
    profile = ours[ours.grid == grid].profile.iloc[0]
    notes = [
        f"Ours ({grid}, profile {profile}): {_config_text(common)}, seeds "
        f"{', '.join(map(str, seeds))}; |J| as in the |J| column."
    ]
    for (_problem, method, dim), s in sorted(mine.items()):
        for c in {json.dumps(c, sort_keys=True) for c in s["configs"]}:
            c = json.loads(c)
            diff = {k: v for k, v in c.items() if k != "samples" and common.get(k) != v}
            if "depth" in diff or "width" in diff:
                diff |= {"depth": c.get("depth"), "width": c.get("width")}
            if diff:
                notes.append(
                    f"Ours, {method} d={dim_label(dim)} ran with {_config_text(diff) or diff}."
                )
    return notes


def _paper_frame(pt: pd.DataFrame, col_field: str) -> pd.DataFrame:
    p = pt.copy()
    p["metric"] = p.metric.replace({"l2_rel_error": "error", "l1_rel_error": "error"})
    p["col"] = p[col_field]
    p["reason"] = ""
    return p


def build_tables(cur: pd.DataFrame, summaries: dict) -> list[Table]:
    """Every paper table our results can fill (Table 3 first), then our other results,
    then the estimator-quality table."""
    paper = load_paper()
    ours = _ours_cells(cur)
    non_sampling = {k[2] for k, s in summaries.items() if s.get("stochastic") is False}
    tables: list[Table] = []
    used = pd.Series(False, index=ours.index)
    for number in sorted(paper.table.unique()):
        pt = paper[paper.table == number]
        o = ours[ours.problem.isin(set(pt.problem))]
        if number == 10:
            o = o[o.method.isin(set(pt.method)) & ((o.block != 1) | o.dim.isin(set(pt.dim)))]
        else:
            o = o[o.block == 1]
        col_field = "net" if number == 11 else "dim"
        if col_field == "net":
            o = o[
                [
                    (p, d) in set(zip(pt.problem, pt.dim, strict=True))
                    for p, d in zip(o.problem, o.dim, strict=True)
                ]
            ]
        if o.empty:
            continue
        used |= ours.index.isin(o.index)
        o = o.assign(col=o[col_field])
        pf = _paper_frame(pt, col_field)
        cols = sorted(set(o.col) | set(pf.col), key=_col_key)
        error_metric = next((m for m in pt.metric if m.endswith("_rel_error")), "l2_rel_error")
        sections = default_sections(error_metric, n_params=number == 10)
        key = f"table{number}"
        tbl = build_table(
            key=key,
            title=paper_table_title(number),
            ours=o,
            paper=pf,
            sections=sections,
            columns=cols,
            column_name="network" if col_field == "net" else "d",
            non_sampling=non_sampling,
        )
        tbl.notes = _notes(key, o, tbl, summaries, number)
        tables.append(tbl)
    rest = ours[~used]
    # a cell the profile could not run (e.g. a fixed-dimension problem at another d) whose
    # problem has a paper table: listed under "Cells that did not run", not as a table
    tabled = set(zip(ours[used].problem, ours[used].method, strict=True))
    keep = [
        (p, m) not in tabled or st == "ok"
        for p, m, st in zip(rest.problem, rest.method, rest.status, strict=True)
    ]
    rest = rest[pd.Series(keep, index=rest.index, dtype=bool)]
    for grid, o in rest.groupby("grid", sort=True):
        problems = sorted(set(o.problem))
        metric = next(
            (s["error_metric"] for k, s in summaries.items() if k[0] == grid and s["error_metric"]),
            "l2_rel_error",
        )
        key = f"other-{grid}"
        tbl = build_table(
            key=key,
            title=f"{grid}: {', '.join(problems)} (no paper table)",
            ours=o.assign(col=o.dim),
            paper=_empty_paper(),
            columns=sorted(set(o.dim)),
            sections=default_sections(metric),
            non_sampling=non_sampling,
        )
        tbl.notes = _notes(key, o, tbl, summaries, None)
        tables.append(tbl)
    quality = cur[cur.kind == "quality"]
    if not quality.empty:
        q = quality.assign(
            problem=[
                f"{p}, d={dim_label(int(d))}"
                for p, d in zip(quality.problem, quality.dim, strict=True)
            ],
            col=quality.samples.astype(int),
            samples=None,
            block=1,
            std=None,
        )
        sections = [
            Section(
                "rel_std",
                "Relative std of the estimate (std / |exact|), lower is better",
                "min",
                fmt_plain,
            ),
            Section(
                "rel_bias",
                "Relative bias of the estimate (mean − exact) / |exact|",
                None,
                fmt_plain,
            ),
        ]
        tbl = build_table(
            key="quality",
            title="Estimator quality vs |J| (no paper table: the paper leaves "
            "variance to future work)",
            ours=q,
            paper=_empty_paper(),
            columns=sorted(set(q.col)),
            column_name="|J|",
            sections=sections,
            ratios=False,
        )
        tbl.column_labels = [f"|J|={c}" for c in tbl.columns]
        tbl.multi_problem, tbl.show_samples = True, False
        bad = q[q.status != "ok"]
        tbl.notes = [
            f"{r.method} ({r.problem}, |J|={r.col}): {r.status}" for r in bad.itertuples()
        ][:20]
        tables.append(tbl)
    return tables


def _empty_paper() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "problem",
            "method",
            "samples",
            "block",
            "col",
            "metric",
            "value",
            "std",
            "status",
            "reason",
            "printed",
            "printed_std",
        ]
    )


def _col_key(c: Any) -> tuple:
    if isinstance(c, str):
        return (0, NET_ORDER.index(c) if c in NET_ORDER else len(NET_ORDER), c)
    return (1, c, "")


def render_machine(loaded: Loaded, machine: str, commit: str, out: Path) -> Path:
    frame = loaded.frame[loaded.frame.machine == machine]
    cur = frame[frame.commit == commit]
    summaries = cell_summaries(loaded, machine, commit)
    run = next((r for r in loaded.runs if r.machine == machine and r.commit == commit), None)
    rec_machine = next(
        (s["machine"] for s in summaries.values() if s.get("machine") and "ok" in s["statuses"]),
        next((s["machine"] for s in summaries.values() if s.get("machine")), None),
    )
    profiles = sorted(p for p in set(cur.profile) if p and p != "unknown") or ["unknown"]
    memory_methods = sorted(
        {s["memory_method"] for s in summaries.values() if s.get("memory_method")}
    )
    block = machine_mod.machine_block(
        machine,
        commit,
        run.commit_date if run else None,
        cur.run_date.max() if cur.run_date.notna().any() else None,
        profiles,
        rec_machine,
        loaded.machines.get(machine),
        run.params if run else None,
        memory_methods,
    )
    line = machine_mod.one_line(block)
    tables = build_tables(cur, summaries)

    out.mkdir(parents=True, exist_ok=True)
    tdir, pdir = out / "tables", out / "plots"
    tdir.mkdir(exist_ok=True)
    table_files: dict[str, list[Path]] = {}
    plot_files: dict[str, list[Path]] = {}
    for t in tables:
        md = tdir / f"{t.key}.md"
        md.write_text(
            to_markdown(t, heading="#") + "\n" + machine_mod.to_markdown(block), encoding="utf-8"
        )
        tex = tdir / f"{t.key}.tex"
        tex.write_text(machine_mod.to_latex_comment(block) + to_latex(t, line), encoding="utf-8")
        csv = tdir / f"{t.key}.csv"
        to_frame(t, line).to_csv(csv, index=False)
        table_files[t.key] = [md, tex, csv]
        plot_files[t.key] = table_plots(t, pdir, line)
    quality = cur[cur.kind == "quality"]
    variance = quality_plot(quality, pdir, line)
    commits = commit_order(frame, machine)
    history = history_plots(
        frame[frame.kind.isin(["training", "step"])], commits, pdir, line, reported=commit
    )
    frame.sort_values(["commit_date", "grid", "problem", "method", "dim", "metric"]).to_csv(
        out / "data.csv", index=False
    )
    readme = out / "README.md"
    readme.write_text(
        _readme(
            machine,
            commit,
            block,
            tables,
            table_files,
            plot_files,
            variance,
            history,
            cur,
            summaries,
            commits,
            loaded,
            out,
        ),
        encoding="utf-8",
    )
    return readme


def _link(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def _readme(
    machine,
    commit,
    block,
    tables,
    table_files,
    plot_files,
    variance,
    history,
    cur,
    summaries,
    commits,
    loaded,
    out,
) -> str:
    lines = [
        f"# stde-bench report: {machine}",
        "",
        f"Commit `{commit[:8]}`, rendered by `stde-bench report` from the recorded results "
        f"in `{loaded.root}` only. Ours are beside the paper's printed values "
        "(Shi et al., NeurIPS 2024; `stde_bench/data/PAPER.md`).",
        "",
        "## Machine",
        "",
        machine_mod.to_markdown(block),
    ]
    statuses = cur[cur.metric == "status"]
    counts = statuses.status.value_counts().to_dict()
    if counts:
        lines += [
            "Cells at this commit: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + ".",
            "",
        ]
    partial = [s for s in ("oom", "skipped", "timeout", "error", "failed") if counts.get(s)]
    training = sorted(set(cur[cur.kind == "training"].grid))
    unrecorded = [g for g in training if not any(k[0] == g for k in summaries)]
    if loaded.problems or partial or unrecorded:
        lines += ["## Warnings", ""]
        lines += [f"- Skipped file: {p}" for p in loaded.problems]
        lines += [
            f"- No cell records for {g} at `{commit[:8]}` in `{loaded.root}/cells/`: the "
            "reasons behind OOM/skipped cells, |J|, the training config and the versions in "
            "the machine block are unknown for it."
            for g in unrecorded
        ]
        if partial:
            lines.append(
                "- Partial results: some cells did not produce measurements; see "
                "[Cells that did not run](#cells-that-did-not-run)."
            )
        lines.append("")
    lines += ["## Tables", ""]
    for t in tables:
        md, tex, csv = table_files[t.key]
        lines += [
            f"- [{t.title}](#{_anchor(t.title)}): [Markdown]({_link(md, out)}) · "
            f"[LaTeX]({_link(tex, out)}) · [CSV]({_link(csv, out)})"
        ]
    lines.append("")
    for t in tables:
        lines += [to_markdown(t, heading="###")]
        for p in plot_files.get(t.key, []):
            if p.suffix == ".png":
                lines += _figure(p, out)
    q = [p for p in variance if p.suffix == ".png"]
    if q:
        lines += ["## Estimator variance vs |J|", ""]
        for p in q:
            lines += _figure(p, out)
    lines += ["## History across commits", ""]
    if len(commits) < 2:
        lines += [
            f"Only one commit has results on {machine} so far; each benchmark's history "
            "grows with every `make bench` at a new commit.",
            "",
        ]
    lines += ["Commits, oldest first: " + ", ".join(f"`{c[:8]}`" for c in commits), ""]
    for p in history:
        if p.suffix == ".png":
            lines += _figure(p, out)
    lines += ["## Cells that did not run", ""]
    bad = statuses[statuses.status != "ok"].sort_values(["grid", "problem", "method", "dim"])
    if bad.empty:
        lines += ["Every cell ran.", ""]
    else:
        lines += ["| grid | problem | method | d | outcome | reason |", "|---|---|---|--:|---|---|"]
        for r in bad.itertuples():
            reason = (r.reason or "").strip().splitlines()
            reason = reason[0][:300] if reason else "no reason recorded"
            lines.append(
                f"| {r.grid} | {r.problem} | {r.method} | {dim_label(int(r.dim))} | "
                f"{r.status.upper()} | {reason.replace('|', '/')} |"
            )
        lines.append("")
    lines += [
        "## Data",
        "",
        "- [data.csv](data.csv): every measurement on this machine, all commits, tidy "
        "(machine, commit, grid, problem, method, dim, |J|, metric, value, status, reason).",
        "- Paper values: `stde_bench/data/stde_tables.csv` (see `stde_bench/data/PAPER.md`).",
        "",
    ]
    return "\n".join(lines)


def _figure(png: Path, out: Path) -> list[str]:
    pdf = png.with_suffix(".pdf")
    return [f"![{png.stem}]({_link(png, out)})", "", f"([PDF]({_link(pdf, out)}))", ""]


def _anchor(title: str) -> str:
    keep = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return keep.strip().replace(" ", "-")


def write_index(base: Path) -> Path:
    """``reports/README.md``: one line per machine folder that has a report."""
    base.mkdir(parents=True, exist_ok=True)
    rows = sorted(p.parent.name for p in base.glob("*/README.md"))
    lines = [
        "# stde-bench reports",
        "",
        "One folder per machine, rendered by `stde-bench report` from `results/`.",
        "",
    ]
    lines += [f"- [{m}]({m}/README.md)" for m in rows]
    path = base / "README.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
