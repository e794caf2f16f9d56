"""The relative L2 error of the best *constant* network, u = c · (1 − |x|²), on a problem's
test set: the level at which a run whose network has learned only its constant mode
sits (the plateaus of two-body Allen-Cahn at d = 1000 and 10^4 in the repro-cpu records).
With b = 1 − |x|² and u* the exact values at the test points (least squares in c):

    c = b·u* / b·b,   error = |c b − u*| / |u*| = sqrt(1 − (b·u*)² / (b·b · u*·u*)).

One problem:  python scripts/constant_mode.py allen-cahn-two-body 100 1000 10000

The report's baseline (``stde_bench.error_stats.read_constant_mode``), for every (problem,
d, seed, test points) of the inseparable error records under results/cells/ and of the
error cells of the named grids (records not yet in), written once:

    python scripts/constant_mode.py --write results/diagnostics/constant-mode.json \
        --grid repro-cpu:Table3ErrorRestrictedHighDimJ16

float64 numpy, the test points a chunk of rows at a time (``test_chunks``): 20,000 points
at d = 10^4 never exist as one 1.6 GB array.

Two-body problems in closed form (``two_body_closed_form``, ``share_below``; the code's
sampler), beside the measured baseline and the paper's Table 3 errors:

    python scripts/constant_mode.py --closed-form

How far Adam can move the network's output toward that constant (``adam_amplitude``),
beside the records' error histories at d ≥ 10^4:

    python scripts/constant_mode.py --amplitude
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import problems
from problems.base import TEST_CHUNK, TEST_STREAM
from problems.inseparable import InseparableProblem


def test_chunks(problem: InseparableProblem, n: int, rows: int) -> Iterator[np.ndarray]:
    """``problem.test_set(n)``'s points, ``rows`` at a time.  ``problems.sampling.ball``
    draws the n × d normals, then the n radii, from ``default_rng([seed, TEST_STREAM])``;
    a Generator fills an array in order, so normals drawn a chunk of rows at a time are
    the same numbers.  One pass draws (and drops) the normals to reach the radii, a second
    draws them again and builds the points (checked against ``test_set`` in the tests)."""
    first, d = np.random.default_rng([problem.seed, TEST_STREAM]), problem.dim
    for start in range(0, n, rows):
        first.standard_normal((min(rows, n - start), d))
    radius = first.random(n)
    if problem.samplers[0] == "volume-uniform":
        radius = radius ** (1.0 / d)
    again = np.random.default_rng([problem.seed, TEST_STREAM])
    for start in range(0, n, rows):
        z = again.standard_normal((min(rows, n - start), d))
        r = radius[start : start + len(z), None]
        yield z * (r / np.sqrt((z * z).sum(-1, keepdims=True)))


def constant_mode(problem_name: str, dim: int, seed: int, n_test: int) -> tuple[float, float]:
    """``(c, error)`` of the best u = c (1 − |x|²) on the test set (module docstring)."""
    problem = problems.get(problem_name, dim, seed=seed)
    if not isinstance(problem, InseparableProblem):
        raise ValueError(f"{problem_name} is not an inseparable problem on the unit ball")
    bu = bb = uu = 0.0
    for x in test_chunks(problem, n_test, max(1, TEST_CHUNK // dim)):
        b, u = 1.0 - (x * x).sum(-1), problem._exact_batch(np, x)
        bu, bb, uu = bu + b @ u, bb + b @ b, uu + u @ u
    return bu / bb, math.sqrt(max(0.0, 1.0 - bu * bu / (bb * uu)))


def two_body_closed_form(c: np.ndarray) -> np.ndarray:
    """The best constant network's error on a two-body problem at high d, to first order,
    for coefficients ``c`` of shape (..., d − 1); shape (...).

    u* = a·S, a = 1 − |x|², S = Σ_{i<d} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i); the
    test points x = r·θ (θ uniform on the sphere, r ~ U[0, 1]) have x_i = O(d^-1/2), so
    S = sin(1)·Σc + cos(1)·w·x + O(|x|²) with w_j = c_j + c_{j−1} (c_0 = c_d = 0).  w·x is
    odd in x, so the best constant is sin(1)·Σc and, with E[(w·x)² | r] = r²|w|²/d and
    E[a²r²] / E[a²] = (8/105) / (8/15) = 1/7,

        error = cot(1)·|w| / (sqrt(7d)·|Σc|)  ≈  cot(1)·sqrt(2/7) / |Σc|   (|w|² ≈ 2d).
    """
    w = linear_weights(c)
    d = w.shape[-1]
    return np.linalg.norm(w, axis=-1) / (math.tan(1.0) * math.sqrt(7 * d) * abs(c.sum(-1)))


def linear_weights(c: np.ndarray) -> np.ndarray:
    """w_j = c_j + c_{j−1} (c_0 = c_d = 0), shape (..., d): the two-body sum's gradient at
    x = 0 over cos(1)."""
    pad = [(0, 0)] * (c.ndim - 1)
    return np.pad(c, [*pad, (0, 1)]) + np.pad(c, [*pad, (1, 0)])


def first_order_on_test_points(problem: InseparableProblem, n_test: int) -> float:
    """``two_body_closed_form``'s first-order error averaged over the cell's own test
    points instead of the sampler: cot(1)·sqrt(Σ a²(w·x)² / Σ a²) / |Σc|."""
    c = problem.coefficients
    w = linear_weights(c)
    linear = weight = 0.0
    for x in test_chunks(problem, n_test, max(1, TEST_CHUNK // problem.dim)):
        a2 = (1.0 - (x * x).sum(-1)) ** 2
        linear, weight = linear + a2 @ (x @ w) ** 2, weight + a2.sum()
    return math.sqrt(linear / weight) / (math.tan(1.0) * abs(c.sum()))


def share_below(dim: int, error: float) -> float:
    """The share of coefficient draws c ~ N(0, I) whose best constant network has an error
    below ``error`` in the closed form: Σc = sqrt(d − 1)·z, z ~ N(0, 1), |w|² = 2(d − 1),
    so the share is P(|z| > t) with t = cot(1)·sqrt(2/7) / (sqrt(d)·error)."""
    return beyond(math.sqrt(2 / 7) / (math.tan(1.0) * math.sqrt(dim) * error))


def beyond(t: float) -> float:
    """P(|z| > t) for z ~ N(0, 1): erfc(t / sqrt(2))."""
    return math.erfc(t / math.sqrt(2))


def adam_amplitude(width: int, lr: float, steps: int, t: Any) -> Any:
    """The largest |NN(x)| of a tanh MLP after ``t`` (int or array) Adam steps of the linear
    schedule lr_s = lr·(1 − s/steps) when each output weight and the bias move by lr_s a step
    (Adam's step under a gradient of steady sign), from the init |v| ≤ 1/√width, |tanh| ≤ 1:

        A(t) = (width + 1)·(1/√width + Σ_{s<t} lr_s),   Σ_{s<t} lr_s = lr·(t − t(t − 1)/(2·steps)).

    While A(t) < |c| (the best constant, ``constant_mode``), u = (1 − |x|²)·NN cannot reach
    the constant mode: relative error ≥ about 1 − A(t)/|c|.  Adam's step is lr under a
    steady gradient and at most lr·(1 − β1)/√(1 − β2) ≈ 3.2 lr under spikes, so A is the
    steady rate, not a strict bound."""
    return (width + 1) * (1 / math.sqrt(width) + lr * (t - t * (t - 1) / (2 * steps)))


def amplitude_table(baseline: Path, results: Path) -> None:
    """Each two-body error record at d ≥ 10^4 beside 1 − A(t)/|c|, then the share of
    coefficient draws whose constant the paper's protocol cannot reach in its run."""
    from stde_bench.records import read_records

    rows = json.loads(baseline.read_text())["cells"]
    constant = {(r["problem"], r["dim"], r["seed"], r["n_test"]): r for r in rows}
    for path in sorted((results / "cells").glob("*.jsonl")):
        for r in read_records(path)[0]:
            cfg = r.config
            row = constant.get((r.problem, r.dim, int(cfg["seed"]), int(cfg["n_test"])))
            if r.status != "ok" or not r.error_history or r.dim < 10_000 or row is None:
                continue
            if problems.get(r.problem, r.dim, seed=int(cfg["seed"])).body != "two-body":
                continue
            c = abs(row["c"])
            amplitude = adam_amplitude(
                cfg["width"], cfg["lr"], cfg["steps"], np.arange(cfg["steps"] + 1)
            )
            reach = int(np.argmax(amplitude >= c)) if amplitude[-1] >= c else None
            print(
                f"{r.problem} {r.estimator} d={r.dim} seed={cfg['seed']}: |c| {c:.1f}, "
                f"A(t) reaches it at step {reach}"
            )
            for step, error in r.error_history:
                bound = max(0.0, 1 - amplitude[step] / c)
                print(f"  step {step}: error {error:.3e}, 1 − A(t)/|c| {bound:.3e}")
    from stde_bench.paper import PROTOCOL

    paper = PROTOCOL["allen-cahn-two-body"]
    top = adam_amplitude(paper["width"], paper["lr"], paper["steps"], paper["steps"])
    for dim in (10_000, 100_000, 1_000_000):
        reach = top / (math.sin(1.0) * math.sqrt(dim - 1))
        print(
            f"d={dim}, the paper's protocol: A({paper['steps']:,}) = {top:.0f}; the constant "
            f"sin(1)·Σc is out of reach for |Σc|/√(d − 1) > {reach:.2f}, "
            f"{beyond(reach):.1%} of coefficient draws"
        )


def closed_form_table(baseline: Path) -> None:
    """The closed form beside the measured baseline, then beside the paper's Table 3."""
    seen = set()  # the two-body problems share u*: each (d, seed, test points) once
    for row in json.loads(baseline.read_text())["cells"]:
        cell = (row["dim"], row["seed"], row["n_test"])
        if row["dim"] < 100 or cell in seen:
            continue
        problem = problems.get(row["problem"], row["dim"], seed=row["seed"])
        if problem.body == "two-body":
            seen.add(cell)
            closed = two_body_closed_form(problem.coefficients)
            own = first_order_on_test_points(problem, row["n_test"])
            print(
                f"two-body d={row['dim']} seed={row['seed']} n_test={row['n_test']}: "
                f"measured {row['error']:.4e}, closed form {closed:.4e} "
                f"({closed / row['error'] - 1:+.1%}), on its test points {own:.4e} "
                f"({own / row['error'] - 1:+.1%}); Σc/√(d − 1) "
                f"{problem.coefficients.sum() / math.sqrt(row['dim'] - 1):+.2f}"
            )
    from stde_bench.report.load import load_paper

    paper = load_paper()
    rows = paper[(paper.table == 3) & (paper.metric == "error_min")].dropna(subset=["value"])
    for r in rows.itertuples():
        print(
            f"paper Table 3 {r.method} |J|={r.samples or '-'} d={r.dim}: {r.value:.3g}; "
            f"a constant network is below it for {share_below(int(r.dim), r.value):.0%} "
            f"of coefficient draws"
        )


def error_cells(results: Path, grids: list[str]) -> list[tuple[str, int, int, int]]:
    """(problem, d, seed, test points) of every inseparable error record under
    ``results/cells`` and of every error cell of the grids ``profile:grid``."""
    from stde_bench.profiles import cell_config, get_profile
    from stde_bench.records import read_records

    cells = set()
    for path in sorted((results / "cells").glob("*.jsonl")):
        for r in read_records(path)[0]:
            if r.error_history and r.config.get("measure") != "speed":
                cells.add((r.problem, r.dim, int(r.config["seed"]), int(r.config["n_test"])))
    for name in grids:
        profile, _, grid_name = name.partition(":")
        grid = get_profile(profile).grid(grid_name)
        for problem, _, dim in grid.cells():
            for seed in grid.seeds:
                cells.add((problem, dim, seed, cell_config(grid, dim, seed).n_test))
    ball = {c for c in cells if isinstance(problems.get(c[0], c[1]), InseparableProblem)}
    return sorted(ball)


def write(path: Path, results: Path, grids: list[str]) -> None:
    rows = []
    for problem, dim, seed, n_test in error_cells(results, grids):
        c, error = constant_mode(problem, dim, seed, n_test)
        print(f"{problem} d={dim} seed={seed} n_test={n_test}: c {c:.6g}, error {error:.4e}")
        rows.append(dict(problem=problem, dim=dim, seed=seed, n_test=n_test, c=c, error=error))
    command = "python scripts/constant_mode.py --write " + " ".join(
        [str(path), *(f"--grid {g}" for g in grids)]
    )
    about = "relative L2 error of the best u = c (1 - |x|^2) on the cell's test points"
    path.write_text(json.dumps(dict(command=command, about=about, cells=rows), indent=1) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("problem", nargs="?")
    parser.add_argument("dims", nargs="*", type=int)
    parser.add_argument("--n-test", type=int, default=20_000)
    parser.add_argument("--write", type=Path, help="the report's baseline file (docstring)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--grid", action="append", default=[], help="profile:grid (repeat)")
    parser.add_argument("--closed-form", action="store_true", help="two-body closed form")
    parser.add_argument("--amplitude", action="store_true", help="Adam's amplitude bound")
    args = parser.parse_args()
    if args.closed_form:
        closed_form_table(Path("results/diagnostics/constant-mode.json"))
        sys.exit(0)
    if args.amplitude:
        amplitude_table(Path("results/diagnostics/constant-mode.json"), args.results)
        sys.exit(0)
    if args.write:
        write(args.write, args.results, args.grid)
        sys.exit(0)
    for dim in args.dims:
        for seed in (0, 1):
            c, error = constant_mode(args.problem, dim, seed, args.n_test)
            print(
                f"{args.problem} d={dim} seed={seed}: best constant network, relative L2 "
                f"{error:.3e} (c = {c:.4g})"
            )
