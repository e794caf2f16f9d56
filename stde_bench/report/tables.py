"""Paper-style tables: our measurement beside the paper's printed value, in Markdown,
LaTeX (booktabs) and CSV.

A table is built once (``Table``: sections of rows x columns of ``Cell``) and rendered
three ways.  Rows are methods (with |J|), columns are dimensions (Table 11: networks),
sections are the paper's row blocks (speed, memory, error) and the ratios that matter
(STDE's speed-up and memory reduction over each baseline, ours and the paper's).

Pairing our rows with the paper's: same problem and method (and Table 10's block); same
|J| first; a method that samples nothing pairs with any |J|; what is left pairs in order
of |J| with both |J| shown (``4 / 100``: not a like-for-like comparison, said so in the
notes); a paper row with no partner (Table 3's STDE |J| = 16) is its own row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stde_bench.profiles import GPINN, HIGH_ORDER, LAPLACIAN
from stde_bench.report.paper import PAPER_HARDWARE, PAPER_ONLY_METHODS, TABLE_TITLES

#: the order of rows: the paper's methods first, as it lists them
METHOD_ORDER = list(dict.fromkeys(LAPLACIAN + HIGH_ORDER + GPINN + tuple(PAPER_ONLY_METHODS)))
#: methods that sample no dimensions (|J| means nothing), if the records do not say
NON_SAMPLING = {"forward-laplacian-jax", "exact-jax"}
STATUS_TEXT = {
    "oom": "OOM",
    "skipped": "skipped",
    "timeout": "timeout",
    "error": "error",
    "failed": "failed",
}
ERROR_LABELS = {
    "l2_rel_error": "L2 relative error (min over checkpoints, mean ± std over seeds)",
    "l1_rel_error": "L1 relative error at x=0, t=0.3 (mean ± std over seeds)",
}
STDE = "stde-jax"


@dataclass
class Cell:
    ours: float | None = None
    ours_std: float | None = None
    ours_status: str | None = None  # None: not run
    ours_reason: str = ""
    paper: float | None = None
    paper_std: float | None = None
    paper_status: str | None = None  # None: not printed
    paper_text: str = ""  # as printed
    best_ours: bool = False
    best_paper: bool = False


@dataclass
class Row:
    problem: str
    method: str
    samples_ours: int | None
    samples_paper: int | None
    block: int
    has_ours: bool
    has_paper: bool
    cells: dict[Any, Cell] = field(default_factory=dict)
    #: in a ratio section: the STDE row the ratio is taken against
    reference: Row | None = None

    @property
    def samples_text(self) -> str:
        o = "–" if self.samples_ours is None else str(self.samples_ours)
        p = "–" if self.samples_paper is None else str(self.samples_paper)
        if not self.has_paper:
            return o
        if not self.has_ours:
            return "–" if p == "–" else f"– / {p}"
        return o if o == p else f"{o} / {p}"

    @property
    def legend_text(self) -> str:
        """For plot legends: method, whose row it is, and |J|."""
        so, sp = self.samples_ours, self.samples_paper
        if self.has_ours and self.has_paper:
            if so == sp or sp is None or so is None:
                j = so if so is not None else sp
                return self.method_text + (f", |J|={j}" if j is not None else "")
            return f"{self.method_text} (|J| ours {so}, paper {sp})"
        who = "ours" if self.has_ours else "paper"
        j = so if self.has_ours else sp
        return f"{self.method_text} ({who} only" + (f", |J|={j})" if j is not None else ")")

    @property
    def method_text(self) -> str:
        name = PAPER_ONLY_METHODS.get(self.method, self.method)
        return f"{name}, B={self.block}" if self.block != 1 else name


@dataclass
class Section:
    key: str  # it_per_s, memory_mb, error, n_params, speedup, memory_reduction, ...
    title: str
    better: str | None  # "max", "min" or None
    fmt: Callable[[float, float | None], str]
    rows: list[Row] = field(default_factory=list)


@dataclass
class Table:
    key: str  # file stem: table3, other-biharmonic, quality
    title: str
    columns: list[Any]
    column_labels: list[str]
    column_name: str  # "d" or "network" or "|J|"
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    has_paper: bool = True
    multi_problem: bool = False
    show_samples: bool = True


# --------------------------------------------------------------------------- formats
def fmt_speed(v: float, _std: float | None = None) -> str:
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3g}"


def fmt_memory(v: float, _std: float | None = None) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def fmt_error(v: float, std: float | None = None) -> str:
    text = f"{v:.2E}"
    if std is not None and math.isfinite(std):
        text += f" ± {std:.2E}"
    return text


def fmt_count(v: float, _std: float | None = None) -> str:
    return f"{v:.0f}"


def fmt_ratio(v: float, _std: float | None = None) -> str:
    if v >= 100:
        return f"{v:.0f}×"
    return f"{v:.1f}×" if v >= 1 else f"{v:.2f}×"


def fmt_plain(v: float, _std: float | None = None) -> str:
    return f"{v:.3g}"


def dim_label(d: Any) -> str:
    """1000 -> 1K, 1000000 -> 1M (the paper's column headings); others as they are."""
    if isinstance(d, (int,)) or (isinstance(d, float) and d.is_integer()):
        d = int(d)
        for div, suffix in ((1_000_000, "M"), (1_000, "K")):
            if d >= div and d % div == 0:
                return f"{d // div}{suffix}"
        return str(d)
    return str(d)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --------------------------------------------------------------------------- building
def _order(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def _pair(
    ours_keys: list, paper_keys: list, non_sampling: set[str], problem_order: list | None = None
) -> list[tuple]:
    """Pair (problem, method, samples, block) keys of ours with the paper's (module doc)."""
    pairs: list[tuple] = []
    groups: dict[tuple, tuple[list, list]] = {}
    for k in ours_keys:
        groups.setdefault((k[0], k[1], k[3]), ([], []))[0].append(k[2])
    for k in paper_keys:
        groups.setdefault((k[0], k[1], k[3]), ([], []))[1].append(k[2])
    desc = lambda s: -1 if s is None else s
    for (problem, method, block), (ours, paper) in groups.items():
        ours = sorted(set(ours), key=desc, reverse=True)
        paper = sorted(set(paper), key=desc, reverse=True)
        matched = []
        for s in list(ours):  # same |J|
            if s in paper:
                matched.append((s, s))
                ours.remove(s)
                paper.remove(s)
        for s in list(ours):  # no sampling, or the paper does not state |J|
            if method in non_sampling or s is None:
                if paper:
                    matched.append((None if method in non_sampling else s, paper.pop(0)))
                    ours.remove(s)
        for s in list(ours):
            if None in paper:
                matched.append((s, None))
                paper.remove(None)
                ours.remove(s)
        while ours and paper:  # different |J|: paired in order, both shown
            matched.append((ours.pop(0), paper.pop(0)))
        matched += [(s, "-") for s in ours] + [("-", s) for s in paper]
        for so, sp in matched:
            pairs.append((problem, method, block, so, sp))
    # by problem, the paper's method order, block, then |J| (the paper's first) descending
    order = {p: i for i, p in enumerate(problem_order or [])}
    pairs.sort(
        key=lambda p: (
            order.get(p[0], len(order)),
            p[0],
            _order(p[1]),
            p[2],
            -(_sk(p[4]) or _sk(p[3]) or 0),
        )
    )
    return pairs


def _sk(s: Any) -> int | None:
    return s if isinstance(s, int) else None


def _lookup(frame: pd.DataFrame) -> dict[tuple, pd.Series]:
    """Cells by (problem, method, |J|, block, metric, column); where a cell appears twice
    (two grids), a successful measurement wins over an outcome without one."""
    out: dict[tuple, pd.Series] = {}
    for _, r in frame.iterrows():
        key = (r.problem, r.method, r.samples, r.block, r.metric, r.col)
        if key not in out or (out[key].status != "ok" and r.status == "ok"):
            out[key] = r
    return out


def _na(v: Any) -> Any:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def build_table(
    *,
    key: str,
    title: str,
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    sections: list[Section],
    columns: list[Any],
    column_name: str = "d",
    non_sampling: Iterable[str] = (),
    notes: Iterable[str] = (),
    ratios: bool = True,
) -> Table:
    """``ours``/``paper``: tidy rows with problem, method, samples, block, col, metric,
    value, std, status, reason (paper: printed, printed_std) -- see ``report.main``."""
    non_sampling = set(non_sampling) | NON_SAMPLING
    ours = ours.copy()
    paper = paper.copy()
    for f in (ours, paper):
        f["samples"] = pd.Series(
            [None if pd.isna(s) else int(s) for s in f["samples"]], index=f.index, dtype=object
        )
        f["block"] = pd.Series(
            [1 if pd.isna(b) else int(b) for b in f["block"]], index=f.index, dtype=object
        )
    ours.loc[ours.method.isin(non_sampling), "samples"] = None
    key_of = lambda f: sorted(
        {(r.problem, r.method, r.samples, r.block) for r in f.itertuples()},
        key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2], k[3]),
    )
    problem_order = list(dict.fromkeys(list(paper.problem) + list(ours.problem)))
    pairs = _pair(key_of(ours), key_of(paper), non_sampling, problem_order)
    o_look, p_look = _lookup(ours), _lookup(paper)
    for section in sections:
        if section.key in ("speedup", "memory_reduction"):
            continue
        for problem, method, block, so, sp in pairs:
            row = Row(
                problem,
                method,
                None if so == "-" else so,
                None if sp == "-" else sp,
                block,
                has_ours=so != "-",
                has_paper=sp != "-",
            )
            for col in columns:
                cell = Cell()
                o = o_look.get((problem, method, so, block, section.key, col))
                p = p_look.get((problem, method, sp, block, section.key, col))
                if o is not None:
                    cell.ours, cell.ours_std = _na(o.value), _na(o.get("std"))
                    cell.ours_status, cell.ours_reason = o.status, _na(o.reason) or ""
                if p is not None:
                    cell.paper, cell.paper_std, cell.paper_status = (
                        _na(p.value),
                        _na(p.get("std")),
                        p.status,
                    )
                    cell.paper_text = p.printed + (f" ± {p.printed_std}" if p.printed_std else "")
                row.cells[col] = cell
            if any(c.ours_status or c.paper_status for c in row.cells.values()):
                section.rows.append(row)
        _mark_best(section, columns)
    if ratios:
        sections = _ratio_sections(sections, columns)
    # a section without a single number (e.g. memory where the paper printed none and
    # every cell of ours was skipped) says nothing the speed section does not
    sections = [s for s in sections if any(_has_number(r) for r in s.rows)]
    return Table(
        key=key,
        title=title,
        columns=columns,
        column_labels=[
            f"{column_name}={dim_label(c)}" if column_name == "d" else dim_label(c) for c in columns
        ],
        column_name=column_name,
        sections=sections,
        notes=list(notes),
        has_paper=not paper.empty,
        multi_problem=len({p[0] for p in pairs}) > 1,
    )


def _has_number(row: Row) -> bool:
    return any(
        _finite(c.ours)
        or _finite(c.paper)
        or "oom" in (c.ours_status, c.paper_status)
        or (c.paper_status and c.paper_status != "ok")
        for c in row.cells.values()
    )


def _mark_best(section: Section, columns: list) -> None:
    """Bold the best value of each column, per problem, ours and the paper's separately
    (only where at least two methods compete)."""
    if section.better is None:
        return
    pick = max if section.better == "max" else min
    for problem in dict.fromkeys(r.problem for r in section.rows):
        rows = [r for r in section.rows if r.problem == problem]
        for col in columns:
            for side in ("ours", "paper"):
                cands = [
                    r.cells[col]
                    for r in rows
                    if getattr(r.cells[col], f"{side}_status") == "ok"
                    and _finite(getattr(r.cells[col], side))
                ]
                if len(cands) >= 2:
                    best = pick(getattr(c, side) for c in cands)
                    for c in cands:
                        if getattr(c, side) == best:
                            setattr(c, f"best_{side}", True)


def _ratio(stde: Cell | None, base: Cell | None, side: str, invert: bool):
    """(ratio, status) on one side (ours or paper): STDE's value over the baseline's, or
    the baseline's over STDE's (``invert``); "baseline OOM" where only the baseline ran out
    of memory, "STDE OOM" the other way round, None where either was not measured."""
    if stde is None or base is None:
        return None, None
    ss, bs = getattr(stde, f"{side}_status"), getattr(base, f"{side}_status")
    sv, bv = getattr(stde, side), getattr(base, side)
    if ss == "ok" and bs == "ok" and _finite(sv) and _finite(bv) and min(sv, bv) > 0:
        return (bv / sv if invert else sv / bv), "ok"
    if ss == "ok" and bs == "oom":
        return None, "baseline OOM"
    if ss == "oom" and bs == "ok":
        return None, "STDE OOM"
    return None, None


def _ratio_rows(ref: Row, rows: list[Row], columns: list, invert: bool) -> list[Row]:
    out = []
    for row in rows:
        if row.method.startswith("stde") or row.method in PAPER_ONLY_METHODS:
            continue
        if (row.problem, row.block) != (ref.problem, ref.block):
            continue
        r = Row(
            row.problem,
            row.method,
            row.samples_ours,
            row.samples_paper,
            row.block,
            row.has_ours and ref.has_ours,
            row.has_paper and ref.has_paper,
            reference=ref,
        )
        for col in columns:
            a, b = ref.cells.get(col), row.cells.get(col)
            cell = Cell()
            cell.ours, cell.ours_status = _ratio(a, b, "ours", invert)
            cell.paper, cell.paper_status = _ratio(a, b, "paper", invert)
            if cell.paper_status == "ok":
                cell.paper_text = fmt_ratio(cell.paper)
            elif cell.paper_status:
                cell.paper_text = cell.paper_status
            r.cells[col] = cell
        if any(c.ours_status or c.paper_status for c in r.cells.values()):
            out.append(r)
    return out


def _ratio_sections(sections: list[Section], columns: list) -> list[Section]:
    """STDE's speed-up (its it/s over the baseline's) and memory reduction (the baseline's
    MB over its MB), for every STDE row over every other method of the same problem."""
    by_key = {s.key: s for s in sections}
    out = [s for s in sections if s.key not in ("speedup", "memory_reduction")]
    for key, metric, title, invert in (
        ("speedup", "it_per_s", "speed-up over each baseline (STDE it/s ÷ baseline it/s)", False),
        (
            "memory_reduction",
            "memory_mb",
            "memory reduction over each baseline (baseline MB ÷ STDE MB)",
            True,
        ),
    ):
        base = by_key.get(metric)
        if base is None:
            continue
        # the first STDE row of each problem is compared in one section, the second in
        # another (Table 3: |J| = 100, then |J| = 16)
        ranks: dict[tuple, int] = {}
        by_rank: dict[int, list[Row]] = {}
        for r in base.rows:
            if r.method == STDE:
                k = ranks.get((r.problem, r.block), 0)
                ranks[r.problem, r.block] = k + 1
                by_rank.setdefault(k, []).append(r)
        for _, refs in sorted(by_rank.items()):
            texts = ", ".join(dict.fromkeys(r.samples_text for r in refs))
            section = Section(
                key=key,
                title=f"STDE (|J| {texts}) {title}; ours / paper",
                better=None,
                fmt=fmt_ratio,
            )
            for ref in refs:
                section.rows += _ratio_rows(ref, base.rows, columns, invert)
            if section.rows:
                out.append(section)
    return out


# --------------------------------------------------------------------------- rendering
def _ours_text(cell: Cell, fmt: Callable) -> str:
    if cell.ours_status is None:
        return "–"
    if _finite(cell.ours):
        text = fmt(cell.ours, cell.ours_std)
        return text if cell.ours_status == "ok" else f"{text}†"
    if cell.ours_status == "ok":
        return "n/a"
    return STATUS_TEXT.get(cell.ours_status, cell.ours_status)


def _paper_text(cell: Cell) -> str:
    if cell.paper_status is None:
        return "–"
    if cell.paper_status == "oom":
        return "OOM"
    return cell.paper_text or "–"


def cell_text(cell: Cell, section: Section, row: Row, bold: Callable[[str], str]) -> str:
    ours = _ours_text(cell, section.fmt)
    if cell.best_ours:
        ours = bold(ours)
    if not row.has_paper:
        return ours
    paper = _paper_text(cell)
    if cell.best_paper:
        paper = bold(paper)
    if not row.has_ours:
        return f"– / {paper}"
    return f"{ours} / {paper}"


def _lead(table: Table, problem: str, method: str, samples: str) -> list[str]:
    """The row-heading cells: problem (several problems only), method, |J| (if shown)."""
    return (
        ([problem] if table.multi_problem else [])
        + [method]
        + ([samples] if table.show_samples else [])
    )


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(table: Table, heading: str = "###") -> str:
    lines = [f"{heading} {table.title}", ""]
    if table.has_paper:
        lines += [
            "Each cell: **ours / paper** (paper: " + PAPER_HARDWARE + "). "
            "Bold: the best method of the column (ours and the paper's separately). "
            "OOM: out of memory; –: not measured / not printed.",
            "",
        ]
    head = _lead(table, "problem", "method", "|J|") + table.column_labels
    for section in table.sections:
        lines += [f"**{section.title}**", ""]
        lines.append("| " + " | ".join(_md_escape(h) for h in head) + " |")
        lines.append(
            "|"
            + "|".join(["---"] * (len(head) - len(table.columns)) + ["--:"] * len(table.columns))
            + "|"
        )
        for row in section.rows:
            cells = [
                cell_text(row.cells[c], section, row, lambda s: f"**{s}**") for c in table.columns
            ]
            first = _lead(table, row.problem, row.method_text, row.samples_text)
            lines.append("| " + " | ".join(_md_escape(x) for x in first + cells) + " |")
        lines.append("")
    if table.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in table.notes] + [""]
    return "\n".join(lines)


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "–": "--",
    "÷": r"$\div$",
    "†": r"$^\dagger$",
    "|": r"$|$",
    "−": r"$-$",
    "→": r"$\to$",
    "·": r"$\cdot$",
    "≤": r"$\le$",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def to_latex(table: Table, machine: str = "") -> str:
    """A booktabs ``table`` (needs ``\\usepackage{booktabs,graphicx}``); ``machine``, a
    one-line summary of the hardware, goes into the caption."""
    lead = _lead(table, "Problem", "Method", "$|J|$")
    ncols = len(lead) + len(table.columns)
    head = " & ".join(lead + [tex_escape(c) for c in table.column_labels]) + r" \\"
    out = [
        "% generated by `stde-bench report`; needs \\usepackage{booktabs,graphicx}",
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{"
        + tex_escape(table.title)
        + (
            ". Each cell: ours / \\textit{paper}. Bold: best per column."
            if table.has_paper
            else "."
        )
        + (f" Ours: {tex_escape(machine)}." if machine else "")
        + "}",
        r"\label{tab:" + table.key + "}",
        r"\resizebox{\linewidth}{!}{%",
        r"\begin{tabular}{" + "l" * len(lead) + "r" * len(table.columns) + "}",
        r"\toprule",
        head,
    ]
    for section in table.sections:
        out.append(r"\midrule")
        out.append(rf"\multicolumn{{{ncols}}}{{l}}{{\textit{{{tex_escape(section.title)}}}}} \\")
        for row in section.rows:
            cells = []
            for c in table.columns:
                cell = row.cells[c]
                ours = tex_escape(_ours_text(cell, section.fmt))
                if cell.best_ours:
                    ours = rf"\textbf{{{ours}}}"
                if not row.has_paper:
                    cells.append(ours)
                    continue
                paper = tex_escape(_paper_text(cell))
                paper = rf"\textit{{{paper}}}"
                if cell.best_paper:
                    paper = rf"\textbf{{{paper}}}"
                cells.append(f"-- / {paper}" if not row.has_ours else f"{ours} / {paper}")
            first = _lead(table, row.problem, row.method_text, row.samples_text)
            out.append(" & ".join([tex_escape(x) for x in first] + cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(out)


CSV_COLUMNS = [
    "table",
    "section",
    "stde_samples_ours",
    "stde_samples_paper",
    "problem",
    "method",
    "samples_ours",
    "samples_paper",
    "block",
    "column",
    "ours",
    "ours_std",
    "ours_status",
    "ours_reason",
    "paper",
    "paper_std",
    "paper_status",
    "best_ours",
    "best_paper",
    "ours_machine",
]


def to_frame(table: Table, machine: str = "") -> pd.DataFrame:
    """One line per cell (the CSV): raw numbers, no formatting; ``machine`` (a one-line
    hardware summary) in every line, so that no number travels without it."""
    rows = []
    for section in table.sections:
        for row in section.rows:
            ref = row.reference
            for col in table.columns:
                c = row.cells[col]
                if c.ours_status is None and c.paper_status is None:
                    continue  # neither measured nor printed
                rows.append(
                    {
                        "table": table.key,
                        "section": section.key,
                        "stde_samples_ours": ref.samples_ours if ref and ref.has_ours else None,
                        "stde_samples_paper": (
                            ref.samples_paper if ref and ref.has_paper else None
                        ),
                        "problem": row.problem,
                        "method": row.method,
                        "samples_ours": row.samples_ours if row.has_ours else None,
                        "samples_paper": row.samples_paper if row.has_paper else None,
                        "block": row.block,
                        "column": col,
                        "ours": c.ours,
                        "ours_std": c.ours_std,
                        "ours_status": c.ours_status,
                        "ours_reason": c.ours_reason,
                        "paper": c.paper,
                        "paper_std": c.paper_std,
                        "paper_status": c.paper_status,
                        "best_ours": c.best_ours,
                        "best_paper": c.best_paper,
                        "ours_machine": machine,
                    }
                )
    frame = pd.DataFrame(rows, columns=CSV_COLUMNS)
    for col in ("samples_ours", "samples_paper", "stde_samples_ours", "stde_samples_paper"):
        frame[col] = frame[col].astype("Int64")
    return frame


# --------------------------------------------------------------------------- the tables
def error_label(metric: str | None) -> str:
    """The error section's title for a metric id (``l2_rel_error``, ``l2_rel``, ...)."""
    metric = metric or "error"
    for prefix in ("l2", "l1"):
        if metric.startswith(prefix):
            return ERROR_LABELS[f"{prefix}_rel_error"]
    return f"{metric} (min over checkpoints, mean ± std over seeds)"


def default_sections(error_metric: str = "l2_rel_error", n_params: bool = False) -> list[Section]:
    sections = [
        Section("it_per_s", "Speed (it/s, higher is better)", "max", fmt_speed),
        Section("memory_mb", "Memory (MB, lower is better)", "min", fmt_memory),
        Section(
            "error",
            error_label(error_metric) + ", lower is better",
            "min",
            fmt_error,
        ),
    ]
    if n_params:
        sections.append(Section("n_params", "Parameters (count)", None, fmt_count))
    sections += [
        Section("speedup", "", None, fmt_ratio),
        Section("memory_reduction", "", None, fmt_ratio),
    ]
    return sections


def paper_table_title(number: int) -> str:
    return f"Table {number}: {TABLE_TITLES.get(number, '')}".rstrip(": ")
