"""Timing waits for the device; records are written atomically."""

import json
import time

import jax
import jax.numpy as jnp
import pytest

from stde_bench.measure import median_rate, time_steps
from stde_bench.records import read_json, write_json_atomic


def test_timer_stops_only_after_sync():
    calls = []

    def sync(out):
        time.sleep(0.2)  # a device still busy with the last step
        calls.append(out)

    seconds, last = time_steps(lambda: "result", 3, sync)
    assert calls == ["result"] and last == "result"
    assert seconds >= 0.2


def test_the_window_ends_on_the_last_step_being_ready():
    """``time_steps`` synchronizes on the last dispatched step's output, once, before it
    stops the clock: JAX's asynchronous dispatch cannot end a window early."""
    f = jax.jit(lambda a: a @ a)
    x = jnp.ones((64, 64))
    jax.block_until_ready(f(x))  # compiled
    outputs, ready = [], []

    def step():
        outputs.append(f(x))
        return outputs[-1]

    def sync(out):
        jax.block_until_ready(out)
        ready.append((out is outputs[-1], out.is_ready()))

    _, last = time_steps(step, 3, sync)
    assert len(outputs) == 3 and last is outputs[-1] and ready == [(True, True)]


@pytest.mark.slow  # a timing comparison: meaningful on an idle machine only
def test_timer_waits_for_asynchronous_jax_dispatch():
    x = jnp.ones((1500, 1500))
    f = jax.jit(lambda a: jnp.linalg.matrix_power(a / 1500.0, 30))
    jax.block_until_ready(f(x))  # compile
    blocked, _ = time_steps(lambda: f(x), 4, jax.block_until_ready)
    start = time.perf_counter()
    for _ in range(4):
        out = f(x)
    jax.block_until_ready(out)
    reference = time.perf_counter() - start
    assert blocked > 0.5 * reference


def test_median_rate():
    assert median_rate([(10, 1.0), (10, 2.0), (10, 0.5)]) == pytest.approx(10.0)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1, "nan": float("nan")})
    assert read_json(path) == {"a": 1, "nan": None}

    class Boom:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": Boom()})
    assert read_json(path) == {"a": 1, "nan": None}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp files left
    assert json.loads(path.read_text()) == {"a": 1, "nan": None}  # strict JSON: NaN as null
