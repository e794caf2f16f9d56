"""One screen per machine: verdict counts per table, the headline ratios, links to sections.

``machine_summary`` opens each machine's README; ``write_summary`` writes
``reports/SUMMARY.md``: the same per machine (``## <machine>``) and, under ``## Profiles``,
the cell time of every profile's shown records.  The project README links these anchors
and types no number of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

#: the rows of one trained or timed cell (one record); its metrics are rows of the frame
RUN = "machine code_version grid problem method samples restricted torch_compile".split()
RUN += "block net dim seed".split()


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def machine_summary(report, prefix: str = "") -> list[str]:
    """Markdown lines: a verdict count per paper table with one (the table's section
    linked), then each view's headline ratios (its section linked); ``prefix`` goes before
    each link (the machine's folder, for ``reports/SUMMARY.md``)."""
    lines = ["| table | reproduction verdict (errors) |", "|---|---|"]
    for t in report.tables:
        if t.summary:
            title = t.spec.title.replace("|", "/")
            lines.append(f"| [{title}]({prefix}README.md#{slug(t.spec.title)}) | {t.summary} |")
    lines = lines + [""] if len(lines) > 2 else ["No paper table has an error cell of ours.", ""]
    for view in report.views:
        link = f"{prefix}README.md#{slug(view.title)}"
        ratios = "; ".join(f"{what} {values}" for what, values in view.headline)
        lines += [f"- [{view.title}]({link})" + f": {ratios}" * bool(ratios)]
    return lines + [""] * bool(report.views)


def profile_hours(shown: pd.DataFrame) -> pd.DataFrame:
    """Per (profile, machine): cells and the sum of their ``duration_s`` in hours (each
    cell's own process; start-up and what a sweep does between cells excluded)."""
    runs = shown[shown.origin == "record"].drop_duplicates(RUN)
    g = runs.groupby(["profile", "machine"])
    return pd.DataFrame({"cells": g.size(), "hours": g.duration_s.sum() / 3600}).reset_index()


def write_summary(base: Path, reports: list) -> Path:
    """``base/SUMMARY.md``: ``machine_summary`` per machine and the profiles' cell time."""
    lines = ["# stde-bench: summary of the generated reports", ""]
    lines += ["Rendered by `stde-bench report` from `results/`; each line links its section.", ""]
    for report in reports:
        lines += [f"## {report.machine}", "", *machine_summary(report, f"{report.machine}/")]
    hours = pd.concat([profile_hours(r.shown) for r in reports], ignore_index=True)
    lines += [
        "## Profiles",
        "",
        "| profile | machine | cells shown | cell time |",
        "|---|---|--:|--:|",
    ]
    for r in hours.sort_values(["profile", "machine"]).itertuples():
        lines.append(f"| {r.profile} | {r.machine} | {r.cells} | {r.hours:.1f} h |")
    path = base / "SUMMARY.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
