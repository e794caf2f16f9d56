"""``stde-bench report [--results results/] [--machine M ...] [--commit VERSION] [--out DIR]``:
tables and plots from recorded results only.  Writes ``reports/<machine>/`` (or ``--out``):
``README.md`` (``README`` below), ``tables/<key>.md|.tex|.csv``, ``plots/*.png|.pdf`` and
``data.csv`` (the tidy frame of ``load``; ``shown``: what the report used).  Every cell shows
its newest measurement and its code version; ``--commit`` keeps the versions it prefixes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stde_bench import page
from stde_bench.provenance import block_markdown, describe, one_line, versions_text
from stde_bench.report import plots
from stde_bench.report.decompose import View, framework, restriction
from stde_bench.report.load import Loaded, load_results
from stde_bench.report.render import md_table, sections_md, to_latex, to_markdown
from stde_bench.report.select import aggregate, select
from stde_bench.report.summary import machine_summary, write_summary
from stde_bench.report.tables import Table, build_tables, dim_label

__all__ = ["ReportError", "main", "render"]
PAPER_HARDWARE = "NVIDIA A100 40 GB, CUDA 12.2, JAX 0.4.23 (paper App. H); 5 seeds"
README = """\
# stde-bench report: {machine}

Rendered by `stde-bench report` from the recorded results in `{root}` only, {how}.
Ours beside the paper's printed values (Shi et al., NeurIPS 2024; `stde_bench/data/PAPER.md`).
Each table's notes say which code version its values come from; its CSV says it per cell.

## Summary: the reproduction verdict per table, the headline ratios

{summary}

## Machine

{block}
## Left out, and why

{left_out}

## Tables

{tables}
{views}
{figures}
## Cells that did not run

{not_run}
## Data

- [data.csv](data.csv): every measurement of this machine and the paper's, tidy (a row per
  machine, code version, grid, problem, method, |J|, restriction, torch.compile, d, seed, metric).
- The paper's values: `stde_bench/data/stde_tables.csv` (see `stde_bench/data/PAPER.md`).
"""
FIGURES = {"quality+": "Estimator variance vs |J|", "history": "History across code versions"}
EMPTY = "no benchmark results in {root}/ (asv's go to {root}/<machine>/, a sweep's to {root}/"
EMPTY += "cells/): run `make bench` or a sweep as in the README, then `stde-bench report` again."
NEWEST = (
    "for every cell, the newest code version that measured it (an error: the longest training "
    "first; `--commit VERSION` pins one)"
)
LEFT_OUT = {
    "derived": "asv's `track_*` values of {} cells repeat their cell records: shown once.",
    "old": "{} measurements {} are not shown ({}); all are in [data.csv](data.csv).",
    "step": "asv's step timer (`time_step`, {} values) is shown in the history plots.",
    "bare": "No cell records for {} at `{}`: reasons, |J| and config unknown (asv's values).",
}


class ReportError(Exception):
    """Nothing (or not what was asked for) to report: the message says why."""


@dataclass
class Report:
    """One machine's report: what it shows and the files written for it."""

    machine: str
    out: Path
    loaded: Loaded
    commit: str | None
    shown: pd.DataFrame
    block: list[tuple[str, str]]
    tables: list[Table] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    files: dict[str, list[Path]] = field(default_factory=dict)

    def link(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def figures(self, key: str) -> list[str]:
        pngs = [p for p in self.files.get(key, []) if p.suffix == ".png"]
        return [f"![{p.stem}]({self.link(p)}) ([PDF]({self.link(p)[:-3]}pdf))\n" for p in pngs]


def main(args: Any) -> int:
    """Entry point of ``stde-bench report`` (``args``: results, machine, commit, out)."""
    try:
        results = Path(getattr(args, "results", None) or "results")
        machines, commit = getattr(args, "machine", None), getattr(args, "commit", None)
        written = render(results, machines=machines, commit=commit, out=getattr(args, "out", None))
    except ReportError as err:
        print(f"stde-bench report: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a report never ends in a traceback; STDE_BENCH_DEBUG shows it
        if os.environ.get("STDE_BENCH_DEBUG"):
            raise
        why = f"{type(err).__name__}: {err} (set STDE_BENCH_DEBUG=1 for the traceback)"
        print(f"stde-bench report: internal error: {why}", file=sys.stderr)
        return 1
    print("\n".join(f"report: {path}" for path in written))
    return 0


def _machines(loaded: Loaded, machines: list[str] | None, commit: str | None) -> list[str]:
    """The machines to report (``--machine``, else all), each with ``--commit``'s versions."""
    known, root = sorted(set(loaded.frame.machine) - {"paper"}), loaded.root
    if not known:
        raise ReportError(EMPTY.format(root=root))
    unknown = ", ".join(sorted(set(machines or []) - set(known)))
    if unknown:
        raise ReportError(f"no results for {unknown}; machines with results: {', '.join(known)}")
    ours, chosen = loaded.frame[loaded.frame.source == "ours"], machines or known
    versions = ours[ours.machine.isin(chosen)].code_version
    hits = sorted(set(ours.machine[versions.index[versions.str.startswith(commit or "")]]))
    if not hits or (machines and len(hits) < len(chosen)):
        listing = ", ".join(sorted(set(versions)))
        raise ReportError(f"commit {commit!r} matches no results; code versions: {listing}")
    return hits


def render(
    results: Path, *, machines: list[str] | None = None, commit: str | None = None, out=None
) -> list[Path]:
    """Write the reports (``commit``: a code version prefix; ``out``: a folder) and return
    each machine's README path; ReportError where there is nothing to report."""
    loaded = load_results(results)
    for problem in loaded.problems:
        print(f"stde-bench report: skipped {problem}", file=sys.stderr)
    chosen = _machines(loaded, machines, commit)
    base, one = Path(out or "reports"), len(chosen) == 1 and out
    reports = [render_machine(loaded, m, commit, base if one else base / m) for m in chosen]
    written = [r.out / "README.md" for r in reports]
    return written + ([] if one else [write_index(base), write_summary(base, reports)])


def render_machine(loaded: Loaded, machine: str, commit: str | None, out: Path) -> Report:
    frame, paper = loaded.frame, loaded.frame[loaded.frame.source == "paper"]
    shown = select(frame[frame.machine == machine], commit).query("kind != 'step'")
    versions = set(shown.code_version)
    hardware = [hw for (m, v), hw in loaded.hardware.items() if m == machine and v in versions]
    newest = max(hardware, key=lambda hw: str(hw.get("date") or ""), default={})
    block = describe(machine, newest, loaded.machines.get(machine, {}), shown, hardware)
    report = Report(machine, out, loaded, commit, shown, block)
    report.tables = build_tables(aggregate(shown), paper)
    views = (restriction(frame, machine, commit), framework(frame, machine, commit))
    report.views = [v for v in views if v is not None]
    _write_files(report)
    data = frame[(frame.machine == machine) | (frame.source == "paper")]
    data.assign(shown=data.index.isin(shown.index)).to_csv(out / "data.csv", index=False)
    (out / "README.md").write_text(_readme(report), encoding="utf-8")
    page.write_page(report)  # index.html: the interactive page (stde_bench/page.py)
    return report


def _write_files(report: Report) -> None:
    line, tables = one_line(report.block), report.out / "tables"
    plot_dir = report.out / "plots"
    tables.mkdir(parents=True, exist_ok=True)
    for t in report.tables:
        md, tex, csv = (tables / f"{t.spec.key}.{ext}" for ext in ("md", "tex", "csv"))
        md.write_text(to_markdown(t, "#", PAPER_HARDWARE) + block_markdown(report.block))
        tex.write_text(to_latex(t, line))
        t.cells.assign(machine=report.machine).to_csv(csv, index=False)
        report.files[t.spec.key] = [md, tex, csv]
        draw = plots.quality_plot if t.spec.key == "quality" else plots.table_plots
        report.files[t.spec.key + "+"] = draw(t, plot_dir, line)  # its plots
    for view in report.views:
        (tables / f"{view.key}.md").write_text("\n".join(_view(view)))
        view.cells.to_csv(tables / f"{view.key}.csv", index=False)
        if view.key == "restriction":
            report.files[view.key] = plots.overhead_plot(view.cells, plot_dir, line)
    asv = report.loaded.frame[report.loaded.frame.origin == "asv"]
    asv = asv[asv.machine == report.machine]
    reported = set(report.shown.code_version)
    report.files["history"] = plots.history_plots(asv, plot_dir, line, reported)


def _left_out(report: Report) -> list[str]:
    """Every file and measurement under results/ the report does not show, and why."""
    frame, shown = report.loaded.frame, report.shown
    rest = frame[(frame.machine == report.machine) & (frame.source == "ours")]
    rest = rest[~rest.index.isin(shown.index)]
    lines = [f"Skipped file: {p}" for p in report.loaded.problems]
    derived = rest[rest.derived].groupby(["grid", "problem", "method", "dim"]).ngroups
    lines += [LEFT_OUT["derived"].format(derived)] * bool(derived)
    old = rest[~rest.derived & (rest.kind != "step")]
    why = "of other code versions (`--commit`)" if report.commit else "superseded by newer ones"
    versions = versions_text(old.code_version)
    lines += [LEFT_OUT["old"].format(len(old), why, versions)] * bool(len(old))
    steps = int((rest.kind == "step").sum())
    lines += [LEFT_OUT["step"].format(steps)] * bool(steps)
    bare = shown[(shown.origin == "asv") & (shown.kind == "training")]
    for grid, version in bare[["grid", "code_version"]].drop_duplicates().values:
        lines.append(LEFT_OUT["bare"].format(grid, version))
    return [f"- {line}" for line in lines] or ["Nothing: every measurement is shown."]


def _view(view: View) -> list[str]:
    notes = [f"- {n}" for n in view.notes]
    return [f"## {view.title}", "", *sections_md(view.sections), *notes, ""]


def _not_run(report: Report) -> list[str]:
    cells = aggregate(report.shown)
    bad = cells[cells.status != "ok"].sort_values(["grid", "problem", "method", "dim"])
    frame = bad[["grid", "problem", "method"]].assign(d=bad.dim.map(dim_label))
    frame["|J|"], frame["outcome"] = bad.samples.replace(0, "–"), bad.status.str.upper()
    frame["reason"], frame["code version"] = bad.reason.fillna("").str[:300], bad.versions
    frame = frame.drop_duplicates(["grid", "problem", "method", "|J|", "d"])
    return md_table(frame) if len(frame) else ["Every cell ran.", ""]


def _readme(report: Report) -> str:
    t = report.tables
    links = [(x.spec.title, *(report.link(p) for p in report.files[x.spec.key])) for x in t]
    tables = [f"- {a}: [Markdown]({b}) · [LaTeX]({c}) · [CSV]({d})" for a, b, c, d in links]
    for x in t:
        tables += ["", to_markdown(x, "###", PAPER_HARDWARE), *report.figures(x.spec.key + "+")]
    views = [line for v in report.views for line in _view(v) + report.figures(v.key)]
    figures = []
    for key, title in FIGURES.items():
        figures += [f"## {title}", "", *report.figures(key)] if report.files.get(key) else []
    return README.format(
        machine=report.machine,
        root=report.loaded.root,
        how=f"the code versions starting with `{report.commit}`" if report.commit else NEWEST,
        summary="\n".join(machine_summary(report)),
        block=block_markdown(report.block),
        left_out="\n".join(_left_out(report)),
        tables="\n".join(tables),
        views="\n".join(views),
        figures="\n".join(figures),
        not_run="\n".join(_not_run(report)),
    )


def write_index(base: Path) -> Path:
    """``reports/README.md``: one line per machine folder that has a report."""
    base.mkdir(parents=True, exist_ok=True)
    names = sorted(p.parent.name for p in base.glob("*/README.md"))
    rows = [f"- [{name}]({name}/README.md)" for name in names]
    head = "# stde-bench reports\n\nOne folder per machine, rendered by `stde-bench report`.\n\n"
    (base / "README.md").write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    page.write_index(base)  # index.html: the machines side by side, as ratios
    return base / "README.md"
