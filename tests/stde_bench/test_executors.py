"""Executors (``stde_bench.executors``): the Slurm job array as submitted (a fake ``sbatch``
on PATH), a tiny sweep end to end through submitit's local executor, a task interrupted
mid-cell that is requeued and resumes from its checkpoint, the ``gpus`` executor's
lanes (a fake cell start), task records in the store's merged view and ``records merge``,
and asv reporting a swept cell from its record instead of running it again."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from stde_bench import executors, sweep
from stde_bench.checkpoint import Checkpoint
from stde_bench.cli import main
from stde_bench.config import TrainConfig
from stde_bench.executors import CellTask, Gpus, SlurmArray, time_limit_min
from stde_bench.plan import START_S, plan, wall_s
from stde_bench.profiles import TINY
from stde_bench.records import (
    CellRecord,
    RecordStore,
    read_records,
    task_record_path,
    write_json_atomic,
)

MACHINE = "test-machine"
#: the tiny profile's cells and the ones it skips (exact-jax at d = 200)
TINY_CELLS = sweep.grid_cells(TINY.grids[0], TINY)
TINY_RUN = [c for c in TINY_CELLS if not c.skip_reason]


def fake_slurm(bin_dir: Path) -> Path:
    """``srun`` (submitit's test for a Slurm cluster), ``sbatch`` (copies the script it is
    given to ``submitted-<n>.sh``, logs its arguments, prints a job id), and ``sacct``,
    ``squeue``, ``scancel``, ``scontrol`` that log their arguments."""
    bin_dir.mkdir()
    log = bin_dir / "calls.log"
    scripts = {
        "sbatch": f"n=$(ls {bin_dir}/submitted-*.sh 2>/dev/null | wc -l)\n"
        f'cp "$1" {bin_dir}/submitted-$n.sh\necho "Submitted batch job $((1234 + n))"\n',
        "sacct": "",
        "squeue": "",
        "scancel": "",
        "scontrol": "",
        "srun": "",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{body}')
        path.chmod(0o755)
    return log


def sbatch_flags(script: Path) -> dict[str, str]:
    lines = [
        line.split(" ", 1)[1]
        for line in script.read_text().splitlines()
        if line.startswith("#SBATCH")
    ]
    return dict(line.removeprefix("--").split("=", 1) for line in lines if "=" in line)


def test_the_slurm_array_has_one_task_per_cell_with_the_configured_resources(tmp_path, monkeypatch):
    log = fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "slurm.yaml"
    config.write_text(
        f"partition: gpu\naccount: myproject\ngres: gpu:1\ncpus_per_task: 8\n"
        f"array_parallelism: 16\nfolder: {tmp_path / 'submitit'}\n"
    )
    out = tmp_path / "records.jsonl"
    code = main(
        ["sweep", "--profile", "tiny", "--machine", MACHINE, "--out", str(out), "--quiet",
         "--executor", "slurm", "--executor-config", str(config),
         "--slurm-array-parallelism", "3", "--checkpoint-dir", str(tmp_path / "ckpt")]
    )  # fmt: skip
    assert code == 0
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["sbatch"]  # one array
    flags = sbatch_flags(tmp_path / "bin" / "submitted-0.sh")
    n = len(TINY_RUN)  # one task per cell to run; the skipped ones are recorded, not submitted
    assert flags["array"] == f"0-{n - 1}%3"  # the flag overrides the file's 16
    assert (flags["gres"], flags["partition"], flags["account"]) == ("gpu:1", "gpu", "myproject")
    assert flags["cpus-per-task"] == "8"
    # the cell's budget (300 s) + the sweep's grace (300 s) + the task's margin (180 s)
    assert flags["time"] == str(time_limit_min(TINY_RUN[0], None)) == "13"

    from submitit.core.utils import DelayedSubmission

    pickles = sorted((tmp_path / "submitit").rglob("*_submitted.pkl"))
    submitted = [DelayedSubmission.load(p) for p in pickles]
    assert sorted(d.args[0].key for d in submitted) == sorted(c.key for c in TINY_RUN)
    for delayed in submitted:
        task, cell = delayed.function, delayed.args[0]
        assert isinstance(task, CellTask) and task.records == out.resolve()
        assert task.asv_machine == MACHINE
        assert cell.config.checkpoint_every == executors.SLURM_CHECKPOINT_EVERY  # requeue resumes
        assert cell.checkpoint_dir == (tmp_path / "ckpt").resolve()
    store = RecordStore(out)
    assert sorted(r.status for r in store.records.values()) == ["skipped", "skipped"]


def test_a_cell_without_budget_needs_a_time_limit():
    cell = dataclasses.replace(TINY_RUN[0], config=TINY_RUN[0].config.replace(budget_s=None))
    with pytest.raises(ValueError, match="set timeout_min in --executor-config"):
        time_limit_min(cell, None)
    assert time_limit_min(cell, None, fallback=90) == 90
    assert time_limit_min(cell, 600.0) == 13  # the sweep's --timeout: 600 s + 180 s


def test_bad_executor_configs_are_named(tmp_path):
    with pytest.raises(ValueError, match="the gpus executor does not take partition"):
        executors.make_executor("gpus", {"gpus": [0], "partition": "x"})
    with pytest.raises(ValueError, match="submitit refused"):
        SlurmArray.from_config({"cluster": "local", "partitoin": "x"}).engine()
    (tmp_path / "list.yaml").write_text("- 0\n- 1\n")
    with pytest.raises(ValueError, match="a YAML mapping"):
        executors.read_config(tmp_path / "list.yaml")


def test_the_checkpoint_hook_submits_the_same_cell_again(tmp_path):
    task = CellTask(tmp_path / "records.jsonl", MACHINE)
    again = task.checkpoint(TINY_RUN[0])
    assert again.function is task and again.args == (TINY_RUN[0],)


@pytest.mark.slow
def test_a_tiny_sweep_runs_end_to_end_through_submitits_local_executor(tmp_path):
    """The stde-jax cells of the tiny profile (4: d = 4 and 200, two seeds), two tasks at a
    time; each task writes its record file, the store sees them, merge folds them in."""
    config = tmp_path / "local.yaml"
    config.write_text(f"cluster: local\narray_parallelism: 2\nfolder: {tmp_path / 'submitit'}\n")
    out = tmp_path / "records.jsonl"
    code = main(
        ["sweep", "--profile", "tiny", "--machine", MACHINE, "--out", str(out), "--quiet",
         "--estimator", "stde-jax", "--executor", "slurm", "--executor-config", str(config),
         "--checkpoint-dir", str(tmp_path / "ckpt")]
    )  # fmt: skip
    assert code == 0
    cells = [c for c in TINY_CELLS if c.estimator == "stde-jax"]
    assert len(cells) == 4
    files = sorted(task_record_path(out, c.key) for c in cells)
    assert all(f.exists() for f in files), [str(p) for p in tmp_path.rglob("*.err")]
    assert read_records(out)[0] == []  # nothing in the records file yet: task files only
    store = RecordStore(out)
    assert {k: r.status for k, r in store.records.items()} == {c.key: "ok" for c in cells}
    assert all(r.asv_machine == MACHINE and r.profile == "tiny" for r in store.records.values())
    assert not any((tmp_path / "ckpt").glob("*.ckpt"))  # ok cells: checkpoints removed

    assert main(["records", "merge", "--out", str(out)]) == 0
    assert not task_record_path(out, "").parent.exists()
    assert sorted(r.key for r in read_records(out)[0]) == sorted(c.key for c in cells)
    assert RecordStore(out).records.keys() == store.records.keys()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the task in /proc")
def test_a_task_interrupted_mid_cell_is_requeued_and_resumes_from_its_checkpoint(tmp_path):
    """submitit's signal (SIGUSR2: preemption, or the time limit coming) reaches the task
    once the cell has a checkpoint; the checkpoint hook requeues the task (submitit's local
    executor runs it again) and the cell resumes from the checkpoint.  The cell's process
    is frozen (SIGSTOP) before the signal, so the test knows the step it resumes from."""
    import submitit

    config = TrainConfig(
        steps=2000, eval_every=2000, n_test=1, samples=4, n_residual=8, width=16,
        measure="speed", budget_s=600.0, checkpoint_every=50,
    )  # fmt: skip
    cell = sweep.Cell("allen-cahn-two-body", "stde-jax", 4, config, checkpoint_dir=tmp_path)
    records = tmp_path / "records.jsonl"
    engine = submitit.LocalExecutor(tmp_path / "submitit")
    engine.update_parameters(timeout_min=time_limit_min(cell, None))
    job = engine.submit(CellTask(records, MACHINE), cell)
    checkpoint = Checkpoint(tmp_path, cell.key, "jax")
    deadline = time.monotonic() + 300
    while not checkpoint.path.exists():
        assert time.monotonic() < deadline and job.state == "RUNNING", job.stderr()
        time.sleep(0.02)
    (task,) = _children(job._process.pid)  # the controller's one task
    (cell_process,) = _children(task)
    os.kill(cell_process, signal.SIGSTOP)
    saved = checkpoint.read()[1].steps_done
    assert 50 <= saved < config.steps
    os.kill(task, signal.SIGUSR2)
    assert job.result() == f"{cell.key}: ok"
    record = RecordStore(records).records[cell.key]
    assert record.resumed == 1 and record.steps_done == config.steps
    first, second = record.segments
    assert first["pid"] == cell_process != second["pid"]
    assert second["first_step"] == saved and second["checkpoint_every"] == 50
    assert "Requeued job" in job.stdout() + job.stderr()
    assert not checkpoint.path.exists()  # ok and recorded: removed


# --- the gpus executor ---------------------------------------------------------------


class FakeProcess:
    def kill(self):
        pass

    def wait(self):
        return 0


def fake_lanes(monkeypatch, seconds: float = 0.02):
    """Replace the cell process with a fake: ``start_cell`` notes the cell's env,
    ``finish_cell`` holds the cell's GPU ``seconds``; returns what they saw."""
    lock = threading.Lock()
    seen = {"started": [], "running": {}, "most": 0, "most_started": 0, "live": 0}

    def start_cell(cell, asv_machine=None, ahead=False, env=None, provenance=None):
        with lock:
            seen["started"].append((cell.key, dict(env or {}), ahead))
            seen["live"] += 1
            seen["most_started"] = max(seen["most_started"], seen["live"])
        base = CellRecord(cell.problem, cell.estimator, cell.dim, cell.config.asdict(), "ok")
        return sweep.Started(cell, base, {}, proc=FakeProcess())

    def finish_cell(started, timeout=None, on_progress=None):
        gpu = next(env for key, env, _ in seen["started"] if key == started.cell.key)
        gpu = gpu["CUDA_VISIBLE_DEVICES"]
        with lock:
            assert gpu not in seen["running"], f"two cells at once on GPU {gpu}"
            seen["running"][gpu] = started.cell.key
            seen["most"] = max(seen["most"], len(seen["running"]))
        time.sleep(seconds)
        with lock:
            del seen["running"][gpu]
            seen["live"] -= 1
        return started.base

    monkeypatch.setattr(executors, "start_cell", start_cell)
    monkeypatch.setattr(executors, "finish_cell", finish_cell)
    return seen


def fake_cells(n: int, tmp_path: Path) -> list[sweep.Cell]:
    return [
        sweep.Cell(
            "allen-cahn-two-body", "stde-jax", 4, TrainConfig(seed=s), checkpoint_dir=tmp_path
        )
        for s in range(n)
    ]


@pytest.mark.parametrize("ahead", [0, 1])
def test_the_gpus_executor_runs_n_cells_at_once_each_pinned_to_its_gpu(
    tmp_path, monkeypatch, ahead
):
    seen = fake_lanes(monkeypatch)
    cells = fake_cells(9, tmp_path)
    store = RecordStore(tmp_path / "records.jsonl")
    gpus = executors.make_executor("gpus", {"gpus": [3, 5, 6]})
    gpus.run(cells, store, progress=False, ahead=ahead)
    assert seen["most"] == 3  # N at once: as many as GPUs, never more (checked per GPU)
    assert seen["most_started"] <= 3 * (1 + ahead)  # the rest queued, not started
    assert sorted(k for k, _, _ in seen["started"]) == sorted(c.key for c in cells)
    assert {env["CUDA_VISIBLE_DEVICES"] for _, env, _ in seen["started"]} == {"3", "5", "6"}
    assert all(started_ahead == (ahead > 0) for _, _, started_ahead in seen["started"])
    assert sorted(store.records) == sorted(c.key for c in cells)  # all recorded
    assert len(read_records(store.path)[0]) == 9  # each once

    seen["started"].clear()
    gpus.run(cells, store, progress=False, ahead=ahead)  # resumed: all done
    assert seen["started"] == []


def test_the_gpus_come_from_the_config_else_cuda_visible_devices_else_nvidia_smi(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,7")
    assert Gpus.from_config({}).gpus == ["2", "7"]
    assert Gpus.from_config({"gpus": [0, 1, 2]}).gpus == ["0", "1", "2"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: a)'\necho 'GPU 1: NVIDIA H100 (UUID: b)'\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert Gpus.from_config({}).gpus == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match="found no GPU"):
        Gpus.from_config({})


def test_the_eta_counts_the_parallelism_and_the_start_up_per_gpu(tmp_path):
    cells = fake_cells(5, tmp_path)
    store = RecordStore(tmp_path / "records.jsonl")
    one = plan(cells, store, [], "gpu", overlap=True)
    three = plan(cells, store, [], "gpu", overlap=True, slots=3)
    start = START_S["gpu"]
    assert [p.eta_s for p in three][:3] == [p.eta_s for p in one][:1] * 3  # each GPU's first
    assert [p.eta_s for p in three][3:] == [p.eta_s for p in one][3:]
    each = three[0].eta_s
    assert wall_s(three, 3) == pytest.approx(each + (each - start))  # 3 + 2 cells
    assert wall_s(one, 1) == pytest.approx(sum(p.eta_s for p in one))


def test_the_dry_run_prints_the_parallel_eta(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.yaml").write_text("gpus: [0, 1, 2]\n")
    assert main(["sweep", "--profile", "tiny", "--machine", MACHINE, "--dry-run"]) == 0
    alone = capsys.readouterr().out
    argv = ["--executor", "gpus", "--executor-config", "g.yaml"]
    assert main(["sweep", "--profile", "tiny", "--machine", MACHINE, "--dry-run", *argv]) == 0
    together = capsys.readouterr().out
    assert "with 3 cells at once" in together and "at once" not in alone


# --- task records ------------------------------------------------------------------------


def record(seed: int, status: str = "ok", code: str = "abc12345") -> CellRecord:
    config = TrainConfig(seed=seed).asdict()
    return CellRecord("allen-cahn-two-body", "stde-jax", 4, config, status, code_version=code)


def test_the_store_reads_task_records_over_its_lines_and_merge_folds_them_in(tmp_path, capsys):
    path = tmp_path / "records.jsonl"
    store = RecordStore(path)
    store.put(record(0, "error"))
    store.put(record(1))
    write_json_atomic(task_record_path(path, record(0).key), record(0))  # newer: a task's
    write_json_atomic(task_record_path(path, record(2).key), record(2, "timeout"))
    store.refresh()
    assert {r.config["seed"]: r.status for r in store.records.values()} == {
        0: "ok", 1: "ok", 2: "timeout"
    }  # fmt: skip
    assert store.finished(record(0).key)

    store.put(record(2))  # a line newer than the task's file: the file goes
    assert not task_record_path(path, record(2).key).exists()
    assert RecordStore(path).records[record(2).key].status == "ok"

    assert main(["records", "merge", "--out", str(path)]) == 0
    assert "1 task records merged; 3 cells" in capsys.readouterr().out
    assert not task_record_path(path, "").parent.exists()
    merged = RecordStore(path)
    assert {r.config["seed"]: r.status for r in merged.records.values()} == {
        0: "ok",
        1: "ok",
        2: "ok",
    }
    assert len(read_records(path)[0]) == 4  # three lines of put, one of merge


def test_a_bad_task_record_is_named_and_left(tmp_path):
    path = tmp_path / "records.jsonl"
    bad = task_record_path(path, "broken")
    bad.parent.mkdir()
    bad.write_text("{not json")
    with pytest.warns(UserWarning, match="task record skipped"):
        store = RecordStore(path)
    assert len(store) == 0
    assert store.merge() == 0 and bad.exists()


def test_a_task_skips_a_cell_recorded_before(tmp_path, monkeypatch):
    monkeypatch.setattr(executors, "start_cell", lambda *a, **k: pytest.fail("cell started"))
    path = tmp_path / "records.jsonl"
    cell = fake_cells(1, tmp_path)[0]
    write_json_atomic(task_record_path(path, cell.key), record(0))
    assert cell.key == record(0).key
    assert CellTask(path)(cell) == f"{cell.key}: recorded before"


# --- asv ---------------------------------------------------------------------------------


def test_asv_reports_the_cells_a_sweep_recorded_without_running_them(tmp_path, monkeypatch):
    """``run_grid`` of the tiny profile finds every cell in the machine's sweep records
    (half in the records file, half in task record files) and starts no cell process;
    a record of another code version does not count: that cell runs."""
    import benchmarks.common as common

    commit = "0123456789abcdef"
    monkeypatch.setattr(common, "PROFILE", TINY)
    monkeypatch.setenv("ASV_CONF_DIR", str(tmp_path))
    monkeypatch.setenv("ASV_COMMIT", commit)
    monkeypatch.setenv("STDE_BENCH_MACHINE", MACHINE)
    path = tmp_path / "results" / "cells" / f"{MACHINE}-tiny.jsonl"
    assert common.sweep_records_path() == path
    store = RecordStore(path)
    grid = TINY.grids[0]
    for number, cell in enumerate(TINY_CELLS):
        status = "skipped" if cell.skip_reason else "ok"
        swept = CellRecord(
            cell.problem, cell.estimator, cell.dim, cell.config.asdict(), status,
            code_version=commit[:8], it_per_s=10.0 + number,
            asv_machine=MACHINE, profile="tiny", grid=grid.name,
        )  # fmt: skip
        if number % 2:
            write_json_atomic(task_record_path(path, cell.key), swept)
        else:
            store.put(swept)
    started = []
    monkeypatch.setattr(sweep, "start_cell", lambda cell, *a, **k: started.append(cell))
    grouped = common.run_grid(grid)
    assert started == []
    assert sum(len(v) for v in grouped.values()) == len(TINY_CELLS)
    it_per_s = sorted(r["it_per_s"] for v in grouped.values() for r in v)
    assert it_per_s == [10.0 + n for n in range(len(TINY_CELLS))]

    other = TINY_RUN[0]
    store.put(store.records[other.key].replace(code_version="ffffffff"))

    def start(cell, *args, **kwargs):
        started.append(cell)
        base = CellRecord(cell.problem, cell.estimator, cell.dim, cell.config.asdict(), "ok")
        return sweep.Started(cell, base, {})

    monkeypatch.setattr(sweep, "start_cell", start)
    common.run_grid(grid)
    assert started == [other]
