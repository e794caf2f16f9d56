"""``stde_bench.error_stats`` on numbers worked by hand: the late median, the sign
interval, the reference accuracy, the verdicts (below reference accuracy, not informative)
and the constant-mode baseline of ``scripts/constant_mode.py`` against the test set."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import problems
from stde_bench import error_stats
from stde_bench.error_stats import (
    BELOW,
    SHORT,
    TRIVIAL,
    Reference,
    classify,
    late_median,
    read_constant_mode,
    record_stats,
    reference_accuracy,
    sign_interval,
)
from stde_bench.records import CellRecord

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "n, last",
    [(1, [0]), (9, [8]), (10, [9]), (20, [18, 19]), (30, [27, 28, 29]), (100, range(90, 100))],
)
def test_late_median_is_the_median_of_the_last_tenth(n, last):
    errors = np.arange(n, dtype=float) ** 2  # increasing: the last k are the k largest
    assert late_median(errors) == pytest.approx(np.median(errors[list(last)]))
    assert math.isnan(late_median([]))


def test_late_median_ignores_a_lucky_checkpoint():
    """Issue 29's case: u wanders ~1e-3 about the reference; the minimum keeps the one
    checkpoint that happened to pass close, the late median does not."""
    errors = np.full(100, 1.8e-3)
    errors[95] = 4.6e-5
    assert errors.min() == 4.6e-5 and late_median(errors) == pytest.approx(1.8e-3)


def test_sign_interval_brackets_both_signs():
    # e = 1% against 1.0: u is 1.01 or 0.99; against 1.005 those are 0.005 and 0.015 off
    lo, hi = sign_interval([0.01], 1.0, 1.005)
    assert lo[0] == pytest.approx(0.005 / 1.005) and hi[0] == pytest.approx(0.015 / 1.005)
    lo, hi = sign_interval([0.02, 0.03], 2.0, 2.0)  # the same reference: exact
    assert lo.tolist() == pytest.approx([0.02, 0.03]) and hi.tolist() == pytest.approx([0.02, 0.03])


def test_reference_accuracy_is_the_difference_plus_our_error():
    # heat at d = 10 (issue 29): published 0.47006, ours 0.46955, our bound 1e-6
    assert reference_accuracy(0.47006, 0.46955, 1e-6) == pytest.approx(5.11e-4 / 0.46955)


def test_verdicts_on_a_hand_built_frame():
    f = pd.DataFrame(
        [  # ours, paper, short, accuracy, constant-mode error, the verdict
            (2e-3, 1e-3, 0, np.nan, np.nan, "agrees"),
            (2e-4, 1e-3, 0, np.nan, np.nan, "better"),
            (5e-3, 1e-3, 0, np.nan, np.nan, "worse"),
            (5e-3, 1e-3, 1, 1e-2, 1e-4, SHORT),  # short before everything
            (2e-3, 7e-5, 0, 1.1e-3, np.nan, BELOW),  # the paper's error below the reference's
            (5e-4, 2e-3, 0, 1.1e-3, np.nan, BELOW),  # ours below it
            (3e-3, 2e-3, 0, 1.1e-3, np.nan, "agrees"),  # both above it: judged
            (3e-4, 1e-2, 0, np.nan, 1.2e-4, TRIVIAL),  # "better", but a constant is too
            (4e-3, 2e-3, 0, np.nan, 5e-3, TRIVIAL),  # "agrees", the constant within 3x
            (2.5e-3, 1e-3, 0, np.nan, 3.5e-3, "agrees"),  # the constant above 3x the paper's
            (5e-2, 1e-3, 0, np.nan, 1e-4, "worse"),  # worse stays worse
        ],
        columns="ours paper short accuracy constant verdict".split(),
    )
    got = classify(f.ours, f.paper, f.short, f.accuracy, f.constant)
    assert got.tolist() == f.verdict.tolist()


def _record(problem: str, dim: int, history, **config) -> CellRecord:
    config = {"seed": 0, "n_test": 1} | config
    return CellRecord(problem, "stde-jax", dim, config, "ok", error_history=history)


def test_record_stats_against_the_published_and_our_reference(monkeypatch):
    published, ours = 0.47006, 0.46955
    ref = Reference(published, published, ours, 1e-6, "bound", "test")
    monkeypatch.setattr(error_stats, "reference", lambda p, d: ref if p == "heat" else None)
    history = [[100 * (k + 1), 2e-3] for k in range(100)]
    history[99][1] = 1e-5  # a lucky last checkpoint
    stats = record_stats(_record("heat", 10, history), {})
    assert stats["error_late"] == pytest.approx(2e-3)
    # u = published (1 ± 2e-3) against ours
    candidates = sorted(abs(published * (1 + s * 2e-3) - ours) / ours for s in (1, -1))
    assert stats["error_late_ours"] == pytest.approx(candidates[0])
    assert stats["error_late_ours_hi"] == pytest.approx(candidates[1])
    assert math.isnan(stats["error_constant"])
    # a record that keeps u itself (``value_history``): exact
    values = [[s, published * (1 - 2e-3)] for s, _ in history]
    exact = _record("heat", 10, history).replace(value_history=values)
    stats = record_stats(exact, {})
    assert stats["error_late_ours"] == stats["error_late_ours_hi"]
    assert stats["error_late_ours"] == pytest.approx(abs(values[0][1] - ours) / ours)


def test_record_stats_reads_the_constant_mode_of_its_own_test_set(tmp_path):
    cells = [dict(problem="allen-cahn-two-body", dim=100, seed=1, n_test=20_000, c=2.0, error=0.04)]
    (tmp_path / "diagnostics").mkdir()
    (tmp_path / "diagnostics" / "constant-mode.json").write_text(json.dumps({"cells": cells}))
    constant = read_constant_mode(tmp_path)
    assert constant == {("allen-cahn-two-body", 100, 1, 20_000): 0.04}
    history = [[1000, 0.1], [2000, 0.05]]
    got = record_stats(
        _record("allen-cahn-two-body", 100, history, seed=1, n_test=20_000), constant
    )
    assert got.keys() == {"error_constant", "constant_only"}  # no reference: no late median
    assert got["error_constant"] == 0.04 and math.isnan(got["constant_only"])  # no error_min
    # not below the baseline, or within 5% of it: the constant mode only
    for error_min, only in ((0.05, 1.0), (0.0390, 1.0), (0.0375, 0.0), (0.01, 0.0)):
        kept = _record("allen-cahn-two-body", 100, history, seed=1, n_test=20_000)
        kept = SimpleNamespace(**vars(kept) | {"error_min": error_min})
        assert record_stats(kept, constant)["constant_only"] == only
    other = _record("allen-cahn-two-body", 100, history, seed=1, n_test=2000)
    assert math.isnan(record_stats(other, constant)["error_constant"])
    assert record_stats(_record("allen-cahn-two-body", 100, []), constant) == {}
    assert read_constant_mode(tmp_path / "nowhere") == {}


def test_reference_reads_the_problem(monkeypatch):
    semilinear = pytest.importorskip("problems.semilinear")
    if not hasattr(semilinear, "REFERENCE"):
        pytest.skip("problems/semilinear.py has no REFERENCE of ours yet")
    error_stats.reference.cache_clear()
    monkeypatch.setitem(
        semilinear.REFERENCE,
        "sine-gordon-semilinear",
        {10: semilinear.Reference(3.2290, 2e-5, "t")},
    )
    ref = error_stats.reference("sine-gordon-semilinear", 10)
    error_stats.reference.cache_clear()
    assert ref.printed == 0.3229470 and ref.published == pytest.approx(3.229470)  # d w
    assert (ref.ours, ref.error, ref.kind) == (3.2290, 2e-5, "bound")
    assert ref.accuracy == pytest.approx((4.70e-4 + 2e-5) / 3.2290)
    assert error_stats.reference("allen-cahn-two-body", 100) is None


@pytest.fixture(scope="module")
def constant_mode():
    spec = importlib.util.spec_from_file_location(
        "constant_mode", ROOT / "scripts" / "constant_mode.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["allen-cahn-two-body", "sine-gordon-three-body"])
def test_constant_mode_in_chunks_is_least_squares_on_the_test_set(constant_mode, name):
    problem = problems.get(name, 7, seed=1)
    points = np.concatenate(list(constant_mode.test_chunks(problem, 50, 7)))
    assert np.array_equal(points, problem._test_points(50))  # the same points, chunked
    u = problem._exact_batch(np, points)
    b = 1.0 - (points * points).sum(-1)
    c = np.linalg.lstsq(b[:, None], u, rcond=None)[0][0]
    got = constant_mode.constant_mode(name, 7, 1, 50)
    assert got[0] == pytest.approx(c)
    assert got[1] == pytest.approx(np.linalg.norm(c * b - u) / np.linalg.norm(u))


def test_a_reference_note_counts_the_difference_in_its_own_error():
    picard = Reference(0.89060, 0.89060, 0.8912, 3e-4, "standard error", "multilevel Picard")
    assert "ours 0.8912 ± 3.0E-04 (standard error; multilevel Picard)" in picard.note("10")
    assert "published 0.8906: -2.0 standard errors apart" in picard.note("10")
    sine_gordon = Reference(3.22947, 0.322947, math.nan, math.nan, "bound", "")
    assert sine_gordon.note("10") == (
        "Reference u(0, T) at d=10: published 0.322947 (× d: 3.22947); none of ours, so its "
        "accuracy unknown."
    )


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_the_two_body_closed_form_is_the_measured_constant_mode_at_high_d(constant_mode, seed):
    _, measured = constant_mode.constant_mode("allen-cahn-two-body", 1000, seed, 20_000)
    problem = problems.get("allen-cahn-two-body", 1000, seed=seed)
    assert constant_mode.two_body_closed_form(problem.coefficients) == pytest.approx(
        measured, rel=0.01
    )
    own = constant_mode.first_order_on_test_points(problem, 20_000)  # the sampler's spread gone
    assert own == pytest.approx(measured, rel=0.003)


def test_the_share_of_draws_below_an_error_is_the_closed_forms_over_random_draws(constant_mode):
    dim, draws = 400, 4000
    c = np.random.default_rng(7).standard_normal((draws, dim - 1))
    errors = constant_mode.two_body_closed_form(c)
    for q in (0.1, 0.5, 0.9):  # the level a share q of the draws are below
        share = constant_mode.share_below(dim, float(np.quantile(errors, q)))
        assert abs(share - q) < 4 * math.sqrt(q * (1 - q) / draws), (q, share)


def test_the_amplitude_is_the_output_adam_reaches_under_a_steady_gradient(constant_mode):
    optax = pytest.importorskip("optax")
    width, lr, steps = 8, 1e-2, 50
    params = np.full(width + 1, 1 / math.sqrt(width))  # output weights and bias at their init
    optimizer = optax.adam(optax.linear_schedule(lr, 0.0, steps))  # the trainer's optimizer
    state = optimizer.init(params)
    for t in range(1, steps + 1):  # the loss pulls the output up: a gradient of steady sign
        updates, state = optimizer.update(-np.ones_like(params), state)
        params = optax.apply_updates(params, updates)
        expected = constant_mode.adam_amplitude(width, lr, steps, t)
        assert float(np.sum(params)) == pytest.approx(expected, rel=1e-6), t
