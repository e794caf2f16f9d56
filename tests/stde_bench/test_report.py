"""``stde-bench report`` end to end on a real results folder (the asv suite's own output on
the tiny profile, see ``conftest.py``): every checked cell is compared with the asv results
file and the cell records, read here independently of the report's loader; and the
committed results render Table 3."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
import sys
from argparse import Namespace
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from stde_bench.report import main, render

MACHINE = "test-machine"
ROOT = Path(__file__).resolve().parents[2]
GRID = "bench_training.AllenCahnTwoBody"


def results_file(results: Path) -> Path:
    (path,) = sorted((results / MACHINE).glob("*-*.json"))
    return path


def asv_values(results: Path, benchmark: str) -> dict[tuple, float | None]:
    """{(problem, estimator, dim[, samples]): value} of one asv benchmark, from the JSON."""
    data = json.loads(results_file(results).read_text())
    row = dict(zip(data["result_columns"], data["results"][benchmark], strict=False))
    combos = itertools.product(*row["params"])
    return {
        tuple(json.loads(c.replace("'", '"')) for c in combo): value
        for combo, value in zip(combos, row["result"], strict=True)
    }


def finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def md_section(md: str, title_start: str) -> pd.DataFrame:
    """The Markdown table under the bold heading that starts with ``title_start``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"**{title_start}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(
            [c.strip().replace("¦", "|") for c in line.replace("\\|", "¦").split("|")[1:-1]]
        )
    return pd.DataFrame(rows[2:], columns=rows[0]).set_index(["method", "|J|"])


def csv_cell(csv: pd.DataFrame, metric: str, method: str, col, **where) -> pd.Series:
    hit = csv[(csv.metric == metric) & (csv.method == method) & (csv.col == col)]
    for k, v in where.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, f"{metric} {method} {col} {where}: {len(hit)} rows"
    return hit.iloc[0]


@pytest.fixture(scope="module")
def report(asv_results, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / MACHINE
    assert render(asv_results, out=out) == [out / "README.md"]
    return out


@pytest.fixture(scope="module")
def table3(report) -> tuple[str, pd.DataFrame]:
    csv = pd.read_csv(report / "tables" / "table3.csv")
    return (report / "tables" / "table3.md").read_text(), csv


# --------------------------------------------------------------------------- the cells
def test_speed_memory_cells_are_the_asv_results(asv_results, table3):
    md, csv = table3
    checked = 0
    for bench, metric, title in (
        ("track_it_per_s", "it_per_s", "Speed"),
        ("track_peak_memory_mb", "memory_mb", "Memory"),
    ):
        for (_, method, dim), value in asv_values(asv_results, f"{GRID}.{bench}").items():
            if not finite(value):
                continue
            row = csv_cell(csv, metric, method, dim)
            assert row.ours == pytest.approx(value, rel=1e-12)
            j = "–" if method == "exact-jax" else "4"
            text = md_section(md, title).loc[(method, j), f"d={dim}"].replace("**", "")
            assert float(text) == pytest.approx(value, rel=5e-3, abs=5e-3)
            checked += 1
    assert checked >= 8


def test_error_cells_are_mean_and_std_over_seeds(asv_results, table3):
    md, csv = table3
    mean = asv_values(asv_results, f"{GRID}.track_error_min")
    std = asv_values(asv_results, f"{GRID}.track_error_min_std")
    for key, value in mean.items():
        if finite(value):
            row = csv_cell(csv, "error_min", key[1], key[2])
            assert (row.ours, row.ours_std) == (pytest.approx(value), pytest.approx(std[key]))
            text = md_section(md, "L2 relative error").loc[
                (key[1], "–" if key[1] == "exact-jax" else "4")
            ]
            assert text[f"d={key[2]}"].replace("**", "") == f"{value:.2E} ± {std[key]:.2E}"


def test_the_real_oom_is_recorded_and_named(asv_results, report):
    """The OOM cell (N_r = 2,000,000 under a memory cap) is its own config; the sweep's
    cell of the grid's config ran after it, so the report shows that one and names the
    OOM records as superseded; data.csv keeps them with their reason."""
    status = asv_values(asv_results, f"{GRID}.track_status")
    assert status["allen-cahn-two-body", "sdgd-parallel-jax", 200] == 1  # asv: worst outcome
    data = pd.read_csv(report / "data.csv")
    oom = data[(data.status == "oom") & (data.method == "sdgd-parallel-jax") & (data.dim == 200)]
    oom = oom[oom.origin == "record"]
    assert len(oom) >= 2 and not oom.shown.any()
    assert oom.reason.str.contains("RESOURCE_EXHAUSTED").all()
    assert "superseded by newer ones" in (report / "README.md").read_text()


def test_skipped_cell_is_shown_with_the_profiles_reason(asv_results, table3, report):
    assert (
        asv_values(asv_results, f"{GRID}.track_status")["allen-cahn-two-body", "exact-jax", 200]
        == 2
    )
    md, csv = table3
    assert csv_cell(csv, "it_per_s", "exact-jax", 200).ours_status == "skipped"
    assert md_section(md, "Speed").loc[("exact-jax", "–"), "d=200"] == "skipped"
    assert "exact-jax d=200: SKIPPED: exact-jax is a dense reference for d <= 100" in md
    readme = (report / "README.md").read_text()
    assert "| AllenCahnTwoBody | allen-cahn-two-body | exact-jax | 200 | – | SKIPPED |" in readme


def test_paper_values_and_ratios_beside_ours(asv_results, table3):
    md, csv = table3
    speed = md_section(md, "Speed")
    assert speed.loc[("sdgd-parallel-jax", "100"), "d=100"] == "– / 1376.84"
    assert speed.loc[("sdgd-backward-jax", "100"), "d=100K"] == "– / OOM"
    assert speed.loc[("stde-jax", "16"), "d=1K"] == "– / **1559.36**"
    assert md_section(md, "L2").loc[("sdgd-backward-jax", "100"), "d=100"] == (
        "– / **3.51E-03 ± 8.47E-05**"
    )
    assert "/" not in speed.loc[("exact-jax", "–"), "d=4"]  # no paper row: ours alone
    rate = asv_values(asv_results, f"{GRID}.track_it_per_s")
    ours = (
        rate["allen-cahn-two-body", "stde-jax", 4]
        / rate["allen-cahn-two-body", "sdgd-parallel-jax", 4]
    )
    assert csv_cell(csv, "speedup|4", "sdgd-parallel-jax", 4).ours == pytest.approx(ours)
    assert csv_cell(csv, "speedup|16", "sdgd-backward-torch", 100000).paper == pytest.approx(
        283.33 / 0.23
    )
    assert csv_cell(csv, "speedup|100", "sdgd-backward-jax", 100000).paper_status == "baseline OOM"
    best = max((v, m) for (_, m, d), v in rate.items() if d == 4 and finite(v))[1]
    flagged = csv[(csv.metric == "it_per_s") & (csv.col == 4) & csv.best_ours]
    assert flagged.method.tolist() == [best]


def test_machine_block_files_and_plots(asv_results, report):
    readme = (report / "README.md").read_text()
    for text in (readme, (report / "tables" / "table3.md").read_text()):
        assert "| Machine (asv) | test-machine |" in text and "| Profiles | tiny |" in text
        assert f"| JAX | {metadata.version('jax')} |" in text
        for field in ("| CPU |", "| GPU |", "| Memory (RAM) |", "| PyTorch |", "| CUDA |"):
            assert field in text
    commit = json.loads(results_file(asv_results).read_text())["commit_hash"]
    assert f"| Code versions | `{commit[:8]}` |" in readme
    assert {"table3.md", "table3.tex", "table3.csv", "quality.csv"} <= set(
        p.name for p in (report / "tables").iterdir()
    )
    stems = ["table3-speed", "table3-memory", "table3-error", "quality-variance"]
    stems.append("history-AllenCahnTwoBody-step_s")
    for stem in stems:
        assert (report / "plots" / f"{stem}.png").exists() and (
            report / "plots" / f"{stem}.pdf"
        ).exists()
        assert f"(plots/{stem}.png)" in readme
    assert "(tables/table3.tex)" in readme and "(data.csv)" in readme


def test_quality_table_is_the_asv_results(asv_results, report):
    csv = pd.read_csv(report / "tables" / "quality.csv")
    for (_, method, _, samples), value in asv_values(
        asv_results, "bench_quality.EstimatorQuality.track_rel_std"
    ).items():
        assert csv_cell(csv, "rel_std", method, samples).ours == pytest.approx(value, rel=1e-12)


def test_an_older_asv_run_is_history_and_commit_pins_it(results_copy, tmp_path):
    """The asv results relabelled as an older commit (a renderer test, not a
    measurement): the newest version is shown, --commit shows the older one."""
    src = results_file(results_copy)
    data = json.loads(src.read_text())
    head = data["commit_hash"]
    old = "0" * 8 + head[8:]
    data["commit_hash"], data["date"] = old, data["date"] - 3_600_000
    for row in data["results"].values():
        row[data["result_columns"].index("started_at")] -= 3_600_000
    (src.parent / f"{old[:8]}-{src.name.split('-', 1)[1]}").write_text(json.dumps(data))
    render(results_copy, out=tmp_path / "new")
    readme = (tmp_path / "new" / "README.md").read_text()
    assert f"| Code versions | `{head[:8]}` |" in readme
    assert f"`{old[:8]}`" in readme.split("## Left out")[1].split("##")[0]  # named, not shown
    assert (tmp_path / "new" / "plots" / "history-AllenCahnTwoBody-step_s.png").exists()
    render(results_copy, commit=old[:6], out=tmp_path / "old")
    readme = (tmp_path / "old" / "README.md").read_text()
    assert f"| Code versions | `{old[:8]}` |" in readme
    assert f"No cell records for AllenCahnTwoBody at `{old[:8]}`" in readme


# --------------------------------------------------------------------------- the CLI
def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "stde_bench.cli", "report", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_default_out_is_reports_machine(asv_results, tmp_path):
    proc = run_cli("--results", str(asv_results), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / MACHINE / "README.md").exists()
    assert f"({MACHINE}/README.md)" in (tmp_path / "reports" / "README.md").read_text()


@pytest.mark.parametrize("make", ["missing", "empty", "machine-only"])
def test_empty_results_give_a_message_not_a_traceback(tmp_path, make):
    results = tmp_path / "results"
    if make != "missing":
        (results / MACHINE).mkdir(parents=True)
    if make == "machine-only":
        (results / MACHINE / "machine.json").write_text(
            json.dumps({"machine": MACHINE, "version": 1})
        )
    proc = run_cli("--results", str(results), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "no benchmark results in" in proc.stderr and "make bench" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_and_foreign_files_are_named_and_skipped(results_copy, tmp_path, capsys):
    future = json.loads(results_file(results_copy).read_text()) | {"version": 3}
    (results_copy / MACHINE / "feedface-existing.json").write_text(json.dumps(future))
    (results_copy / MACHINE / "0123abcd-existing-py.json").write_text('{"results": {"bench_tr')
    cells = next((results_copy / "cells").glob("*.jsonl"))
    cells.write_text(cells.read_text() + "{not a record\n")
    (results_copy / "cells" / "notes.txt").write_text("hello")
    (results_copy / "stray.csv").write_text("a,b")
    assert main(Namespace(results=results_copy, machine=None, commit=None, out=tmp_path)) == 0
    err, readme = capsys.readouterr().err, (tmp_path / "README.md").read_text()
    for text in (err, readme):
        assert "0123abcd-existing-py.json: not readable JSON" in text
        assert f"{cells.name}:" in text and "bad cell record; skipped" in text
        assert "notes.txt: not a cell-record file" in text and "stray.csv: not an asv" in text
        assert "feedface-existing.json: asv results api_version 3" in text
    assert not {"0123abcd", "feedface"} & set(pd.read_csv(tmp_path / "data.csv").code_version)


def test_partial_results_give_a_partial_report(results_copy, tmp_path):
    """Only the estimator-quality benchmarks recorded (the training suite never ran)."""
    src = results_file(results_copy)
    data = json.loads(src.read_text())
    data["results"] = {k: v for k, v in data["results"].items() if "bench_quality" in k}
    src.write_text(json.dumps(data))
    shutil.rmtree(results_copy / "cells")
    assert main(Namespace(results=results_copy, machine=None, commit=None, out=tmp_path)) == 0
    readme = (tmp_path / "README.md").read_text()
    assert "Estimator quality" in readme and "### Table 3" not in readme


def test_unknown_machine_or_commit(asv_results, tmp_path):
    proc = run_cli("--results", str(asv_results), "--machine", "nope", "--out", str(tmp_path))
    assert proc.returncode == 1 and "machines with results: test-machine" in proc.stderr
    proc = run_cli("--results", str(asv_results), "--commit", "zzzz", "--out", str(tmp_path))
    assert proc.returncode == 1 and "matches no results" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_asv_results_without_cell_records(results_copy, tmp_path):
    """The tables still render from asv's values, the OOM from its track_status, and the
    report says what is unknown."""
    shutil.rmtree(results_copy / "cells")
    render(results_copy, out=tmp_path)
    assert "No cell records for AllenCahnTwoBody" in (tmp_path / "README.md").read_text()
    csv = pd.read_csv(tmp_path / "tables" / "table3.csv")
    assert csv_cell(csv, "it_per_s", "sdgd-parallel-jax", 200).ours_status == "oom"


@pytest.mark.slow  # renders every committed record
def test_the_committed_results_render_table_3(tmp_path, monkeypatch):
    """``stde-bench report`` with no arguments on (a copy of) the committed results renders
    Table 3: the methods, our values and the paper's."""
    shutil.copytree(ROOT / "results", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    assert main(Namespace(results=None, machine=None, commit=None, out=None)) == 0
    md = (tmp_path / "reports" / "cpu-epyc-2core" / "tables" / "table3.md").read_text()
    speed = md_section(md, "Speed")
    methods = set(speed.index.get_level_values("method"))
    assert {
        "sdgd-backward-torch",
        "sdgd-parallel-jax",
        "forward-laplacian-jax",
        "stde-jax",
    } <= methods
    ours = speed.map(lambda t: t.split(" / ")[0].strip("*†") != "–")
    paper = speed.map(lambda t: " / " in t and t.split(" / ")[1] != "–")
    assert (ours & paper).any().any()  # a cell with ours beside the paper's
    assert "### Table 3" in (tmp_path / "reports" / "cpu-epyc-2core" / "README.md").read_text()
