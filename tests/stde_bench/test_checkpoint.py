"""Checkpointed cells: a cell SIGKILLed after its second checkpoint and run again ends
bitwise where the uninterrupted cell ends (parameters, optimizer state, random stream,
error history), for a JAX and a PyTorch estimator; a cell stopped by its budget continues
where it stopped; checkpointing does not change a cell's key.

The cells run as ``stde-bench run`` in fresh processes, with the same environment (CPU,
float64 for JAX).  The kill comes from inside the cell's process, at a fixed step after
its second checkpoint and inside a timed window (``KILLER``), so that the test kills at
the same point on an idle and on a loaded machine; SIGKILL runs no handler either way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stde_bench import sweep as sweep_mod
from stde_bench.cell import FLOOR, run_cell
from stde_bench.checkpoint import Checkpoint, Progress, checkpoint_path
from stde_bench.config import TrainConfig
from stde_bench.records import CellRecord, RecordStore, cell_key, read_record

PROBLEM, DIM = "allen-cahn-two-body", 6
#: checkpoints at 7, 14, 21, 28 and 30; killed at step 18; the resumed process's untimed
#: first step is step 15, an evaluation step (every 5)
CONFIG = TrainConfig(steps=30, eval_every=5, n_test=64, samples=4, n_residual=8, width=16)
EVERY, KILL_AT = 7, 18

#: run the CLI, SIGKILLing the process inside the step that reaches ``argv[1]`` steps once
#: two checkpoints are written
KILLER = """
import os, signal, sys
import stde_bench.cell as cell
from stde_bench.checkpoint import Checkpoint
from stde_bench.cli import main

kill_at, saves, save, timed = int(sys.argv[1]), [], Checkpoint.save, cell.time_steps

def counted_save(self, trainer, progress):
    save(self, trainer, progress)
    saves.append(progress.steps_done)

def time_steps(step, n, sync):
    def killing_step():
        out = step()
        if len(saves) >= 2 and step.__self__.steps_done == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    return timed(killing_step, n, sync)

Checkpoint.save, cell.time_steps = counted_save, time_steps
sys.exit(main(sys.argv[2:]))
"""


def start(tmp: Path, estimator: str, name: str, *, kill_at: int | None = None):
    """Start ``stde-bench run`` of the cell in a fresh process (checkpoints every ``EVERY``
    steps in ``tmp/name``, kept; output in ``tmp/name.log``); ``finish`` waits for it."""
    args = [
        "run", "--quiet", "--problem", PROBLEM, "--estimator", estimator, "--dim", str(DIM),
        "--config-json", json.dumps(CONFIG.asdict()), "--json", str(tmp / f"{name}.json"),
        "--checkpoint-every", str(EVERY), "--checkpoint-dir", str(tmp / name),
        "--keep-checkpoint",
    ]  # fmt: skip
    head = ["-c", KILLER, str(kill_at)] if kill_at else ["-m", "stde_bench.cli"]
    env = os.environ | {"JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "1"}
    with open(tmp / f"{name}.log", "a") as log:
        cmd = [sys.executable, *head, *args]
        return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, tmp: Path, name: str, expect: int = 0) -> Path:
    """Wait for the process (killed after 10 minutes); its record's path."""
    try:
        code = proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert code == expect, (tmp / f"{name}.log").read_text()[-3000:]
    return tmp / f"{name}.json"


def final_state(tmp: Path, name: str, record: CellRecord) -> tuple[dict, Progress]:
    """The state in the cell's last checkpoint (its last step: kept by ``--keep-checkpoint``)."""
    return Checkpoint(tmp / name, record.key, record.backend).read()


def flat(state, prefix: str = "") -> dict[str, np.ndarray | object]:
    """Every leaf of a (nested) trainer state by its path, tensors as numpy arrays."""
    if isinstance(state, dict):
        return {k: v for key, x in state.items() for k, v in flat(x, f"{prefix}/{key}").items()}
    if isinstance(state, (list, tuple)):
        return {k: v for i, x in enumerate(state) for k, v in flat(x, f"{prefix}/{i}").items()}
    return {prefix: state.numpy() if hasattr(state, "numpy") else state}


def assert_bitwise_equal(a: dict, b: dict) -> None:
    a, b = flat(a), flat(b)
    assert a.keys() == b.keys()
    for name in a:
        if isinstance(a[name], np.ndarray):
            x, y = a[name], b[name]
            assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), name
        else:
            assert a[name] == b[name], name


@pytest.mark.slow  # three processes each; `make test` (CI) runs it
@pytest.mark.parametrize("estimator", ["stde-jax", "stde-torch"])
def test_a_cell_killed_after_its_second_checkpoint_resumes_bitwise(tmp_path, estimator):
    if estimator.endswith("-torch"):
        pytest.importorskip("torch")
    # the uninterrupted cell and the one killed at step 18 run side by side
    through, killed = (
        start(tmp_path, estimator, "through"),
        start(tmp_path, estimator, "resumed", kill_at=KILL_AT),
    )
    through_path = finish(through, tmp_path, "through")
    resumed_path = finish(killed, tmp_path, "resumed", expect=-signal.SIGKILL)
    assert not resumed_path.exists()  # killed before its record
    finish(start(tmp_path, estimator, "resumed"), tmp_path, "resumed")

    one, two = read_record(through_path), read_record(resumed_path)
    state_one, progress_one = final_state(tmp_path, "through", one)
    state_two, progress_two = final_state(tmp_path, "resumed", two)
    assert_bitwise_equal(state_one, state_two)  # parameters, Adam, random stream, step
    assert two.error_history == one.error_history
    assert [s for s, _ in two.error_history] == [5, 10, 15, 20, 25, 30]
    assert two.final_loss == one.final_loss and two.steps_done == one.steps_done == 30
    assert progress_two.history == progress_one.history

    # what the record says of the resume: one resume, the killed process's windows up to
    # its second checkpoint (steps 2-14), the second process's from its warm-up on (16-30)
    assert (one.resumed, two.resumed) == (0, 1) and two.status == "ok"
    first, second = two.segments
    assert (first["first_step"], second["first_step"]) == (0, 14)
    assert first["pid"] != second["pid"] and second["checkpoint_every"] == EVERY
    segment_steps = [0, 0]
    for (steps, _), segment in zip(two.timed_windows, two.window_segments, strict=True):
        segment_steps[segment] += steps
    assert segment_steps == [13, 15]
    assert two.window_segments == sorted(two.window_segments)
    assert two.duration_s > first["duration_s"] + second["compile_s"]


@pytest.mark.slow  # two processes with budgets of seconds
def test_a_cell_stopped_by_its_budget_continues_where_it_stopped(tmp_path):
    """Each run stops at its 2 s budget (the floor estimator: the cheapest step to compile)
    with a checkpoint there; the next run takes over from it."""
    config = CONFIG.replace(steps=100_000, eval_every=50, budget_s=2.0, checkpoint_every=1000)
    run = lambda: run_cell(PROBLEM, FLOOR, DIM, config, progress=False, checkpoint_dir=tmp_path)
    first = run()
    assert first.status == "timeout" and "running the cell again continues" in first.reason
    path = checkpoint_path(tmp_path, first.key)
    assert path.exists()
    second = run()
    assert second.status == "timeout" and second.resumed == 1
    assert second.segments[1]["first_step"] == first.steps_done < second.steps_done
    # the evaluations every 50 steps go on; the one where the first run stopped off that
    # grid is its record's, not the checkpoint's (a resumed history is the run-through one)
    on_grid = [(s, e) for s, e in first.error_history if s % config.eval_every == 0]
    assert second.error_history[: len(on_grid)] == on_grid
    assert second.error_history[-1][0] == second.steps_done
    assert second.timed_windows[: len(first.timed_windows)] == first.timed_windows
    assert Checkpoint(tmp_path, first.key, "jax").read()[1].steps_done == second.steps_done


def test_checkpointing_does_not_change_a_cells_key():
    """``checkpoint_every`` is a run option: not in the record's config or the key, so a
    record written before the option existed keeps its key and a sweep finds it."""
    old = {k: v for k, v in CONFIG.asdict().items()}  # a record's config before the option
    assert "checkpoint_every" not in CONFIG.replace(checkpoint_every=5).asdict()
    key = cell_key(PROBLEM, "stde-jax", DIM, old)
    for config in (TrainConfig(**old), CONFIG.replace(checkpoint_every=5)):
        assert cell_key(PROBLEM, "stde-jax", DIM, config.asdict()) == key
        assert sweep_mod.Cell(PROBLEM, "stde-jax", DIM, config).key == key


def test_a_checkpoint_of_something_else_is_a_clear_error(tmp_path):
    key = cell_key(PROBLEM, "stde-jax", DIM, CONFIG.asdict())
    checkpoint_path(tmp_path, key).write_bytes(b"not a checkpoint")
    record = run_cell(PROBLEM, "stde-jax", DIM, CONFIG, progress=False, checkpoint_dir=tmp_path)
    assert record.status == "error"
    assert "cannot resume from" in record.reason and "remove the file" in record.reason


def test_a_sweep_passes_the_options_and_removes_the_checkpoint_once_the_record_is_stored(
    tmp_path, monkeypatch
):
    """The cell's process keeps its checkpoint (``--keep-checkpoint``); the sweep removes
    it after ``store.put`` of an ``ok`` record, and keeps it after a ``timeout``."""
    cells = [
        sweep_mod.Cell(
            PROBLEM, "stde-jax", DIM, c.replace(checkpoint_every=EVERY), checkpoint_dir=tmp_path
        )
        for c in (CONFIG, CONFIG.replace(seed=1))
    ]
    commands, popen = [], subprocess.Popen

    class Finished:  # a cell's process that wrote its checkpoint and its record
        returncode = 0

        def __init__(self, cmd, **kwargs):
            commands.append(cmd)
            config = TrainConfig(**json.loads(cmd[cmd.index("--config-json") + 1]))
            status = "ok" if config.seed == 0 else "timeout"
            record = CellRecord(PROBLEM, "stde-jax", DIM, config.asdict(), status)
            checkpoint_path(tmp_path, record.key).write_bytes(b"state")
            Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(record.to_json()))

        def poll(self):
            return 0

    def fake(cmd, **kwargs):
        return Finished(cmd, **kwargs) if "stde_bench.cli" in cmd else popen(cmd, **kwargs)

    monkeypatch.setattr(sweep_mod.subprocess, "Popen", fake)
    store = sweep_mod.sweep(cells, RecordStore(tmp_path / "r.jsonl"), progress=False)
    assert {r.status for r in store.records.values()} == {"ok", "timeout"}
    for cmd in commands:
        assert "--keep-checkpoint" in cmd
        assert cmd[cmd.index("--checkpoint-every") + 1] == str(EVERY)
        assert cmd[cmd.index("--checkpoint-dir") + 1] == str(tmp_path)
    assert not checkpoint_path(tmp_path, cells[0].key).exists()  # ok: recorded, removed
    assert checkpoint_path(tmp_path, cells[1].key).exists()  # timeout: what a rerun resumes


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_plan_counts_a_cells_checkpoint(tmp_path, backend):
    """A cell checkpointed three quarters through is planned at a quarter of its training
    time (plus its process start), and the plan says it resumes."""
    from stde_bench.plan import START_S, plan

    estimator = {"jax": "stde-jax", "torch": "sdgd-backward-torch"}[backend]
    config = TrainConfig(steps=400, eval_every=100, n_test=10, measure="error")
    cell = sweep_mod.Cell(PROBLEM, estimator, 100, config, checkpoint_dir=tmp_path)
    store = RecordStore(tmp_path / "records.jsonl")
    fresh = plan([cell], store, [])[0]

    class Trainer:
        def state(self):
            if backend == "torch":
                import torch

                return {"w": torch.zeros(3)}
            return {"w": np.zeros(3)}

    Checkpoint(tmp_path, cell.key, backend).save(Trainer(), Progress(cell.key, steps_done=300))
    resumed = plan([cell], store, [])[0]
    assert resumed.eta_s - START_S["cpu"] == pytest.approx((fresh.eta_s - START_S["cpu"]) / 4)
    assert "resumes from its checkpoint at step 300" in resumed.source
    Checkpoint(tmp_path, "another cell", backend).save(Trainer(), Progress("another cell"))
    checkpoint_path(tmp_path, "another cell").replace(checkpoint_path(tmp_path, cell.key))
    assert plan([cell], store, [])[0].eta_s == fresh.eta_s  # another cell's file: not counted
