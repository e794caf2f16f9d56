"""The command line: list, run (JSON record), errors, sweep resume and OOM recording."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import estimators
import problems
from stde_bench import plan as plan_mod
from stde_bench import sweep as sweep_mod
from stde_bench.cli import main
from stde_bench.config import TrainConfig
from stde_bench.records import RecordStore, read_record
from stde_bench.sweep import Cell, sweep


def test_list_prints_every_registered_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in problems.names() + estimators.names():
        assert name in out


def test_run_writes_a_record(tmp_path, capsys):
    path = tmp_path / "cell.json"
    code = main([
        "run", "--problem", "poisson-two-body", "--estimator", "sdgd-parallel-jax", "--dim", "5",
        "--steps", "4", "--eval-every", "2", "--n-test", "32", "--samples", "2",
        "--n-residual", "4", "--width", "8", "--json", str(path),
    ])  # fmt: skip
    assert code == 0
    record = read_record(path)
    assert record.status == "ok" and record.config["samples"] == 2
    assert "it/s" in capsys.readouterr().out


def test_unknown_names_are_clear_errors(capsys):
    code = main(["run", "--problem", "allen-cahn", "--estimator", "stde-jax", "--dim", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown problem 'allen-cahn'" in err and "allen-cahn-two-body" in err
    assert "Traceback" not in err


def test_cli_entry_point_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "stde_bench.cli", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert "stde-jax" in out


def test_sweep_resumes_and_records_failures(tmp_path, monkeypatch):
    config = TrainConfig(steps=2, eval_every=1, n_test=8, samples=2, n_residual=4, width=8)
    cells = [Cell("poisson-two-body", e, 4, config) for e in ("stde-jax", "hte-jax")]
    calls = []

    real_popen = subprocess.Popen

    class KilledCell:  # a cell killed by the kernel's OOM killer
        returncode = -9

        def __new__(cls, cmd, **kwargs):
            if "stde_bench.cli" not in cmd:
                return real_popen(cmd, **kwargs)  # git / nvidia-smi for the machine block
            calls.append(cmd)
            return super().__new__(cls)

        def __init__(self, cmd, **kwargs):
            pass

        def poll(self):
            return self.returncode

        def wait(self, timeout=None):
            return self.returncode

    monkeypatch.setattr(sweep_mod.subprocess, "Popen", KilledCell)
    path = tmp_path / "records.jsonl"
    store = sweep(cells[:1], RecordStore(path), progress=False)
    assert [r.status for r in store.records.values()] == ["oom"]
    # resume: the recorded cell is not redone, the new one is
    store = sweep(cells, RecordStore(path), progress=False)
    assert len(calls) == 2 and len(store.records) == 2
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert {r["estimator"] for r in lines} == {"stde-jax", "hte-jax"}


@pytest.mark.parametrize("ahead", [0, 1])
@pytest.mark.slow  # a subprocess sweep
def test_sweep_real_cell_in_fresh_process(tmp_path, ahead):
    config = TrainConfig(steps=2, eval_every=1, n_test=8, samples=2, n_residual=4, width=8)
    cells = [
        Cell("poisson-two-body", "stde-jax", 4, config),
        Cell("poisson-two-body", "exact-jax", 400, config, skip_reason="too large"),
        Cell("poisson-two-body", "stde-jax", 4, config.replace(seed=1)),
    ]
    store = sweep(cells, RecordStore(tmp_path / "r.jsonl"), progress=False, ahead=ahead)
    statuses = [r.status for r in store.records.values()]
    assert statuses == ["ok", "skipped", "ok"]  # recorded in the grid's order


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow  # a process that waits, then trains
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_cell_started_ahead_waits_for_its_turn_and_times_only_its_turn(tmp_path):
    from stde_bench.sweep import finish_cell, start_cell

    config = TrainConfig(steps=2, eval_every=1, n_test=8, samples=2, n_residual=4, width=8)
    cell = Cell("poisson-two-body", "stde-jax", 4, config)
    started = start_cell(cell, ahead=True)
    record_file = Path(started.tmp.name) / "record.json"
    # imports done, the process blocks on its turn: its CPU time stops growing
    before, waited = -1.0, time.monotonic()
    while (now := _cpu_seconds(started.proc.pid)) != before:
        assert time.monotonic() - waited < 120, "the cell never blocked"
        before = now
        time.sleep(2.0)
    time.sleep(3.0)  # as long again as the cell itself takes here: it still waits
    assert started.proc.poll() is None and not record_file.exists()
    turn = time.monotonic()
    record = finish_cell(started)  # gives the turn first
    assert record.status == "ok", record.reason
    # its clock starts at its turn: had it started at launch, its duration would include
    # the wait above, longer than everything since the turn was given
    assert record.duration_s < time.monotonic() - turn


def test_a_cell_whose_sweep_ends_before_its_turn_exits_without_running():
    from stde_bench.sweep import start_cell

    config = TrainConfig(steps=2, eval_every=1, n_test=8, samples=2, n_residual=4, width=8)
    started = start_cell(Cell("poisson-two-body", "stde-jax", 4, config), ahead=True)
    started.proc.communicate(input="", timeout=120)  # stdin closed, no "go"
    err = (Path(started.tmp.name) / "stderr").read_text()
    assert started.proc.returncode != 0 and "before this cell's turn" in err
    assert not (Path(started.tmp.name) / "record.json").exists()
    started.tmp.cleanup()


def test_overlapped_plan_counts_a_process_start_once_per_grid(tmp_path):
    from stde_bench.plan import START_S, plan
    from stde_bench.sweep import overlaps

    assert overlaps("gpu", cores=16) and not overlaps("gpu", cores=2)
    assert not overlaps("cpu", cores=64)  # start-up would share the cores timing a cell
    config = TrainConfig(steps=10, eval_every=10, n_test=10, samples=2, width=8)
    cells = [
        Cell("poisson-two-body", "stde-jax", 4, config.replace(seed=s), grid=g)
        for g in ("A", "B")
        for s in (0, 1, 2)
    ]
    store = RecordStore(tmp_path / "r.jsonl")
    alone = [p.eta_s for p in plan(cells, store, [], "gpu")]
    together = [p.eta_s for p in plan(cells, store, [], "gpu", overlap=True)]
    assert sum(alone) - sum(together) == pytest.approx(4 * START_S["gpu"])
    assert together[0] == alone[0] and together[3] == alone[3]  # each grid's first


def test_plan_warns_of_an_error_cell_that_would_reach_its_budget(tmp_path):
    from stde_bench.plan import format_plan, plan
    from stde_bench.profiles import get_profile
    from stde_bench.records import CellRecord

    config = TrainConfig(steps=1000, eval_every=500, n_test=10, samples=4, width=8)
    slow = CellRecord(
        "poisson-two-body", "stde-jax", 10, config.asdict(), "ok",
        it_per_s=1.0, it_per_s_overall=1.0, steps_done=1000, duration_s=1000.0,
    )  # fmt: skip
    store = RecordStore(tmp_path / "r.jsonl")
    profile = get_profile("repro-cpu")
    for budget, warned in ((60.0, True), (2000.0, False)):
        cell = Cell("poisson-two-body", "stde-jax", 10, config.replace(budget_s=budget), grid="G")
        planned = plan([cell], store, [slow])
        assert planned[0].eta_s == pytest.approx(min(budget, 1000.0) + 3.0, abs=0.1)
        text = format_plan(planned, profile)
        assert ("1 error cells reach their budget" in text) == warned
        assert ("1 min budget: timeout" in text) == warned


def test_dry_run_prints_every_cell_and_an_eta(tmp_path, capsys):
    from stde_bench.profiles import get_profile
    from stde_bench.sweep import grid_cells

    profile = get_profile("repro-cpu")
    out = tmp_path / "r.jsonl"
    assert main(["sweep", "--profile", "repro-cpu", "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    cells = [c for g in profile.grids for c in grid_cells(g, profile)]
    assert sum(line.startswith("  [") for line in text.splitlines()) == len(cells)
    assert f"{len(cells)} cells" in text and "ETA" in text and " h (" in text
    assert not out.exists()  # a plan runs nothing and writes nothing


def test_a_paired_floor_grids_cells_ask_for_it_and_plan_the_floors_steps(monkeypatch):
    from stde_bench.plan import estimate_seconds
    from stde_bench.profiles import Grid
    from stde_bench.sweep import grid_cells, start_cell

    config = TrainConfig(steps=12, eval_every=12, n_test=1, measure="speed", restrict=True)
    grid = Grid("G", ("allen-cahn-two-body",), ("stde-jax",), (1000,), config, paired_floor=True)
    (cell,) = grid_cells(grid)
    assert cell.paired_floor and cell.key == Cell(*cell_fields(cell)).key  # not in the key
    alone = estimate_seconds(Cell(*cell_fields(cell)), [])[0]
    floor = Cell(cell.problem, "primal-jax", 1000, config.replace(restrict=False))
    start = plan_mod.START_S["cpu"]
    assert estimate_seconds(cell, [])[0] == pytest.approx(
        alone + estimate_seconds(floor, [])[0] - start
    )
    commands, popen = [], subprocess.Popen
    cli = lambda cmd, **kw: commands.append(cmd) if "stde_bench.cli" in cmd else popen(cmd, **kw)
    monkeypatch.setattr(subprocess, "Popen", cli)  # git (the code version) still runs
    start_cell(cell), start_cell(Cell(*cell_fields(cell)))
    assert commands[0][-1] == "--paired-floor" and "--paired-floor" not in commands[1]


def cell_fields(cell: Cell) -> tuple:
    return cell.problem, cell.estimator, cell.dim, cell.config


def test_eta_comes_from_this_machines_records_when_it_has_them():
    from stde_bench.plan import estimate_seconds
    from stde_bench.records import CellRecord

    config = TrainConfig(steps=1000, eval_every=500, n_test=100, samples=4, width=8)
    cell = Cell("poisson-two-body", "stde-jax", 10, config)
    modelled, source = estimate_seconds(cell, [])
    assert source == "cost model" and modelled > 0
    earlier = CellRecord(
        "poisson-two-body", "stde-jax", 10, config.replace(steps=200).asdict(), "ok",
        it_per_s=100.0, it_per_s_overall=50.0, compile_s=1.5, steps_done=200,
        error_history=[[100, 0.1], [200, 0.1]], duration_s=2.0 + 200 / 50.0,
    )  # fmt: skip
    seconds, source = estimate_seconds(cell, [earlier])
    assert source == "records of this machine"
    # 2 s outside the loop (compile, set-up: duration - loop) + 1000 steps at 100 it/s
    # + 2 evaluations of 1 s each (+3 s start-up of a CPU process, 6.5 s of a GPU one)
    assert seconds == pytest.approx(2 + 10 + 2 + 3)
    assert estimate_seconds(cell, [earlier], device="gpu")[0] == pytest.approx(2 + 10 + 2 + 6.5)
    # a record without its duration: its compile time stands for what is outside the loop
    seconds, _ = estimate_seconds(cell, [earlier.replace(duration_s=None)])
    assert seconds == pytest.approx(1.5 + 10 + 2 + 3)


def test_eta_of_an_error_cell_from_a_speed_record_takes_the_modelled_evaluation():
    """A speed record evaluated nothing: the gap between its overall and median it/s is
    timing noise, not evaluation, and must not be scaled by the error cell's test points."""
    from stde_bench.plan import PER_ELEMENT_S, estimate_seconds
    from stde_bench.records import CellRecord

    config = TrainConfig(steps=1000, eval_every=500, n_test=20_000, samples=4, width=8)
    cell = Cell("poisson-two-body", "stde-jax", 100, config)
    speed = CellRecord(
        "poisson-two-body", "stde-jax", 100,
        config.replace(steps=200, n_test=1, measure="speed").asdict(), "ok",
        it_per_s=100.0, it_per_s_overall=99.0, steps_done=200, duration_s=4.0 + 200 / 99.0,
    )  # fmt: skip
    seconds, source = estimate_seconds(cell, [speed])
    assert source == "records of this machine"
    assert seconds == pytest.approx(4 + 10 + 2 * PER_ELEMENT_S * 20_000 * 100 + 3)


def test_eta_takes_a_sibling_problems_records_when_the_cell_has_none():
    from stde_bench.plan import PER_ELEMENT_S, estimate_seconds
    from stde_bench.records import CellRecord

    config = TrainConfig(steps=1000, eval_every=500, n_test=100, samples=4, width=8)
    cell = Cell("sine-gordon-two-body-gpinn", "stde-jax", 10, config)
    sibling = CellRecord(
        "allen-cahn-two-body-gpinn", "stde-jax", 10, config.asdict(), "ok",
        it_per_s=10.0, it_per_s_overall=10.0, steps_done=1000, duration_s=102.0,
    )  # fmt: skip
    evals = 2 * PER_ELEMENT_S * 100 * 10  # the records evaluated nothing: modelled
    seconds, source = estimate_seconds(cell, [sibling])
    assert source == "records of this machine (sibling allen-cahn-two-body-gpinn)"
    assert seconds == pytest.approx(2 + 100 + evals + 3)
    # another operator (laplacian, not laplacian-gradient) is not a sibling
    other = sibling.replace(problem="allen-cahn-two-body")
    assert estimate_seconds(cell, [other])[1] == "cost model"
    # the cell's own problem wins over a sibling
    own = sibling.replace(problem=cell.problem, it_per_s=20.0, it_per_s_overall=20.0)
    own = own.replace(duration_s=52.0)
    assert estimate_seconds(cell, [sibling, own])[0] == pytest.approx(2 + 50 + evals + 3)


def test_cost_model_predicts_the_committed_records_within_2x():
    """The stated CPU cost model (``stde_bench.plan.PER_ELEMENT_S``) against the committed
    repro-cpu records it was fitted to and all the others of those grids, 10^2 to 10^6:
    per cell (grid, method, d, restriction), the median over its records (every sweep,
    idle or sharing the two cores) of predicted ÷ measured seconds per step is within 2×."""
    import statistics

    from stde_bench.plan import _model_step_s
    from stde_bench.records import read_records

    path = Path(__file__).parents[2] / "results/cells/cpu-epyc-2core-repro-cpu.jsonl"
    grids = ("HighDimJ16", "HighDimRestrictedJ16", "InseparableErrorJ16")
    ratios: dict[tuple, list[float]] = {}
    for r in read_records(path)[0]:
        if r.grid in grids and r.status == "ok" and r.estimator.endswith("-jax"):
            cell = Cell(r.problem, r.estimator, r.dim, TrainConfig(**r.config))
            key = (r.grid, r.estimator, r.dim, r.config.get("restrict"))
            ratios.setdefault(key, []).append(_model_step_s(cell) * r.it_per_s)
    assert len(ratios) >= 10
    for key, values in ratios.items():
        assert 0.5 < statistics.median(values) < 2, (key, values)


def test_redo_other_code_plans_again_the_cells_of_another_code_version(tmp_path):
    from stde_bench.plan import plan
    from stde_bench.records import CellRecord

    config = TrainConfig(steps=10, eval_every=10, n_test=10, samples=2, width=8)
    cell = Cell("poisson-two-body", "stde-jax", 4, config)
    store = RecordStore(tmp_path / "r.jsonl")
    record = CellRecord(cell.problem, cell.estimator, cell.dim, config.asdict(), "ok")
    store.put(record.replace(code_version="0ldc0de0"))
    assert plan([cell], store, [])[0].done
    assert plan([cell], store, [], code="0ldc0de0")[0].done
    assert not plan([cell], store, [], code="newc0de1")[0].done


def test_sweep_runs_only_the_chosen_estimators_and_problems(tmp_path, capsys):
    out = str(tmp_path / "r.jsonl")
    base = ["sweep", "--profile", "repro-cpu", "--grid", "GradientEnhancedError", "--out", out]
    assert main([*base, "--estimator", "jvp-hvp-jax", "--dry-run"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  [")]
    assert len(rows) == 4 and all("jvp-hvp-jax" in r for r in rows)  # 2 problems x 2 seeds
    problem = ["--problem", "sine-gordon-two-body-gpinn"]
    assert main([*base, "--estimator", "jvp-hvp-jax", *problem, "--dry-run"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  [")]
    assert len(rows) == 2 and all("sine-gordon" in r for r in rows)
    with pytest.raises(SystemExit, match="no cell of the chosen grids has estimator stde-torch"):
        main([*base, "--estimator", "stde-torch", "--dry-run"])


@pytest.mark.slow  # a subprocess sweep
def test_a_running_cell_reports_its_steps_and_rate_to_the_sweep(tmp_path, monkeypatch):
    from stde_bench.sweep import finish_cell, start_cell

    monkeypatch.setattr(sweep_mod, "POLL_S", 0.05)
    config = TrainConfig(steps=400, eval_every=400, n_test=8, samples=2, n_residual=4, width=8)
    lines: list[str] = []
    started = start_cell(Cell("poisson-two-body", "stde-jax", 4, config))
    record = finish_cell(started, on_progress=lines.append)
    assert record.status == "ok", record.reason
    assert lines, "no progress seen while the cell ran"
    done, total = lines[-1].split(" steps")[0].split("/")
    assert total == "400" and 1 <= int(done) <= 400
    assert " it/s, " in lines[-1] and lines[-1].endswith(" min left")


def test_every_flag_of_every_command_has_a_help_string():
    import argparse

    from stde_bench.cli import parser

    (commands,) = parser()._subparsers._group_actions
    missing = [
        f"{name} {' '.join(action.option_strings) or action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert not missing, f"flags without help: {missing}"


def test_a_sweep_warns_where_the_machine_names_records_ran_on_other_hardware(tmp_path, capsys):
    from types import SimpleNamespace

    from stde_bench.plan import other_hardware

    epyc, xeon = {"cpu": "AMD EPYC", "gpu": None}, {"cpu": "Intel Xeon", "gpu": None}
    history = [SimpleNamespace(key=k, machine=epyc) for k in "abca"]  # a: recorded twice
    history.append(SimpleNamespace(key="d", machine={}))
    assert other_hardware(history, epyc) is None
    warning = other_hardware(history, xeon)
    assert "this host's CPU is Intel Xeon" in warning and "AMD EPYC (3 cells)" in warning
    gpu = other_hardware([SimpleNamespace(key="a", machine=epyc | {"gpu": "H100"})], epyc)
    assert "this host's GPU is None" in gpu and "H100 (1 cells)" in gpu

    # the CLI prints it before its plan, from the machine's records under results/cells
    from stde_bench.records import CellRecord

    config = TrainConfig(steps=4).asdict()
    other = CellRecord(
        problem="allen-cahn-two-body",
        estimator="stde-jax",
        dim=4,
        config=config,
        status="ok",
        code_version="aaaa1111",
        machine={"cpu": "another CPU", "gpu": None},
    )
    (tmp_path / "results" / "cells").mkdir(parents=True)
    RecordStore(tmp_path / "results" / "cells" / "m-tiny.jsonl").put(other)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        assert main(["sweep", "--profile", "tiny", "--machine", "m", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "stde-bench sweep: machine m: this host's CPU is" in err and "another CPU" in err
