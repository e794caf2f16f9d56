"""Our reference values u(0, T) of the semilinear problems, with their accuracy (issue 29).

Radial problems (heat-semilinear, sine-gordon-semilinear), per dimension:

- ``solve_radial`` at steps n, 2n, 4n, 8n (grid step = time step = T / steps), Richardson
  extrapolation of the last three with order 2 (the observed order printed beside it);
  the bound is max(2 |extrapolated - finest|, |extrapolated - extrapolated from the first
  three|) + the far-boundary bound, and the run fails if the observed order is not 2 ± 0.1;
- the far boundary moved (tail x = 20 instead of 30): the change at the finest grid;
- the linear case F = 0 at the same grids against E[G(2T χ²_d)] by quadrature, and a
  Monte-Carlo mean of G(2T |ξ|^2), ξ ~ N(0, I_d) (ξ drawn for d ≤ 100, |ξ|^2 ~ χ²_d drawn
  directly above), with its standard error;
- optionally (``--picard-runs``) a multilevel-Picard estimate of the same u(0, T).

Allen-Cahn (not radial), per dimension: the mean and standard error of ``--runs``
independent multilevel-Picard runs U_{n,n}(T, 0), n = ``--level``, F applied to u clipped
to [-π/2, π/2] (by the maximum principle |u| ≤ max(sup|g|, 1) = π/2, so the solution is
unchanged and F becomes Lipschitz); and a bias check at the same level: a radial problem
with Allen-Cahn's F and G(s) = arctan(α + β (s / (2Td) - 1) / sqrt(2/d)), α and β the mean
and standard deviation of g(sqrt(2T) ξ)'s argument max_i sqrt(2T) ξ_i, solved by the radial
solver and estimated by the same Picard runs (``--check-runs``); and optionally a level
check: ``--compare-runs`` runs at level ``--compare-level``.

A value is used for ``REFERENCE`` (``accepted`` in the evidence) if its relative bound is
at most 1e-4 (radial), or if its bias check is within 2 standard errors (Picard; none without
a bias check); otherwise the published value stays.

The evidence goes to results/diagnostics/reference-values-<problem>.json (entries per
dimension, each with its command line; a later run replaces only its dimensions) and a
table of all entries to the .txt beside it.  The last lines printed are the entries for
``REFERENCE`` in problems/semilinear.py.

    python scripts/reference_values.py --problem heat-semilinear --dim 10 100 1000 10000
    python scripts/reference_values.py --problem allen-cahn-semilinear --dim 10 --runs 4000
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import problems
from problems import reference
from problems.semilinear import RADIAL, SEMILINEAR, picard_source

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "diagnostics"
#: |u| ≤ this bound by the maximum principle; F is applied to u clipped to it (Picard)
SOLUTION_BOUND = {"allen-cahn-semilinear": math.pi / 2}
#: the observed order must be within this of 2
ORDER_TOLERANCE = 0.1
#: the far boundary's tail parameter x for the moved-boundary check
CHECK_TAIL = 20.0
#: a radial value is used if its bound is at most this, relative
RELATIVE_BOUND_LIMIT = 1e-4
#: a Picard value is used if its bias check is within this many standard errors
BIAS_CHECK_LIMIT = 2.0


def acceptance(entry: dict) -> tuple[bool, str]:
    """Whether ``REFERENCE`` uses an entry, and why."""
    if "resolutions" in entry:
        ok = entry["relative_bound"] <= RELATIVE_BOUND_LIMIT
        return ok, f"relative bound {entry['relative_bound']:.1e} vs {RELATIVE_BOUND_LIMIT:g}"
    if "bias_check" not in entry:
        return False, "no bias check"
    z = entry["bias_check"]["minus_radial_in_se"]
    return abs(z) <= BIAS_CHECK_LIMIT, f"bias check {z:+.2f} SE (limit ±{BIAS_CHECK_LIMIT:g})"


def lipschitz(source: reference.Source, largest: float) -> float:
    """max |F'| on [-largest, largest], by differences on 10^5 points (for the tail bound)."""
    u = np.linspace(-largest, largest, 100_001)
    return float(np.abs(np.diff(source(u)) / np.diff(u)).max())


def clipped(source: reference.Source, bound: float | None) -> reference.Source:
    """F(clip(u, -bound, bound)), or F itself without a bound."""
    if bound is None:
        return source
    return lambda u: source(np.clip(u, -bound, bound))


def picard_runs(
    source: reference.Source,
    initial: reference.Initial,
    dim: int,
    horizon: float,
    level: int,
    runs: int,
    rng: np.random.Generator,
    per_call: int = 64,
) -> dict:
    """Mean and standard error of ``runs`` independent U_{n,n}(T, 0), n = ``level``."""
    start, values = time.perf_counter(), []
    for done in range(0, runs, per_call):
        rows = min(per_call, runs - done)
        values.append(
            reference.multilevel_picard(
                source, initial, np.full(rows, horizon), np.zeros((rows, dim)), level, level, rng
            )
        )
    values = np.concatenate(values)
    seconds = time.perf_counter() - start
    vectors = reference.multilevel_picard_cost(level, level)
    return {
        "level": level,
        "branching": level,
        "runs": runs,
        "mean": float(values.mean()),
        "standard_error": float(values.std(ddof=1) / math.sqrt(runs)),
        "run_std": float(values.std(ddof=1)),
        "gaussian_vectors_per_run": vectors,
        "normals_total": vectors * dim * runs,
        "seconds": seconds,
    }


def radial_entry(problem, args: argparse.Namespace) -> dict:
    """Convergence table, extrapolation, bound and checks of one radial problem."""
    dim, horizon = problem.dim, problem.T
    source = lambda u: problem.source_batch(np, u)
    initial = lambda s: problem.radial_initial(np, s)
    linear = lambda u: np.zeros_like(u)
    resolutions = []
    for factor in (1, 2, 4, 8):
        steps = args.steps * factor
        start = time.perf_counter()
        solution = reference.solve_radial(source, initial, dim, horizon, steps)
        seconds = time.perf_counter() - start
        linear_value = reference.solve_radial(linear, initial, dim, horizon, steps).value
        resolutions.append(
            {
                "steps": steps,
                "h": horizon / steps,
                "nodes": solution.nodes,
                "value": solution.value,
                "linear_value": linear_value,
                "seconds": seconds,
                "largest": solution.largest,
            }
        )
    values = [r["value"] for r in resolutions]
    fine, coarse = reference.richardson(values[1:]), reference.richardson(values[:3])
    if abs(fine.observed_order - 2.0) > ORDER_TOLERANCE:
        raise SystemExit(
            f"{problem.name} d={dim}: observed order {fine.observed_order:.3f}, not 2 ± "
            f"{ORDER_TOLERANCE}: the grids are not in the asymptotic range; try a larger --steps"
        )
    largest = max(r["largest"] for r in resolutions)
    lip = lipschitz(source, largest)
    tail_bound = reference.far_boundary_bound(largest, lip, horizon, reference.TAIL)
    moved = reference.solve_radial(
        source, initial, dim, horizon, resolutions[-1]["steps"], tail=CHECK_TAIL
    ).value
    bound = max(2.0 * fine.correction, abs(fine.value - coarse.value)) + tail_bound
    linear_values = [r["linear_value"] for r in resolutions]
    linear_fit = reference.richardson(linear_values[1:])
    quadrature = reference.chi_square_mean(initial, dim, 2.0 * horizon)
    start = time.perf_counter()
    vectors = dim <= 100
    rng = np.random.default_rng([args.seed, dim, 0])
    mc = reference.monte_carlo_radial_mean(
        initial, dim, 2.0 * horizon, args.mc_samples, rng, vectors=vectors
    )
    mc_seconds = time.perf_counter() - start
    entry = {
        "method": RADIAL,
        "resolutions": resolutions,
        "extrapolation": fine._asdict(),
        "extrapolation_first_three": coarse._asdict(),
        "far_boundary": {
            "tail_x": reference.TAIL,
            "domain_end": reference.domain_end(dim, horizon),
            "lipschitz": lip,
            "bound": tail_bound,
            "moved_tail_x": CHECK_TAIL,
            "moved_minus_finest": moved - values[-1],
        },
        "value": fine.value,
        "bound": bound,
        "relative_bound": bound / abs(fine.value),
        "linear_check": {
            "quadrature": quadrature,
            "solver_finest": linear_values[-1],
            "solver_extrapolated": linear_fit.value,
            "solver_observed_order": linear_fit.observed_order,
            "solver_minus_quadrature": linear_fit.value - quadrature,
            "monte_carlo_mean": mc.mean,
            "monte_carlo_standard_error": mc.standard_error,
            "monte_carlo_samples": mc.samples,
            "monte_carlo_draws": "xi ~ N(0, I_d)" if vectors else "|xi|^2 ~ chi2_d",
            "monte_carlo_seconds": mc_seconds,
            "monte_carlo_minus_quadrature_in_se": (mc.mean - quadrature) / mc.standard_error,
            "solver_minus_monte_carlo_in_se": (linear_fit.value - mc.mean) / mc.standard_error,
        },
    }
    if args.picard_runs:
        rng = np.random.default_rng([args.seed, dim, 1])
        initial_x = lambda x: problem.initial_batch(np, x)
        check = picard_runs(source, initial_x, dim, horizon, args.level, args.picard_runs, rng)
        check["minus_ours_in_se"] = (check["mean"] - fine.value) / check["standard_error"]
        check["published_minus_ours_in_se"] = (problem.published_reference_u - fine.value) / check[
            "standard_error"
        ]
        entry["picard_check"] = check
    return entry


def max_moments(dim: int, scale: float) -> tuple[float, float]:
    """Mean and standard deviation of scale * max_i ξ_i, ξ ~ N(0, I_d), by quadrature of the
    density d φ(z) Φ(z)^{d-1} on [-12, 12]."""
    z = np.linspace(-12.0, 12.0, 240_001)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    density = dim * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) * cdf ** (dim - 1)
    weights = np.full(z.size, z[1] - z[0])
    weights[[0, -1]] /= 2.0
    mean = float((weights * density * z).sum())
    second = float((weights * density * z * z).sum())
    return scale * mean, scale * math.sqrt(second - mean * mean)


def picard_entry(problem, args: argparse.Namespace) -> dict:
    """Multilevel-Picard estimate of a non-radial problem and its bias check."""
    dim, horizon = problem.dim, problem.T
    bound = SOLUTION_BOUND.get(problem.name)
    source = clipped(lambda u: problem.source_batch(np, u), bound)
    initial = lambda x: problem.initial_batch(np, x)
    rng = np.random.default_rng([args.seed, dim, 1])
    estimate = picard_runs(source, initial, dim, horizon, args.level, args.runs, rng)
    entry = {
        "method": picard_source(args.level, args.runs),
        "clip": bound,
        **estimate,
        "value": estimate["mean"],
    }
    if args.compare_runs:
        rng = np.random.default_rng([args.seed, dim, 2])
        other = picard_runs(
            source, initial, dim, horizon, args.compare_level, args.compare_runs, rng
        )
        combined = math.hypot(other["standard_error"], estimate["standard_error"])
        other["minus_ours_in_se"] = (other["mean"] - estimate["mean"]) / combined
        entry["level_check"] = other
    if args.check_runs:
        alpha, beta = max_moments(dim, math.sqrt(2.0 * horizon))
        shape = lambda s: np.arctan(
            alpha + beta * (s / (2.0 * horizon * dim) - 1.0) / math.sqrt(2.0 / dim)
        )
        start = time.perf_counter()
        values = [
            reference.solve_radial(source, shape, dim, horizon, args.steps * f).value
            for f in (2, 4, 8)
        ]
        exact = reference.richardson(values)
        pde_seconds = time.perf_counter() - start
        rng = np.random.default_rng([args.seed, dim, 3])
        check = picard_runs(
            source, lambda x: shape((x * x).sum(-1)), dim, horizon, args.level, args.check_runs, rng
        )
        check.update(
            {
                "initial": "G(s) = arctan(alpha + beta (s / (2 T d) - 1) / sqrt(2 / d))",
                "alpha": alpha,
                "beta": beta,
                "radial_values": values,
                "radial_value": exact.value,
                "radial_observed_order": exact.observed_order,
                "radial_correction": exact.correction,
                "radial_seconds": pde_seconds,
                "minus_radial_in_se": (check["mean"] - exact.value) / check["standard_error"],
            }
        )
        entry["bias_check"] = check
    return entry


def table(problem_name: str, entries: dict) -> str:
    """The evidence as text: one block per dimension."""
    lines = [f"# {problem_name}: our u(0, T) and its accuracy (scripts/reference_values.py)", ""]
    for key in sorted(entries, key=int):
        entry, dim = entries[key], int(key)
        problem = problems.get(problem_name, dim)
        published = problem.published_reference_u
        lines += [f"## d = {dim}", f"command: {entry['command']}", f"method: {entry['method']}"]
        if "resolutions" in entry:
            lines.append(f"{'steps':>6} {'h':>10} {'nodes':>7} {'u(0,T)':>20} {'F=0':>20} {'s':>6}")
            for r in entry["resolutions"]:
                lines.append(
                    f"{r['steps']:>6} {r['h']:>10.3e} {r['nodes']:>7} {r['value']:>20.14f} "
                    f"{r['linear_value']:>20.14f} {r['seconds']:>6.2f}"
                )
            ex, first = entry["extrapolation"], entry["extrapolation_first_three"]
            far, lin = entry["far_boundary"], entry["linear_check"]
            lines += [
                f"Richardson (last three): {ex['value']:.14f}, observed order "
                f"{ex['observed_order']:.4f}, |extrapolated - finest| {ex['correction']:.2e}",
                f"Richardson (first three): {first['value']:.14f} (differs by "
                f"{abs(first['value'] - ex['value']):.2e})",
                f"far boundary: eta_max {far['domain_end']:.6f}, bound {far['bound']:.1e}; "
                f"tail x = {far['moved_tail_x']:g} changes the finest value by "
                f"{far['moved_minus_finest']:.1e}",
                f"bound: {entry['bound']:.2e} absolute, {entry['relative_bound']:.2e} relative",
                f"linear check (F = 0): quadrature {lin['quadrature']:.14f}; solver extrapolated "
                f"- quadrature {lin['solver_minus_quadrature']:.2e} (order "
                f"{lin['solver_observed_order']:.4f}); Monte Carlo ({lin['monte_carlo_samples']}"
                f" samples, {lin['monte_carlo_draws']}) {lin['monte_carlo_mean']:.8f} ± "
                f"{lin['monte_carlo_standard_error']:.2e}: MC - quadrature "
                f"{lin['monte_carlo_minus_quadrature_in_se']:+.2f} SE, solver - MC "
                f"{lin['solver_minus_monte_carlo_in_se']:+.2f} SE",
            ]
            if "picard_check" in entry:
                c = entry["picard_check"]
                lines.append(
                    f"Picard check (n = M = {c['level']}, {c['runs']} runs, {c['seconds']:.0f}"
                    f" s): {c['mean']:.6f} ± {c['standard_error']:.1e}: "
                    f"{c['minus_ours_in_se']:+.2f} SE from ours, published "
                    f"{c['published_minus_ours_in_se']:+.2f} SE from ours"
                )
            error = entry["bound"]
        else:
            lines.append(
                f"{entry['runs']} runs of U_(n,M), n = M = {entry['level']}: "
                f"{entry['mean']:.6f} ± {entry['standard_error']:.2e} (SE; one run's std "
                f"{entry['run_std']:.2e}); {entry['gaussian_vectors_per_run']} Gaussian "
                f"{dim}-vectors per run, {entry['normals_total']:.2e} normals, "
                f"{entry['seconds']:.0f} s"
            )
            if "level_check" in entry:
                c = entry["level_check"]
                lines.append(
                    f"level check: n = M = {c['level']}, {c['runs']} runs ({c['seconds']:.0f} s):"
                    f" {c['mean']:.6f} ± {c['standard_error']:.1e}: "
                    f"{c['minus_ours_in_se']:+.2f} combined SE from ours"
                )
            if "bias_check" in entry:
                c = entry["bias_check"]
                lines.append(
                    f"bias check (radial, Allen-Cahn F, {c['initial']}, alpha {c['alpha']:.6f}, "
                    f"beta {c['beta']:.6f}): radial solver {c['radial_value']:.8f} (order "
                    f"{c['radial_observed_order']:.3f}), Picard {c['mean']:.6f} ± "
                    f"{c['standard_error']:.1e} ({c['runs']} runs, {c['seconds']:.0f} s): "
                    f"{c['minus_radial_in_se']:+.2f} SE"
                )
            error = entry["standard_error"]
        value, (used, why) = entry["value"], acceptance(entry)
        lines += [
            f"ours {value:.10g} ± {error:.2e}; published {published:.10g}; published / ours "
            f"- 1 = {published / value - 1:+.2e} ({(published - value) / error:+.1f} x our "
            "error)",
            ("used as reference_value" if used else "NOT used (published value kept)") + f": {why}",
            "",
        ]
    return "\n".join(lines)


def round_up(value: float, digits: int = 3) -> str:
    """``value`` rounded up to ``digits`` significant digits, as a Python literal."""
    exponent = math.floor(math.log10(value)) - digits + 1
    mantissa = math.ceil(value / 10.0**exponent) / 10 ** (digits - 1)
    return f"{mantissa:.{digits - 1}f}e{exponent + digits - 1:+03d}"


def module_data(problem_name: str, entries: dict) -> str:
    """The ``REFERENCE`` entries for problems/semilinear.py."""
    lines = [f'    "{problem_name}": {{']
    for key in sorted(entries, key=int):
        entry = entries[key]
        if not entry["accepted"]:
            lines.append(f"        # {int(key)}: not used, {entry['acceptance']}")
            continue
        if "resolutions" in entry:
            source, error = "RADIAL", entry["bound"]
        else:
            source = f"picard_source({entry['level']}, {entry['runs']})"
            error = entry["standard_error"]
        lines.append(
            f"        {int(key)}: Reference({entry['value']!r}, {round_up(error)}, {source}),"
        )
    return "\n".join(lines + ["    },"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", required=True, choices=SEMILINEAR)
    parser.add_argument("--dim", type=int, nargs="+", required=True)
    parser.add_argument(
        "--steps",
        type=int,
        default=100,
        help="radial solver: coarsest number of steps (then x2, x4, x8)",
    )
    parser.add_argument("--mc-samples", type=int, default=4_000_000)
    parser.add_argument("--level", type=int, default=5, help="Picard level n (= M)")
    parser.add_argument("--runs", type=int, default=1000, help="Picard runs (Allen-Cahn)")
    parser.add_argument(
        "--check-runs",
        type=int,
        default=0,
        help="Picard runs of the radial bias check (Allen-Cahn)",
    )
    parser.add_argument(
        "--compare-level", type=int, default=6, help="Picard level of the level check"
    )
    parser.add_argument(
        "--compare-runs", type=int, default=0, help="Picard runs at --compare-level (Allen-Cahn)"
    )
    parser.add_argument(
        "--picard-runs",
        type=int,
        default=0,
        help="Picard runs as a cross-check of a radial problem",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/reference_values.py", *(argv or sys.argv[1:])])

    path = args.out / f"reference-values-{args.problem}.json"
    record = json.loads(path.read_text()) if path.exists() else {"problem": args.problem}
    entries = record.setdefault("entries", {})
    for dim in args.dim:
        problem = problems.get(args.problem, dim)
        start = time.perf_counter()
        entry = radial_entry(problem, args) if problem.radial else picard_entry(problem, args)
        entry.update(
            {
                "command": command,
                "dim": dim,
                "horizon": problem.T,
                "published": problem.published_reference_u,
                "published_as_printed": problem.published_reference_value,
                "seconds_total": time.perf_counter() - start,
            }
        )
        entries[str(dim)] = entry
        print(table(args.problem, {str(dim): entry}), flush=True)
    for entry in entries.values():
        entry["accepted"], entry["acceptance"] = acceptance(entry)
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    path.with_suffix(".txt").write_text(table(args.problem, entries))
    print(f"wrote {path} and {path.with_suffix('.txt')}")
    print(module_data(args.problem, entries))


if __name__ == "__main__":
    main()
