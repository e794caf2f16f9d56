"""The report's logic on small results folders built by hand (typed cell records written
as a sweep writes them): the tidy frame, which measurement a cell shows, the tables
(pivot, best, ratios), the verdict, the restriction and framework decompositions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import estimators
import problems
from stde_bench.asv_results import asv_frame, split_benchmark
from stde_bench.config import TrainConfig
from stde_bench.records import CellRecord
from stde_bench.report import render, versions_text
from stde_bench.report.decompose import framework, restriction
from stde_bench.report.load import load_paper, load_results
from stde_bench.report.render import md_table, tex, to_latex, to_markdown
from stde_bench.report.select import aggregate, select
from stde_bench.report.tables import (
    PAPER_TABLES,
    build_table,
    dim_label,
    fmt_value,
)

AC = "allen-cahn-two-body"
NON_SAMPLING = {"forward-laplacian-jax", "exact-jax", "primal-jax"}


def record(method: str, dim: int, **kw) -> CellRecord:
    """A record as the sweep writes it; ``kw``: measurements and record fields, plus the
    config fields (samples, seed, steps, restrict, torch_compile, measure, n_residual)."""
    fields = {k: kw.pop(k) for k in list(kw) if k in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**{"steps": 100, "n_test": 2000, "samples": 16} | fields).asdict()
    date = kw.pop("date", "2026-01-01T00:00:00+00:00")
    base = dict(
        problem=AC,
        estimator=method,
        dim=dim,
        config=config,
        status="ok",
        code_version="aaaa1111",
        asv_machine="m",
        profile="p",
        grid="G",
        machine={"date": date, "cpu": "CPU-X", "ram_gb": 8, "jax": "0.1", "gpu": None},
        stochastic=method not in NON_SAMPLING,
        memory_method="peak",
    )
    return CellRecord(**base | kw)


def results(tmp: Path, *records: CellRecord, name: str = "m-p.jsonl") -> Path:
    cells = tmp / "results" / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    with open(cells / name, "a") as fh:
        fh.writelines(json.dumps(r.to_json()) + "\n" for r in records)
    return tmp / "results"


def shown(root: Path, commit: str | None = None) -> pd.DataFrame:
    frame = load_results(root).frame
    return aggregate(select(frame[frame.machine == "m"], commit))


def cell(cells: pd.DataFrame, method: str, dim: int, metric: str, **where) -> pd.Series:
    hit = cells[(cells.method == method) & (cells.dim == dim) & (cells.metric == metric)]
    for k, v in where.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def table3(root: Path):
    frame = load_results(root).frame
    ours = aggregate(select(frame[frame.machine == "m"]))
    return build_table(PAPER_TABLES[0], ours, frame[frame.source == "paper"])


def section(table, title: str) -> pd.DataFrame:
    (wide,) = [w for t, w in table.sections if t.startswith(title)]
    return wide.set_index(["method", "|J|"])


# --------------------------------------------------------------------------- the frame
def test_paper_table_rows_and_ids():
    paper = load_paper()
    counts = paper.groupby("table").size().to_dict()
    assert counts == {3: 105, 4: 30, 5: 30, 6: 47, 7: 28, 8: 28, 9: 28, 10: 48, 11: 42, 12: 40}
    oom = paper[paper.status == "oom"]
    assert len(oom) == 30 and oom.value.isna().all()
    assert set(paper.method) - set(estimators.names()) == {"none"}  # no gPINN loss
    assert set(paper.problem) <= set(problems.names())
    assert "7.187E-03" in set(paper.printed)  # as printed (PyTorch: 4 digits, no ±)


def test_speed_from_speed_records_errors_from_error_records(tmp_path):
    root = results(
        tmp_path,
        record("stde-jax", 100, measure="speed", it_per_s=50.0, error_min=0.9),
        record("stde-jax", 100, measure="error", steps=10_000, it_per_s=9.0, error_min=1e-3),
    )
    cells = shown(root)
    assert cell(cells, "stde-jax", 100, "it_per_s").value == 50.0
    assert cell(cells, "stde-jax", 100, "error_min").value == 1e-3


def test_errors_are_mean_and_std_over_seeds(tmp_path):
    root = results(
        tmp_path, *[record("stde-jax", 100, seed=s, error_min=e) for s, e in ((0, 1e-3), (1, 3e-3))]
    )
    row = cell(shown(root), "stde-jax", 100, "error_min")
    assert (row.value, row["std"], row.seeds) == (pytest.approx(2e-3), pytest.approx(1e-3), 2)


def test_newest_version_by_default_and_commit_pins_one(tmp_path):
    old = record("stde-jax", 100, it_per_s=10.0, code_version="aaaa1111")
    new = record("stde-jax", 100, it_per_s=20.0, code_version="bbbb2222-dirty-0123abcd")
    root = results(tmp_path, old.replace(machine=old.machine | {"date": "2026-01-02"}))
    root = results(tmp_path, new.replace(machine=new.machine | {"date": "2026-01-03"}))
    row = cell(shown(root), "stde-jax", 100, "it_per_s")
    assert (row.value, row.versions) == (20.0, "bbbb2222-dirty-0123abcd")
    assert cell(shown(root, "aaaa"), "stde-jax", 100, "it_per_s").value == 10.0
    render(root, out=tmp_path / "out")
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "superseded by newer ones" in readme and "`aaaa1111`" in readme
    assert "`bbbb2222` + uncommitted edits (1 tree state)" in readme  # the machine block
    render(root, commit="aaaa", out=tmp_path / "pinned")
    csv = pd.read_csv(tmp_path / "pinned" / "tables" / "table3.csv")
    assert csv[(csv.metric == "it_per_s") & (csv.col == 100)].ours.dropna().tolist() == [10.0]


def test_a_short_run_never_hides_a_converged_error(tmp_path):
    converged = record("stde-jax", 100, steps=10_000, measure="error", error_min=1e-3)
    smoke = record("stde-jax", 100, code_version="cccc3333", error_min=0.5, date="2026-02-01")
    row = cell(shown(results(tmp_path, converged, smoke)), "stde-jax", 100, "error_min")
    assert row.value == 1e-3


def test_a_new_config_is_shown_without_the_old_configs_seeds(tmp_path):
    old = [record("stde-jax", 100, seed=s, error_min=1e-3) for s in (0, 1)]
    new = record("stde-jax", 100, seed=0, n_residual=50, error_min=5e-3, date="2026-02-01")
    row = cell(shown(results(tmp_path, *old, new)), "stde-jax", 100, "error_min")
    assert (row.value, row.seeds) == (5e-3, 1)


# --------------------------------------------------------------------------- the tables
def test_pivot_best_and_ratios(tmp_path):
    root = results(
        tmp_path,
        record("stde-jax", 1000, it_per_s=150.0, memory_mb=20.0),
        record("sdgd-parallel-jax", 1000, it_per_s=100.0, memory_mb=40.0),
        record("primal-jax", 1000, it_per_s=300.0, memory_mb=10.0, error_min=0.5),
        record("sdgd-backward-torch", 1000, samples=100, it_per_s=4.0, status="oom", reason="RAM"),
    )
    table = table3(root)
    speed = section(table, "Speed")
    # ours / paper; the best per column bold on each side; the floor does not compete
    assert speed.loc[("stde-jax", "16"), "d=1K"] == "**150.00** / **1559.36**"
    assert speed.loc[("sdgd-parallel-jax", "16"), "d=1K"] == "100.00"  # no paper row |J|=16
    assert speed.loc[("floor (no derivative)", "–"), "d=1K"] == "300.00"
    assert speed.loc[("sdgd-backward-torch", "100"), "d=1K"] == "4.00† / 3.70"
    assert "floor (no derivative)" not in section(
        table, "L2 relative error (min"
    ).index.get_level_values(0)
    # STDE |J|=16 over each baseline: ours by division, the paper's from its table
    up = table.cells[table.cells.metric == "speedup|16"].set_index(["method", "samples", "col"])
    assert up.loc[("sdgd-parallel-jax", 16, 1000)].ours == pytest.approx(1.5)
    assert up.loc[("sdgd-backward-torch", 100, 1000)].paper == pytest.approx(1559.36 / 3.70)
    assert up.loc[("sdgd-backward-torch", 100, 1000)].ours_status == "baseline OOM"
    assert up.loc[("sdgd-backward-jax", 100, 100000)].paper_status == "baseline OOM"
    down = table.cells[table.cells.metric == "memory_reduction|16"]
    down = down.set_index(["method", "samples", "col"])
    assert down.loc[("sdgd-parallel-jax", 16, 1000)].ours == pytest.approx(2.0)
    assert "Ours, sdgd-backward-torch d=1K: OOM: RAM" in table.notes


def test_verdict_agrees_better_worse(tmp_path):
    full = {"steps": 10_000, "n_test": 20_000}  # the paper's schedule: judged
    root = results(
        tmp_path,
        record("stde-jax", 100, error_min=2 * 1.89e-2, **full),  # 2x the paper's: agrees
        record("stde-jax", 1000, error_min=7.07e-4 / 4, **full),  # better
        record("stde-jax", 10_000, error_min=8.33e-4 * 12, **full),  # worse
        record("stde-jax", 100_000, error_min=1.0),  # 100 steps (smoke): shown, not judged
    )
    table = table3(root)
    v = table.verdict.set_index("col")
    assert v.verdict.to_dict() == {
        100: "agrees",
        1000: "better",
        10000: "worse",
        100000: "not judged (shorter than the paper's schedule)",
    }
    assert v.ratio[100] == pytest.approx(2.0)
    assert table.summary.startswith(
        "1 of 3 error cells agree with the paper within 3× (2 of 3 agree within 3× or are "
        "better; 1 worse)"
    )
    assert "1 seed (paper 5)" in v.differs[100] and "steps" not in v.differs[100]
    assert "steps 100 (paper 10,000)" in v.differs[100_000]
    assert "test points 2,000 (paper 20,000)" in v.differs[100_000]


def test_semilinear_verdict_by_the_late_median_and_the_reference_accuracy(tmp_path, monkeypatch):
    from stde_bench import error_stats
    from stde_bench.report import tables

    ours = {10: 0.46955, 100: 0.31674}  # d = 10: the published value is 1.1e-3 off
    refs = {
        d: error_stats.Reference(p, p, ours[d], 1e-6, "bound", "radial (test)")
        for d, p in ((10, 0.47006), (100, 0.31674))
    }
    fake = lambda problem, d: refs.get(d) if problem == "heat-semilinear" else None
    monkeypatch.setattr(error_stats, "reference", fake)
    monkeypatch.setattr(tables, "reference", fake)
    wander = [[100 * (k + 1), 2e-3] for k in range(100)]
    wander[40][1] = 4.6e-5  # one lucky checkpoint: the minimum
    steady = [[100 * (k + 1), 4e-4] for k in range(100)]
    cell = dict(problem="heat-semilinear", samples=10, steps=10_000, n_test=1, eval_every=100)
    root = results(
        tmp_path,
        record("stde-jax", 10, error_history=wander, error_min=4.6e-5, error_final=2e-3, **cell),
        record("stde-jax", 100, error_history=steady, error_min=4e-4, error_final=4e-4, **cell),
    )
    frame = load_results(root).frame
    spec = next(t for t in PAPER_TABLES if t.key == "table7")
    table = build_table(spec, aggregate(select(frame[frame.machine == "m"])), load_paper())
    v = table.verdict.set_index("col")
    # d = 10: the late median against our reference, [low, high] over u's unknown side of
    # the published one, not the minimum 4.6e-5; the paper's 6.99e-5 is below the published
    # reference's own error (5.1e-4 + 1e-6) / 0.46955 = 1.09e-3: so at both ends
    low, high = sorted(abs(0.47006 * (1 + s * 2e-3) - ours[10]) / ours[10] for s in (1, -1))
    assert v.ours[10] == pytest.approx(low) and v.verdict[10] == "below reference accuracy"
    assert v.vs_ours[10] == f"[{low:.2E}, {high:.2E}]" and v.accuracy[10] == "1.1E-03"
    # d = 100: our reference is the published one, so both ends are 4e-4: 4e-4 / 3.69e-4
    assert v.ours[100] == pytest.approx(4e-4) and v.verdict[100] == "agrees"
    assert table.summary.startswith(
        "by the median of the last 10% of checkpoints against our reference: 1 of 2 error "
        "cells agree with the paper within 3× (1 of 2 agree within 3× or are better; 0 worse; "
        "1 below reference accuracy)"
    )
    titles = [t for t, _ in table.sections]
    late = next(t for t in titles if "median of the last 10%" in t and "published" in t)
    assert section(table, late).loc[("stde-jax", "10"), "d=10"] == "2.00E-03"
    assert (
        section(table, "L1 relative error at x = 0, t = 0.3 (min")
        .loc[("stde-jax", "10"), "d=10"]
        .startswith("4.60E-05 / ")
    )
    against_ours = next(t for t in titles if "against our reference" in t)
    assert section(table, against_ours).loc[("stde-jax", "10"), "d=10"] == v.vs_ours[10]
    assert any(
        n.startswith("Reference u(0, T) at d=10: ours 0.46955 ± 1.0E-06 (bound")
        for n in table.notes
    )
    assert "by the median of the last 10% of checkpoints" in to_markdown(table)


def test_constant_mode_baseline_makes_a_verdict_not_informative(tmp_path):
    full = {"steps": 10_000, "n_test": 20_000}
    history = lambda e: [[1000 * k, e] for k in range(1, 11)]
    root = results(
        tmp_path,  # 0.21x the paper's 1.89e-2: better, but a constant network gets 3.7e-2
        record(
            "stde-jax", 100, error_min=4e-3, error_final=4.1e-3, error_history=history(4e-3), **full
        ),
        # 11x the paper's: worse, and no better than the constant network
        record(
            "stde-jax", 1000, error_min=8e-3, error_final=8e-3, error_history=history(8e-3), **full
        ),
    )
    baseline = [
        dict(problem=AC, dim=d, seed=0, n_test=20_000, c=1.0, error=e)
        for d, e in ((100, 3.7e-2), (1000, 7e-3))
    ]
    (root / "diagnostics").mkdir()
    (root / "diagnostics" / "constant-mode.json").write_text(json.dumps({"cells": baseline}))
    table = table3(root)
    v = table.verdict.set_index("col")
    assert v.verdict.to_dict() == {100: "not informative", 1000: "worse"}
    assert v.vs_constant.to_dict() == {100: "3.70E-02", 1000: "7.00E-03"}
    assert "1 of 1 seeds not below the best constant-mode" in v.differs[1000]
    assert "learned" not in v.differs[100]
    assert "1 not informative" in table.summary and "0 of 2 error cells agree" in table.summary
    trivial = section(table, "Trivial baseline")
    assert trivial.loc[("stde-jax", "16"), "d=100"] == "3.70E-02"
    assert (
        section(table, "L2 relative error at the last").loc[("stde-jax", "16"), "d=1K"]
        == "8.00E-03"
    )
    assert "| constant mode |" in to_markdown(table)


def test_what_differs_names_the_three_body_forcing():
    from types import SimpleNamespace

    from stde_bench.paper import differs

    same = dict(config="{}", seeds=5, steps_done=10_000.0, steps=10_000.0, adopted=False)
    same |= dict(ours_status="ok", reason="")
    assert "forcing: exact Δu*" in differs(SimpleNamespace(problem="poisson-three-body", **same))
    assert differs(SimpleNamespace(problem="poisson-two-body", **same)) == "nothing recorded"


def test_restriction_view_decomposes_the_speed_up(tmp_path):
    d = 100_000
    rates = {
        ("primal-jax", False): 2.0,
        ("stde-jax", False): 0.6,
        ("sdgd-parallel-jax", False): 0.4,
    }
    rates |= {("stde-jax", True): 1.8, ("sdgd-parallel-jax", True): 1.6}
    root = results(
        tmp_path,
        *[record(m, d, restrict=r, it_per_s=v, memory_mb=100 * v) for (m, r), v in rates.items()],
    )
    view = restriction(load_results(root).frame, "m", None)
    sections = {title.split(" (")[0]: wide.set_index("method") for title, wide in view.sections}
    assert sections["Speed ÷ the floor's"].loc["stde-jax (restricted)", "d=100K"] == "0.90×"
    factors = sections["STDE's speed-up over parallel SDGD, decomposed"]["d=100K"]
    assert factors.str.rstrip("×").astype(float).tolist() == [1.5, 4.0, 1.1, 4.5, 3.0]  # 4 x 1.125
    assert not any(t.startswith("Speed ÷ the floor's, paired") for t, _ in view.sections)


def test_restriction_view_shows_paired_ratios_where_cells_have_them(tmp_path):
    d = 100_000
    rows = [record("primal-jax", d, it_per_s=2.0)]
    rows.append(record("stde-jax", d, it_per_s=0.6, it_per_s_over_floor=0.31, floor_it_per_s=1.6))
    rows.append(
        record(
            "stde-jax", d, restrict=True, it_per_s=1.5, it_per_s_over_floor=0.93, floor_it_per_s=2
        )
    )
    root = results(tmp_path, *rows)
    view = restriction(load_results(root).frame, "m", None)
    sections = {title.split(":")[0]: wide.set_index("method") for title, wide in view.sections}
    assert sections["Speed ÷ the floor's"].loc["stde-jax (restricted)", "d=100K"] == "0.75×"
    paired = sections["Speed ÷ the floor's, paired"]["d=100K"]
    assert paired.to_dict() == {"stde-jax": "0.31×", "stde-jax (restricted)": "0.93×"}
    beside = sections["The floor timed beside each cell ÷ the floor's own cell"]["d=100K"]
    assert beside.to_dict() == {"stde-jax": "0.80×", "stde-jax (restricted)": "1.0×"}
    (factors,) = [w for t, w in view.sections if t.endswith("= both)")]
    assert factors.set_index("method")["d=100K"].iloc[-1] == "2.5×"  # 1.5 / 0.6, unpaired


def test_framework_view_factors_from_one_sweep(tmp_path):
    rates = {"sdgd-backward-torch": 3.0, "sdgd-parallel-torch": 12.0, "stde-torch": 24.0}
    rates |= {"sdgd-parallel-jax": 60.0, "stde-jax": 120.0}
    rows = [record(m, 1000, it_per_s=v) for m, v in rates.items()]
    rows.append(record("stde-jax", 1000, restrict=True, it_per_s=240.0))
    root = results(tmp_path, *rows)
    other = record("stde-torch", 1000, it_per_s=1e6, profile="q", date="2027-01-01")
    root = results(tmp_path, other, name="m-q.jsonl")  # another sweep: never mixed in
    frame = load_results(root).frame
    view = framework(frame, "m", None)
    factors = view.sections[1][1].set_index("method")["d=1K"]
    got = {k.split(":")[0]: v for k, v in factors.items()}
    assert got["parallelisation"] == "4.0×" and got["Taylor mode (PyTorch)"] == "2.0×"
    assert got["framework"] == "5.0×" and got["restriction"] == "2.0×"
    assert got["all of ours"] == "80.0×"
    assert got["the paper's single factor (Table 3)"] == f"{1559.36 / 3.70:.0f}×"
    assert "m-p.jsonl" in view.notes[0]


# --------------------------------------------------------------------------- pieces
def test_formats_and_latex():
    assert [dim_label(d) for d in (4, 100, 1000, 100_000, 10**6, 5 * 10**6, 1500)] == [
        "4", "100", "1K", "100K", "1M", "5M", "1500"
    ]  # fmt: skip
    assert (
        fmt_value("it_per_s", 1376.8412) == "1376.84" and fmt_value("memory_mb", 32777.4) == "32777"
    )
    assert fmt_value("error_min", 3.514e-3, 8.47e-5) == "3.51E-03 ± 8.47E-05"
    assert fmt_value("error_min", 3.514e-3, math.nan) == "3.51E-03"
    assert [fmt_value("speedup|16", v) for v in (682.2, 2.04, 0.75)] == ["682×", "2.0×", "0.75×"]
    assert tex("**a_b** ± 1%") == r"\textbf{a\_b} $\pm$ 1\%"
    assert md_table(pd.DataFrame({"method": ["a|b"], "d=1K": ["1"]}))[:3] == [
        "| method | d=1K |", "|---|--:|", "| a\\|b | 1 |"
    ]  # fmt: skip
    assert versions_text(["e11221ad", "b4e9c388-dirty-1", "b4e9c388-dirty-2"]) == (
        "`b4e9c388` + uncommitted edits (2 tree states), `e11221ad`"
    )


def test_latex_is_booktabs(tmp_path):
    tex_text = to_latex(table3(results(tmp_path, record("stde-jax", 100, it_per_s=5.0))), "m")
    assert all(rule in tex_text for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert r"-- / \textbf{1974.50}" in tex_text and "5.00 / 1833.78" in tex_text


def test_benchmark_names_and_asv_nan_null():
    assert split_benchmark("bench_training.AllenCahnTwoBody.track_it_per_s") == (
        "training", "AllenCahnTwoBody", "it_per_s"
    )  # fmt: skip
    assert split_benchmark("bench_training.AllenCahnTwoBodyStep.time_step")[:2] == (
        "step", "AllenCahnTwoBody"
    )  # fmt: skip
    assert split_benchmark("bench_quality.EstimatorQuality.track_rel_std")[0] == "quality"
    paired = split_benchmark("bench_training.HighDimRestrictedJ16.track_it_per_s_over_floor")
    assert paired == ("training", "HighDimRestrictedJ16", "it_per_s_over_floor")
    assert split_benchmark("other.Thing.time_x") is None
    data = {
        "commit_hash": "a" * 40,
        "result_columns": ["result", "params", "version", "started_at"],
        "results": {
            "bench_training.G.track_it_per_s": [
                [1.5, float("nan"), None],
                [["'p'"], ["'e1'", "'e2'", "'e3'"], ["4"]],
                "v",
                0,
            ]
        },
    }
    frame = asv_frame(data, "m", "f.json", {})
    assert dict(zip(frame.method, frame.status, strict=True)) == {
        "e1": "ok", "e2": "skipped", "e3": "failed"
    }  # fmt: skip


def test_a_plot_rendered_twice_is_byte_equal(tmp_path):
    """Re-rendering an unchanged report changes no file (PDFs carry no creation date)."""
    import matplotlib.pyplot as plt

    from stde_bench.report.plots import _save

    def draw(out: Path) -> list[bytes]:
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3, 1, 2])
        return [p.read_bytes() for p in _save(fig, out, "p", "footer")]

    first = draw(tmp_path / "a")
    assert first == draw(tmp_path / "b")
    assert b"/CreationDate" not in first[1]  # the clock would change it between renders


def test_sweep_logs_and_diagnostics_are_not_taken_for_a_machine_but_a_stray_folder_is(tmp_path):
    (tmp_path / "cells").mkdir()
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "m-repro-cpu.txt").write_text("start: ...\n")
    (tmp_path / "diagnostics").mkdir()
    (tmp_path / "stray").mkdir()
    problems = load_results(tmp_path).problems
    assert len(problems) == 1
    assert problems[0].endswith("stray/: no asv machine.json of api_version 1; skipped")


@pytest.mark.parametrize(
    "history, how",
    [
        ([[1000, 5.5e-3], [9000, 5.3e-3], [10000, 4.7e-3]], "still falling when training stopped"),
        (
            [[1000, 5e-3], [5000, 1e-3], [10000, 4e-3]],
            "rose after its minimum 1.00e-03 at step 5,000",
        ),
        ([[1000, 5e-3], [9000, 1e-3], [10000, 0.99e-3]], "flat (within 5%) from step 9,000"),
    ],
)
def test_a_cells_error_trend_names_how_its_training_ended(history, how):
    from stde_bench.evidence import error_trend

    config = TrainConfig(steps=10_000, seed=1).asdict()
    record = CellRecord("allen-cahn-two-body", "stde-jax", 10, config, "ok", error_history=history)
    trend = error_trend(record)
    assert trend.startswith("seed 1: ") and trend.endswith(how)
    assert error_trend(record.replace(error_history=history[:2])) == ""  # too few to tell


def test_a_longer_run_under_diagnostics_is_evidence_beside_the_same_seed_only(tmp_path):
    """A one-off run of the same cell trained longer is appended to that seed's trend (and
    to no other seed's); it never becomes a row of its own."""
    from stde_bench.evidence import longer_runs

    def record(steps: int, seed: int, history: list) -> CellRecord:
        config = TrainConfig(steps=steps, seed=seed, samples=16).asdict()
        best = min(e for _, e in history)
        args = ("allen-cahn-two-body", "stde-jax", 10, config, "ok")
        return CellRecord(*args, error_history=history, error_min=best, error_final=history[-1][1])

    short = [[1000, 5e-3], [5000, 3.1e-3], [10000, 3.1e-3]]
    (tmp_path / "cells").mkdir()
    with open(tmp_path / "cells" / "m.jsonl", "w") as f:
        f.writelines(json.dumps(record(10_000, s, short).to_json()) + "\n" for s in (0, 1))
    (tmp_path / "diagnostics").mkdir()
    long = [*short, [15000, 4e-4], [20000, 2.2e-4]]
    (tmp_path / "diagnostics" / "d.json").write_text(json.dumps(record(20_000, 1, long).to_json()))

    ((steps, text),) = longer_runs(tmp_path).values()
    assert steps == 20_000
    assert text.endswith("3.10e-03 at step 10,000, 2.20e-04 at 20,000 (its minimum)")
    frame = load_results(tmp_path).frame
    trends = frame[frame.source == "ours"].groupby("seed").trend.first()
    assert trends[1].endswith("; the same seed " + text) and "diagnostics" not in trends[0]
    assert set(frame[frame.source == "ours"].steps) == {10_000}  # no row of its own
