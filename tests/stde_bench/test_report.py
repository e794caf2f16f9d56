"""``stde-bench report`` on a real results folder (the asv suite's own output on the tiny
profile, see ``conftest.py``): every checked cell is compared with the asv results file,
read here independently of the report's loader."""

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


# --------------------------------------------------------------------------- helpers
def results_file(results: Path) -> Path:
    (path,) = sorted((results / MACHINE).glob("*-*.json"))
    return path


def asv_values(results: Path, benchmark: str) -> dict[tuple, float | None]:
    """{(problem, estimator, dim): value} of one asv benchmark, straight from the JSON."""
    data = json.loads(results_file(results).read_text())
    row = dict(zip(data["result_columns"], data["results"][benchmark], strict=False))
    combos = itertools.product(*row["params"])
    out = {}
    for combo, value in zip(combos, row["result"], strict=True):
        problem, estimator, dim = (json.loads(c.replace("'", '"')) for c in combo)
        out[problem, estimator, dim] = value
    return out


def md_section(md: str, title_start: str) -> pd.DataFrame:
    """The Markdown table under the bold heading that starts with ``title_start``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"**{title_start}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").replace("\\|", "¦").split("|")]
        rows.append([c.replace("¦", "|") for c in cells])
    header, body = rows[0], rows[2:]
    return pd.DataFrame(body, columns=header)


def md_cell(frame: pd.DataFrame, method: str, column: str, samples: str | None = None) -> str:
    hit = frame[frame["method"] == method]
    if samples is not None:
        hit = hit[hit["|J|"] == samples]
    assert len(hit) == 1, f"{method} |J| {samples}: {len(hit)} rows in\n{frame}"
    return hit.iloc[0][column].replace("**", "")


def csv_cell(frame: pd.DataFrame, section: str, method: str, column, **where) -> pd.Series:
    hit = frame[(frame.section == section) & (frame.method == method) & (frame.column == column)]
    for k, v in where.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, f"{section} {method} {column} {where}: {len(hit)} rows"
    return hit.iloc[0]


@pytest.fixture(scope="module")
def report(asv_results, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / MACHINE
    written = render(asv_results, out=out)
    assert written[0] == out / "README.md"
    return out


@pytest.fixture(scope="module")
def table3(report) -> tuple[str, pd.DataFrame]:
    md = (report / "tables" / "table3.md").read_text()
    csv = pd.read_csv(report / "tables" / "table3.csv", dtype={"column": str})
    csv["column"] = [int(c) if c.isdigit() else c for c in csv.column]
    return md, csv


# --------------------------------------------------------------------------- the cells
def test_speed_memory_cells_are_the_asv_results(asv_results, table3):
    md, csv = table3
    speed_md, memory_md = md_section(md, "Speed"), md_section(md, "Memory")
    checked = 0
    for bench, section, frame in (
        ("track_it_per_s", "it_per_s", speed_md),
        ("track_peak_memory_mb", "memory_mb", memory_md),
    ):
        values = asv_values(asv_results, f"bench_training.AllenCahnTwoBody.{bench}")
        for (_, method, dim), value in values.items():
            if value is None or not math.isfinite(value):
                continue
            row = csv_cell(csv, section, method, dim, ours_status="ok")
            assert row.ours == pytest.approx(value, rel=1e-12)
            text = md_cell(frame, method, f"d={dim}", None if method == "exact-jax" else "4 / 100")
            ours_text = text.split(" / ")[0]
            assert float(ours_text) == pytest.approx(value, rel=5e-3, abs=5e-3)
            checked += 1
    assert checked >= 8  # 4 successful cells x 2 metrics at least


def test_error_cells_are_mean_and_std_over_seeds(asv_results, table3):
    md, csv = table3
    mean = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_error_min")
    std = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_error_min_std")
    frame = md_section(md, "L2 relative error")
    for (_, method, dim), value in mean.items():
        if value is None or not math.isfinite(value):  # asv: failed (null) or skipped (NaN)
            continue
        row = csv_cell(csv, "error", method, dim, ours_status="ok")
        assert row.ours == pytest.approx(value, rel=1e-12)
        assert row.ours_std == pytest.approx(std[_, method, dim], rel=1e-12)
        text = md_cell(frame, method, f"d={dim}", None if method == "exact-jax" else "4 / 100")
        assert text.split(" / ")[0] == f"{value:.2E} ± {std[_, method, dim]:.2E}"


def test_oom_cell_is_shown_as_oom_with_its_reason(asv_results, table3, report):
    status = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_status")
    assert status["allen-cahn-two-body", "sdgd-parallel-jax", 200] == 1  # asv recorded OOM
    md, csv = table3
    for section, title in (("it_per_s", "Speed"), ("memory_mb", "Memory")):
        row = csv_cell(csv, section, "sdgd-parallel-jax", 200)
        assert row.ours_status == "oom" and pd.isna(row.ours)
        cell = md_cell(md_section(md, title), "sdgd-parallel-jax", "d=200", "4 / 100")
        assert cell.startswith("OOM / ")
    assert "sdgd-parallel-jax d=200: OOM: JaxRuntimeError: RESOURCE_EXHAUSTED" in md
    readme = (report / "README.md").read_text()
    assert "| sdgd-parallel-jax | 200 | OOM | JaxRuntimeError: RESOURCE_EXHAUSTED" in readme


def test_skipped_cell_is_shown_with_the_profiles_reason(asv_results, table3, report):
    status = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_status")
    assert status["allen-cahn-two-body", "exact-jax", 200] == 2
    md, csv = table3
    assert csv_cell(csv, "it_per_s", "exact-jax", 200).ours_status == "skipped"
    assert md_cell(md_section(md, "Speed"), "exact-jax", "d=200") == "skipped"
    assert "exact-jax d=200: SKIPPED: exact-jax is a dense reference for d <= 100" in md


def test_paper_values_beside_ours(table3):
    md, csv = table3
    speed = md_section(md, "Speed")
    # Table 3 at d=100: SDGD parallel 1376.84 it/s, in the row paired with ours (|J| 4 / 100)
    assert md_cell(speed, "sdgd-parallel-jax", "d=100", "4 / 100") == "– / 1376.84"
    row = csv_cell(csv, "it_per_s", "sdgd-parallel-jax", 100, samples_paper=100)
    assert row.paper == 1376.84 and row.paper_status == "ok"
    # paper OOM cells, and rows the paper has that we did not run
    assert md_cell(speed, "sdgd-backward-jax", "d=100K", "– / 100") == "– / OOM"
    assert md_cell(speed, "sdgd-backward-torch", "d=100", "– / 100") == "– / 55.56"
    # STDE |J|=16 is its own row, labelled; the paper's fastest at d=1K (bold)
    assert md_cell(speed, "stde-jax", "d=100", "– / 16") == "– / 1833.78"
    assert (
        md_section(md, "Speed").query("method == 'stde-jax' and `|J|` == '– / 16'").iloc[0]["d=1K"]
        == "– / **1559.36**"
    )
    assert csv_cell(csv, "it_per_s", "stde-jax", 1000, samples_paper=16).best_paper
    assert not csv_cell(csv, "it_per_s", "stde-jax", 100, samples_paper=16).best_paper
    mem = md_section(md, "Memory")
    assert md_cell(mem, "stde-jax", "d=1M", "– / 16") == "– / 6295"
    err = md_section(md, "L2 relative error")
    assert md_cell(err, "sdgd-backward-jax", "d=100", "– / 100") == "– / 3.51E-03 ± 8.47E-05"
    # our exact reference has no paper row: its cells show ours alone
    assert "/" not in md_cell(speed, "exact-jax", "d=4")


def test_ratio_columns(asv_results, table3):
    md, csv = table3
    rate = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_it_per_s")
    mem = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_peak_memory_mb")
    key = lambda m, d: ("allen-cahn-two-body", m, d)
    # STDE's row |J| 4 / 100 (ours 4, paper 100) over SDGD parallel: ours at d=4, paper at 100
    vs100 = dict(stde_samples_ours=4, stde_samples_paper=100)
    up = csv_cell(csv, "speedup", "sdgd-parallel-jax", 4, **vs100)
    assert up.ours == pytest.approx(rate[key("stde-jax", 4)] / rate[key("sdgd-parallel-jax", 4)])
    assert pd.isna(up.paper)
    up = csv_cell(csv, "speedup", "sdgd-parallel-jax", 100, **vs100)
    assert up.paper == pytest.approx(1035.09 / 1376.84) and pd.isna(up.ours)
    down = csv_cell(csv, "memory_reduction", "sdgd-parallel-jax", 4, **vs100)
    assert down.ours == pytest.approx(mem[key("sdgd-parallel-jax", 4)] / mem[key("stde-jax", 4)])
    down = csv_cell(csv, "memory_reduction", "sdgd-parallel-jax", 100000, **vs100)
    assert down.paper == pytest.approx(4931 / 1073)
    # STDE |J|=16 (paper only) over PyTorch SDGD at 100K: the paper's 1000x claim
    up = csv_cell(csv, "speedup", "sdgd-backward-torch", 100000, stde_samples_paper=16)
    assert up.paper == pytest.approx(283.33 / 0.23)
    # a baseline that ran out of memory where STDE did not
    oom = csv_cell(csv, "speedup", "sdgd-backward-jax", 100000, **vs100)
    assert oom.paper_status == "baseline OOM"
    assert csv_cell(csv, "speedup", "sdgd-parallel-jax", 200, **vs100).ours_status == (
        "baseline OOM"
    )
    # the Markdown shows both ratios, ours first
    section = md_section(md, "STDE (|J| 4 / 100) speed-up")
    ours = rate[key("stde-jax", 4)] / rate[key("sdgd-parallel-jax", 4)]
    cell = md_cell(section, "sdgd-parallel-jax", "d=4")
    assert cell == (f"{ours:.2f}× / –" if ours < 1 else f"{ours:.1f}× / –")
    assert md_cell(section, "sdgd-parallel-jax", "d=100") == f"– / {1035.09 / 1376.84:.2f}×"
    assert md_cell(section, "sdgd-parallel-jax", "d=200") == "baseline OOM / –"
    section = md_section(md, "STDE (|J| – / 16) speed-up")
    assert md_cell(section, "sdgd-backward-torch", "d=100K") == f"– / {283.33 / 0.23:.0f}×"


def test_best_method_per_column_is_marked(asv_results, table3):
    md, csv = table3
    rate = asv_values(asv_results, "bench_training.AllenCahnTwoBody.track_it_per_s")
    at4 = {m: v for (_, m, d), v in rate.items() if d == 4 and v is not None and math.isfinite(v)}
    best = max(at4, key=at4.get)
    flagged = csv[(csv.section == "it_per_s") & (csv.column == 4) & csv.best_ours]
    assert list(flagged.method) == [best]
    raw = md_section(md, "Speed")
    cell = raw[raw.method == best].iloc[0]["d=4"]
    assert cell.startswith("**")


def test_machine_block_on_every_report(asv_results, report):
    readme = (report / "README.md").read_text()
    table = (report / "tables" / "table3.md").read_text()
    tex = (report / "tables" / "table3.tex").read_text()
    for text in (readme, table):
        assert "| Machine (asv) | test-machine |" in text
        assert f"| JAX | {metadata.version('jax')} |" in text
        assert f"| jaxlib | {metadata.version('jaxlib')} |" in text
        assert "| Profile | tiny |" in text
        for field in ("| CPU |", "| GPU |", "| Memory (RAM) |", "| PyTorch |", "| CUDA |"):
            assert field in text
    commit = json.loads(results_file(asv_results).read_text())["commit_hash"]
    assert f"| Commit | {commit} (" in readme
    assert f"% JAX: {metadata.version('jax')}" in tex


def test_files_and_plots(report):
    tables = {p.name for p in (report / "tables").iterdir()}
    assert {"table3.md", "table3.tex", "table3.csv", "quality.md", "quality.csv"} <= tables
    plots = {p.name for p in (report / "plots").iterdir()}
    for stem in (
        "table3-speed",
        "table3-memory",
        "table3-error",
        "quality-variance",
        "history-AllenCahnTwoBody-step_s",
        "history-AllenCahnTwoBody-it_per_s",
    ):
        assert {f"{stem}.png", f"{stem}.pdf"} <= plots
    readme = (report / "README.md").read_text()
    for link in (
        "tables/table3.tex",
        "tables/table3.csv",
        "plots/table3-speed.png",
        "plots/quality-variance.png",
        "plots/history-AllenCahnTwoBody-step_s.png",
        "data.csv",
    ):
        assert f"({link})" in readme
    tex = (report / "tables" / "table3.tex").read_text()
    assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert r"\textit{1376.84}" in tex


def test_quality_table_is_the_asv_results(asv_results, report):
    data = json.loads(results_file(asv_results).read_text())
    row = dict(
        zip(
            data["result_columns"],
            data["results"]["bench_quality.EstimatorQuality.track_rel_std"],
            strict=False,
        )
    )
    csv = pd.read_csv(report / "tables" / "quality.csv")
    for combo, value in zip(itertools.product(*row["params"]), row["result"], strict=True):
        problem, method, dim, samples = (json.loads(c.replace("'", '"')) for c in combo)
        hit = csv[(csv.section == "rel_std") & (csv.method == method) & (csv.column == samples)]
        assert hit.ours.iloc[0] == pytest.approx(value, rel=1e-12)


def test_two_commits_give_a_history(results_copy, tmp_path):
    """A second results file (the same run relabelled as an older commit of this
    repository: a renderer test of the regression view, not a measurement)."""
    src = results_file(results_copy)
    data = json.loads(src.read_text())
    head = data["commit_hash"]
    parent = subprocess.run(
        ["git", "rev-parse", f"{head}~1"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    if not parent:
        pytest.skip("no parent commit")
    data["commit_hash"], data["date"] = parent, data["date"] - 3_600_000
    (src.parent / f"{parent[:8]}-{src.name.split('-', 1)[1]}").write_text(json.dumps(data))
    out = tmp_path / "out"
    render(results_copy, out=out)
    readme = (out / "README.md").read_text()
    assert f"Commits, oldest first: `{parent[:8]}`, `{head[:8]}`" in readme
    assert f"Commit `{head[:8]}`" in readme  # the newest is reported
    assert (out / "plots" / "history-AllenCahnTwoBody-step_s.png").exists()
    # --commit picks the older one
    render(results_copy, commit=parent[:7], out=tmp_path / "old")
    assert f"Commit `{parent[:8]}`" in (tmp_path / "old" / "README.md").read_text()


# --------------------------------------------------------------------------- the CLI
def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stde_bench.cli", "report", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_report(asv_results, tmp_path):
    proc = run_cli("--results", str(asv_results), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "README.md").exists()
    assert "Traceback" not in proc.stderr


def test_cli_default_out_is_reports_machine(asv_results, tmp_path):
    proc = run_cli("--results", str(asv_results), "--machine", MACHINE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "reports" / MACHINE / "README.md").exists()
    assert f"({MACHINE}/README.md)" in (tmp_path / "reports" / "README.md").read_text()


@pytest.mark.parametrize("make", ["missing", "empty", "machine-only"])
def test_empty_results_give_a_message_not_a_traceback(tmp_path, make):
    results = tmp_path / "results"
    if make != "missing":
        results.mkdir()
    if make == "machine-only":
        (results / MACHINE).mkdir()
        (results / MACHINE / "machine.json").write_text(
            json.dumps({"machine": MACHINE, "version": 1})
        )
    proc = run_cli("--results", str(results), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "no benchmark results in" in proc.stderr and "make bench" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_corrupted_file_is_named_and_skipped(results_copy, tmp_path, capsys):
    bad = results_copy / MACHINE / "0123abcd-existing-py.json"
    bad.write_text('{"results": {"bench_training.AllenCa')
    cells = next((results_copy / "cells").glob("*.jsonl"))
    cells.write_text(cells.read_text() + "{not a record\n")
    assert main(Namespace(results=results_copy, machine=None, commit=None, out=tmp_path)) == 0
    err = capsys.readouterr().err
    assert "0123abcd-existing-py.json: not readable JSON" in err
    assert f"{cells.name}:" in err and "bad cell record" in err
    readme = (tmp_path / "README.md").read_text()
    assert "0123abcd-existing-py.json: not readable JSON" in readme
    assert "0123abcd" not in pd.read_csv(tmp_path / "data.csv").commit8.unique()


def test_other_asv_version_is_named_and_skipped(results_copy, tmp_path, capsys):
    src = results_file(results_copy)
    data = json.loads(src.read_text())
    data["version"] = 3  # a future asv's results format
    data["commit_hash"] = "feedface" * 5
    (src.parent / f"feedface-{src.name.split('-', 1)[1]}").write_text(json.dumps(data))
    assert main(Namespace(results=results_copy, machine=None, commit=None, out=tmp_path)) == 0
    err = capsys.readouterr().err
    assert "feedface" in err and "api_version 3" in err and "skipped" in err
    assert "feedface" not in set(pd.read_csv(tmp_path / "data.csv").commit8)


def test_partial_results_give_a_partial_report(results_copy, tmp_path, capsys):
    """Only the estimator-quality benchmarks recorded (the training suite never ran)."""
    src = results_file(results_copy)
    data = json.loads(src.read_text())
    data["results"] = {k: v for k, v in data["results"].items() if "bench_quality" in k}
    src.write_text(json.dumps(data))
    shutil.rmtree(results_copy / "cells")
    assert main(Namespace(results=results_copy, machine=None, commit=None, out=tmp_path)) == 0
    readme = (tmp_path / "README.md").read_text()
    assert "Estimator quality" in readme and "Table 3" not in readme
    assert "| CPU | not recorded |" not in readme or "| Machine (asv) |" in readme


def test_unknown_machine_or_commit(asv_results, tmp_path):
    proc = run_cli("--results", str(asv_results), "--machine", "nope", "--out", str(tmp_path))
    assert proc.returncode == 1 and "machines with results: test-machine" in proc.stderr
    proc = run_cli("--results", str(asv_results), "--commit", "zzzz", "--out", str(tmp_path))
    assert proc.returncode == 1 and "matches no results" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_cell_records_are_reported(results_copy, tmp_path):
    """asv's results without the cell records beside them: tables still render, and the
    report says what is unknown."""
    shutil.rmtree(results_copy / "cells")
    render(results_copy, out=tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert "No cell records for AllenCahnTwoBody" in readme
    csv = pd.read_csv(tmp_path / "tables" / "table3.csv")
    oom = csv[
        (csv.section == "it_per_s")
        & (csv.method == "sdgd-parallel-jax")
        & (csv.column.astype(str) == "200")
    ]
    assert oom.ours_status.tolist() == ["oom"]  # from asv's track_status alone
