"""The report's pieces without a results folder: the paper table, row pairing, formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import estimators
import problems
from stde_bench.report.load import _param_value, _parse_cells_name, _split_benchmark
from stde_bench.report.paper import load_paper, net_label
from stde_bench.report.tables import (
    _pair,
    dim_label,
    fmt_error,
    fmt_memory,
    fmt_ratio,
    fmt_speed,
    tex_escape,
)


def test_paper_table_rows_and_values():
    paper = load_paper()
    assert len(paper) == 426
    counts = paper.groupby("table").size().to_dict()
    assert counts == {3: 105, 4: 30, 5: 30, 6: 47, 7: 28, 8: 28, 9: 28, 10: 48, 11: 42, 12: 40}
    cell = paper[
        (paper.table == 3)
        & (paper.method == "sdgd-parallel-jax")
        & (paper.dim == 100)
        & (paper.metric == "it_per_s")
    ]
    assert cell.value.tolist() == [1376.84] and cell.samples.tolist() == [100]
    oom = paper[paper.status == "oom"]
    assert len(oom) == 30 and oom.value.isna().all()
    t10 = paper[paper.table == 10]
    assert sorted(t10.block.unique()) == [1, 10, 50, 100, 500, 1000]
    assert set(paper[paper.table == 11].net) == {"base", "L8", "L16", "h256", "h512", "h1024"}
    # the printed text is kept (PyTorch errors have 4 significant digits)
    torch_err = paper[(paper.method == "sdgd-backward-torch") & (paper.metric == "l2_rel_error")]
    assert "7.187E-03" in set(torch_err.printed)


def test_paper_ids_are_our_registry_ids():
    assert set(load_paper().method) - set(estimators.names()) == {"none"}  # no gPINN loss
    assert set(load_paper().problem) <= set(problems.names())


@pytest.mark.parametrize(
    "ours, paper, expected",
    [
        # same |J| pairs; the paper's extra |J| is its own row
        ([100, 16], [100, 16], {(100, 100), (16, 16)}),
        ([4], [100, 16], {(4, 100), ("-", 16)}),
        # the paper does not state |J|: pairs with any of ours
        ([16], [None], {(16, None)}),
        ([4, 8], [], {(8, "-"), (4, "-")}),
    ],
)
def test_pairing_of_rows(ours, paper, expected):
    key = lambda s: ("p", "stde-jax", s, 1)
    pairs = _pair([key(s) for s in ours], [key(s) for s in paper], set())
    assert {(so, sp) for *_, so, sp in pairs} == expected


def test_non_sampling_methods_pair_regardless_of_j():
    pairs = _pair(
        [("p", "forward-laplacian-jax", None, 1)],
        [("p", "forward-laplacian-jax", None, 1)],
        {"forward-laplacian-jax"},
    )
    assert [(so, sp) for *_, so, sp in pairs] == [(None, None)]


def test_formats():
    assert fmt_speed(1376.8412) == "1376.84" and fmt_speed(0.2312) == "0.231"
    assert fmt_memory(32777.4) == "32777" and fmt_memory(0.0537) == "0.0537"
    assert fmt_error(3.514e-3, 8.47e-5) == "3.51E-03 ± 8.47E-05"
    assert fmt_error(3.514e-3, math.nan) == "3.51E-03"
    assert fmt_ratio(682.2) == "682×" and fmt_ratio(2.04) == "2.0×" and fmt_ratio(0.75) == "0.75×"
    assert [dim_label(d) for d in (4, 100, 1000, 100_000, 1_000_000, 5_000_000, 1500)] == [
        "4",
        "100",
        "1K",
        "100K",
        "1M",
        "5M",
        "1500",
    ]
    assert tex_escape("a_b ± 1%") == r"a\_b $\pm$ 1\%"
    assert net_label(4, 128) == "base" and net_label(8, 128) == "L8" and net_label(4, 16) == "h16"


def test_benchmark_names_and_params():
    assert _split_benchmark("bench_training.AllenCahnTwoBody.track_it_per_s") == (
        "training",
        "AllenCahnTwoBody",
        "it_per_s",
    )
    assert _split_benchmark("bench_training.AllenCahnTwoBodyStep.time_step") == (
        "step",
        "AllenCahnTwoBody",
        "step_s",
    )
    assert _split_benchmark("bench_quality.EstimatorQuality.track_rel_std")[0] == "quality"
    assert _split_benchmark("other.Thing.time_x") is None
    assert _param_value("'stde-jax'") == "stde-jax" and _param_value("1000") == 1000
    names = {
        "my-host-smoke-AllenCahnTwoBody-abcd1234": (
            "my-host",
            "smoke",
            "AllenCahnTwoBody",
            "abcd1234",
        ),
        "vm-tiny-AllenCahnTwoBody-code-0a1b2c3d": (
            "vm",
            "tiny",
            "AllenCahnTwoBody",
            "code-0a1b2c3d",
        ),
        "notes": None,
    }
    for stem, parsed in names.items():
        assert _parse_cells_name(Path(f"{stem}.jsonl")) == parsed


def test_asv_nan_and_null_are_told_apart(tmp_path):
    """NaN (asv: skipped) and null (asv: failed) in a results file, without track_status."""
    from stde_bench.report.load import load_results

    machine = tmp_path / "m"
    machine.mkdir()
    (machine / "machine.json").write_text(json.dumps({"machine": "m", "version": 1}))
    data = {
        "commit_hash": "a" * 40,
        "env_name": "e",
        "date": 1_700_000_000_000,
        "params": {},
        "python": "3.11",
        "requirements": {},
        "env_vars": {},
        "version": 2,
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
    (machine / f"{'a' * 8}-e.json").write_text(json.dumps(data))
    frame = load_results(tmp_path).frame
    assert dict(zip(frame.method, frame.status, strict=True)) == {
        "e1": "ok",
        "e2": "skipped",
        "e3": "failed",
    }


def _cell_rows(problem, method, dim, grid, *, block=1, net="base", samples=16, **metrics):
    """Tidy rows as the loader makes them (for layout tests of tables our tiny run cannot
    fill: Table 10's blocks, Table 11's networks)."""
    base = dict(
        machine="m",
        commit="c" * 40,
        grid=grid,
        kind="training",
        problem=problem,
        method=method,
        dim=dim,
        samples=samples,
        block=block,
        net=net,
        status="ok",
        reason="",
        profile="smoke",
    )
    return [base | {"metric": k, "value": v} for k, v in metrics.items()]


def test_high_order_and_weight_sharing_tables_layout():
    from stde_bench.report import build_tables
    from stde_bench.report.tables import to_frame, to_markdown

    rows = _cell_rows("kdv-2d", "stde-jax", 2, "HighOrder", it_per_s=700.0)
    rows += _cell_rows("kdv-2d", "stde-jax", 1, "HighOrder", it_per_s=math.nan)  # wrong dim
    rows += _cell_rows(
        "allen-cahn-two-body",
        "stde-jax",
        1_000_000,
        "Sharing",
        block=10,
        it_per_s=9.0,
        memory_mb=100.0,
        n_params=12833292.0,
    )
    cur = pd.DataFrame(rows)
    cur.loc[cur.value.isna(), "status"] = "skipped"
    tables = {t.key: t for t in build_tables(cur, {})}
    assert set(tables) == {"table10", "table11"}
    t11 = to_frame(tables["table11"])
    hit = t11[
        (t11.section == "it_per_s")
        & (t11.method == "stde-jax")
        & (t11.column == "base")
        & (t11.problem == "kdv-2d")
    ]
    assert hit.ours.tolist() == [700.0] and hit.paper.tolist() == [1372.41]
    assert tables["table11"].column_labels[:3] == ["base", "L8", "L16"]
    md = to_markdown(tables["table10"])
    assert "| stde-jax, B=10 | 16 | 9.00 / 16.67 | – / 3.16 |" in md
    t10 = to_frame(tables["table10"])
    n = t10[(t10.section == "n_params") & (t10.block == 10) & (t10.column == 1_000_000)]
    assert n.ours.tolist() == n.paper.tolist() == [12833292.0]
