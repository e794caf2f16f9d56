"""The typed cell record: its key, the code version, the old schema, the store, budgets."""

import json
import time
import types
from pathlib import Path

import pytest

from stde_bench.cell import _train, run_cell
from stde_bench.config import TrainConfig
from stde_bench.records import (
    SCHEMA,
    CellRecord,
    RecordStore,
    cell_key,
    read_records,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = TrainConfig(steps=6, eval_every=3, n_test=50, samples=2, n_residual=4, width=8)


def _record(**changes) -> CellRecord:
    base = CellRecord("poisson-two-body", "stde-jax", 4, TINY.asdict(), "ok")
    return base.replace(**changes)


@pytest.mark.parametrize(
    "change",
    [
        {"steps": 7},
        {"width": 16},
        {"n_residual": 5},
        {"lr": 2e-3},
        {"restrict": True},
        {"sampler": "volume-uniform"},
        {"budget_s": 60.0},
        {"measure": "speed"},
    ],
)
def test_a_changed_config_is_a_different_cell(change):
    key = cell_key("poisson-two-body", "stde-jax", 4, TINY.asdict())
    other = cell_key("poisson-two-body", "stde-jax", 4, TINY.replace(**change).asdict())
    assert key != other
    assert key == cell_key("poisson-two-body", "stde-jax", 4, TrainConfig(**TINY.asdict()).asdict())


def test_record_round_trips_through_json():
    record = _record(it_per_s=12.5, error_history=[[3, 0.5]], machine={"cpu": "x"})
    again = CellRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record and again.schema == SCHEMA and again.key == record.key


def test_bad_status_and_unknown_schema_are_refused():
    with pytest.raises(ValueError, match="status"):
        _record(status="fine")
    with pytest.raises(ValueError, match="schema"):
        CellRecord.from_json(_record().to_json() | {"schema": "other/9"})


def test_the_old_schema_records_committed_in_results_still_load():
    paths = sorted((ROOT / "results" / "cells").glob("cpu-epyc-2core-smoke-*.jsonl"))
    assert paths, "the committed smoke records are missing"
    for path in paths:
        records, bad = read_records(path)
        assert records and not bad
        for record in records:
            assert record.schema == SCHEMA and record.status in ("ok", "skipped")
            assert record.code_version == "e11221ad"  # the commit in the old machine block


def test_store_keeps_the_newest_line_and_moves_corrupt_lines_aside(tmp_path):
    path = tmp_path / "r.jsonl"
    store = RecordStore(path)
    store.put(_record(status="error"))
    store.put(_record(status="ok", it_per_s=3.0))
    store.put(_record(dim=5))
    with open(path, "a") as fh:
        fh.write('{"schema": "stde-bench/cell/2", "problem": "trunc')  # a killed writer
    with pytest.warns(UserWarning, match=r"r\.jsonl:4"):
        store = RecordStore(path)
    assert len(store) == 2 and store.records[_record().key].it_per_s == 3.0
    assert "trunc" in (tmp_path / "r.jsonl.corrupt").read_text()
    assert "trunc" not in path.read_text()


def test_a_cell_over_its_budget_is_a_timeout_with_its_measurements():
    config = TINY.replace(steps=100_000, eval_every=50, budget_s=3.0)
    record = run_cell("poisson-two-body", "stde-jax", 4, config, progress=False)
    assert record.status == "timeout", record.reason
    assert "budget of 3 s" in record.reason
    assert 0 < record.steps_done < config.steps
    assert record.it_per_s > 0 and record.compile_s > 0 and record.memory_mb > 0
    assert record.setup_s > 0 and record.first_step_s > 0
    assert record.compile_s + record.setup_s + record.first_step_s < record.duration_s
    assert record.error_history and record.error_min is not None


class _SlowTrainer:
    """A trainer whose step takes 50 ms: a 100-step window would take 5 s."""

    estimator = types.SimpleNamespace(name="slow")
    steps_done = 0

    def compile(self):
        return 0.0

    def step(self):
        time.sleep(0.05)
        self.steps_done += 1
        return 1.0

    sync = staticmethod(lambda out: out)
    memory_mb = staticmethod(lambda: (1.0, "none"))
    n_params = staticmethod(lambda: 1)


def test_a_cell_stops_at_its_budget_not_a_window_later():
    config = TINY.replace(steps=10_000, measure="speed", budget_s=1.0)
    problem = types.SimpleNamespace(name="slow", dim=1)
    started = time.perf_counter()
    record = _train(problem, _SlowTrainer(), config, False, _record(), started)
    elapsed = time.perf_counter() - started
    assert record.status == "timeout" and 10 <= record.steps_done < 40
    assert elapsed < 1.5, f"{elapsed:.2f} s for a 1 s budget"


def test_a_speed_cell_evaluates_nothing():
    record = run_cell(
        "poisson-two-body", "stde-jax", 4, TINY.replace(measure="speed"), progress=False
    )
    assert record.status == "ok" and record.it_per_s > 0
    assert record.error_history == [] and record.error_final is None
