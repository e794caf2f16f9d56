"""Where STDE's speed comes from, per sweep of one machine: ``restriction`` (faithful vs
restricted vs the floor; STDE over parallel SDGD split into restriction and Taylor mode) and
``framework`` (PyTorch loop SDGD to JAX STDE: each change's factor, the paper's beside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stde_bench.records import records_file
from stde_bench.report.load import BESIDE, PAIRED
from stde_bench.report.select import aggregate, select
from stde_bench.report.tables import FLOOR, LABELS, STDE, dim_label, fmt_value, row_label

PROBLEM, R, SDGD = "allen-cahn-two-body", " (restricted)", "sdgd-parallel-jax"
#: (what the factor measures, numerator row, denominator row)
RESTRICTION_FACTORS = (
    ("Taylor mode alone: STDE ÷ parallel SDGD, paper-faithful", STDE, SDGD),
    ("restriction alone: parallel SDGD restricted ÷ paper-faithful", SDGD + R, SDGD),
    ("Taylor mode on top: STDE restricted ÷ parallel SDGD restricted", STDE + R, SDGD + R),
    ("both: STDE restricted ÷ parallel SDGD, paper-faithful", STDE + R, SDGD),
    ("restriction for STDE: STDE restricted ÷ paper-faithful", STDE + R, STDE),
)
TORCH_LOOP = "sdgd-backward-torch"
FRAMEWORK_ROWS = (TORCH_LOOP, "sdgd-parallel-torch", "stde-torch", SDGD, STDE)
FRAMEWORK_FACTORS = (
    ("parallelisation: PyTorch parallel SDGD ÷ loop SDGD", "sdgd-parallel-torch", TORCH_LOOP),
    ("Taylor mode (PyTorch): STDE ÷ parallel SDGD", "stde-torch", "sdgd-parallel-torch"),
    ("framework: JAX STDE ÷ PyTorch STDE", STDE, "stde-torch"),
    ("framework: JAX parallel SDGD ÷ PyTorch parallel SDGD", SDGD, "sdgd-parallel-torch"),
    ("Taylor mode (JAX): STDE ÷ parallel SDGD", STDE, SDGD),
    ("restriction: JAX STDE restricted ÷ JAX STDE", STDE + R, STDE),
    ("torch.compile: PyTorch STDE compiled ÷ eager", "stde-torch (torch.compile)", "stde-torch"),
    ("all of ours, paper-faithful: JAX STDE ÷ PyTorch loop SDGD", STDE, TORCH_LOOP),
    ("all of ours: JAX STDE restricted ÷ PyTorch loop SDGD", STDE + R, TORCH_LOOP),
)


@dataclass
class View:
    """A decomposition: its sections (title, wide frame), notes and its cells."""

    key: str
    title: str
    cells: pd.DataFrame
    sections: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the ratios a summary shows: (what, its values over d as text)
    headline: list[tuple[str, str]] = field(default_factory=list)


def sweep_cells(frame: pd.DataFrame, machine: str, commit: str | None, methods: set, needs: str):
    """The cells of the sweep with ``needs`` and most ``methods`` (newest if tied), at the most
    common |J| (of its restricted rows if any); a sweep: a sweep CLI's records file, else
    asv's records of one profile and code version."""
    f = frame[(frame.machine == machine) & (frame.origin == "record") & (frame.problem == PROBLEM)]
    f = f[f.metric.isin(["it_per_s", "memory_mb", PAIRED, BESIDE])]
    f = f[f.code_version.str.startswith(commit or "")]
    sweep = lambda p: records_file(Path(), machine, p).name if isinstance(p, str) else None
    cli = f.file.map(lambda a: Path(a).name) == f.profile.map(sweep)  # a sweep CLI's file
    f = f.assign(sweep=np.where(cli, f.file, f.profile + " @ " + f.code_version))
    g = f[f.method.isin(methods)].groupby("sweep")
    score = pd.DataFrame({"n": g.method.nunique(), "date": g.date.max()})
    score = score[score.index.isin(f.sweep[f.method == needs])].sort_values(["n", "date"])
    if score.empty:
        return None, ""
    cells = aggregate(select(f[f.sweep == score.index[-1]]))
    sampled = cells.samples[(cells.samples > 0) & (cells.restricted | ~cells.restricted.any())]
    cells = cells[cells.samples.isin([0, *sampled.mode()[:1]])]  # the restricted rows' |J|
    return cells.assign(row=row_label(cells)), score.index[-1]


def _wide(cells: pd.DataFrame, metric: str, first: tuple[str, ...]) -> pd.DataFrame:
    """A pivot row x dim of ``metric``; rows in the order of ``first``, restricted after."""
    rank = {m: i for i, m in enumerate(first)}
    rows = cells.drop_duplicates("row").assign(k=lambda c: c.method.map(rank).fillna(len(rank)))
    order = rows.sort_values(["restricted", "torch_compile", "k"], kind="stable").row
    wide = cells[cells.metric == metric].pivot_table(index="row", columns="dim", values="value")
    return wide.reindex([r for r in order if r in wide.index])


def _show(wide: pd.DataFrame, metric: str) -> pd.DataFrame:
    text = wide.map(lambda v: fmt_value(metric, v) if np.isfinite(v) else "–")
    text.columns = [f"d={dim_label(d)}" for d in wide.columns]
    return text.rename_axis("method").reset_index()


def factors(wide: pd.DataFrame, spec: tuple) -> pd.DataFrame:
    """A row per factor of ``spec`` whose two rows exist: numerator ÷ denominator."""
    rows = {what: wide.loc[a] / wide.loc[b] for what, a, b in spec if {a, b} <= set(wide.index)}
    return pd.DataFrame(rows, index=wide.columns).T.dropna(how="all")


def _span(what: str, ratios: pd.Series) -> tuple[str, str]:
    """(what, ``0.89×-1.07×`` over the dimensions with a value, their range in d)."""
    r = ratios.dropna()
    low, high = (fmt_value("speedup", v) for v in (r.min(), r.max()))
    span = low if low == high else f"{low}–{high}"
    dims = ", ".join(f"d={dim_label(x)}" for x in sorted(set(r.index)))
    return what, f"{span} ({dims})"


def _note(cells: pd.DataFrame, name: str) -> str:
    versions = sorted({v for vs in cells.versions for v in vs.split(", ")})
    more = f" (+{len(versions) - 3} more)" if len(versions) > 3 else ""
    samples = ", ".join(map(str, sorted(set(cells.samples) - {0}))) or "–"
    dirty = " (-dirty-<hash>: uncommitted edits)" * any("-dirty-" in v for v in versions)
    at = {v: sorted(set(cells.dim[cells.versions.str.contains(v, regex=False)])) for v in versions}
    swept = "; ".join(f"{v} at d = {', '.join(f'{d:.0e}' for d in at[v])}" for v in versions[:3])
    return f"`{name}`, |J| = {samples}; one sweep per code version: {swept}{more}{dirty}."


def restriction(frame: pd.DataFrame, machine: str, commit: str | None) -> View | None:
    """Paper-faithful vs restricted vs floor at the dimensions with restricted rows."""
    restricted = set(frame.method[frame.restricted & (frame.machine == machine)])
    cells, name = sweep_cells(frame, machine, commit, restricted | {FLOOR}, FLOOR)
    if cells is None or not cells.restricted.any():
        return None
    keep = cells.method.isin(set(cells.method[cells.restricted]) | {FLOOR}) & ~cells.torch_compile
    cells = cells[keep & cells.dim.isin(set(cells.dim[cells.restricted]))]
    view = View("restriction", "Restriction to J: paper-faithful vs restricted vs the floor", cells)
    speed = _wide(cells, "it_per_s", (FLOOR, STDE))
    memory = _wide(cells, "memory_mb", (FLOOR, STDE))
    view.sections += [("Speed (it/s, higher is better)", _show(speed, "it_per_s"))]
    view.sections += [("Memory (MB, lower is better)", _show(memory, "memory_mb"))]
    for title, wide in (("Speed ÷ the floor's", speed), ("Memory ÷ the floor's", memory)):
        if LABELS[FLOOR] in wide.index:
            view.sections.append((title, _show(wide / wide.loc[LABELS[FLOOR]], "speedup")))
    paired = _wide(cells, PAIRED, (FLOOR, STDE))
    if len(paired):
        title = (
            "Speed ÷ the floor's, paired: the floor timed in the cell's own process, a window "
            "after each of the cell's (median over windows; free of the machine's drift "
            "between cells)"
        )
        view.sections.append((title, _show(paired, "speedup")))
    beside = _wide(cells, BESIDE, (FLOOR, STDE))
    if len(beside) and LABELS[FLOOR] in speed.index:
        title = (
            "The floor timed beside each cell ÷ the floor's own cell: below 1, the cell "
            "slowed the floor's windows after its own, and its paired ratio flatters it"
        )
        view.sections.append((title, _show(beside / speed.loc[LABELS[FLOOR]], "speedup")))
    table = factors(speed, RESTRICTION_FACTORS)
    title = "STDE's speed-up over parallel SDGD, decomposed (restriction × Taylor mode = both)"
    view.sections += [(title, _show(table, "speedup"))] * bool(len(table))
    ours = paired[paired.index.str.endswith(R)] if len(paired) else paired
    if len(ours):
        what = "restricted rows' it/s ÷ the floor's, paired"
        view.headline.append(_span(what, ours.stack().droplevel(0)))
    if RESTRICTION_FACTORS[-1][0] in table.index:
        view.headline.append(
            _span(RESTRICTION_FACTORS[-1][0], table.loc[RESTRICTION_FACTORS[-1][0]])
        )
    view.notes.append(_note(cells, name))
    return view


def framework(frame: pd.DataFrame, machine: str, commit: str | None) -> View | None:
    """From the paper's PyTorch loop SDGD to JAX STDE restricted: it/s and factors."""
    cells, name = sweep_cells(frame, machine, commit, set(FRAMEWORK_ROWS), TORCH_LOOP)
    if cells is None:
        return None
    cells = cells[cells.method.isin(FRAMEWORK_ROWS) & (cells.metric == "it_per_s")]
    speed = _wide(cells, "it_per_s", FRAMEWORK_ROWS)
    view = View("framework", "Framework vs algorithm: two-body Allen-Cahn, PyTorch to JAX", cells)
    view.sections.append(("Speed (it/s, higher is better)", _show(speed, "it_per_s")))
    p = frame[(frame.table == 3) & (frame.metric == "it_per_s") & (frame.status == "ok")]
    stde, base = p[p.method == STDE], p[p.method == TORCH_LOOP]
    j = cells.samples.max() if cells.samples.max() in set(stde.samples) else stde.samples.max()
    stde = stde[stde.samples == j]
    single = stde.set_index("dim").value / base.set_index("dim").value
    what = f"the paper's single factor (Table 3): JAX STDE, |J| = {j} ÷ PyTorch loop SDGD, |J| = "
    what += str(base.samples.max())
    single = single.reindex(speed.columns).rename(what).to_frame().T
    table = pd.concat([factors(speed, FRAMEWORK_FACTORS), single])
    view.sections.append(("Factors (it/s ratios of the rows above)", _show(table, "speedup")))
    for what, *_ in FRAMEWORK_FACTORS[-2:]:
        view.headline += [_span(what, table.loc[what])] if what in table.index else []
    view.notes.append(_note(cells, name))
    return view
