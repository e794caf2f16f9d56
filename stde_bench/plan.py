"""The plan of a sweep: its cells, what each measures, how long each will take (the ETA).

An ETA comes from this machine's earlier records of a comparable cell; without one, from
the paper's A100 it/s for a GPU profile, else from the stated CPU cost model below.  What
the cost model needs of a method is data on its estimator (``Estimator.cost_tangents``,
``Estimator.cost_passes``, ``Estimator.floor``), never a test of its id.
"""

from __future__ import annotations

import collections
import heapq
import time
from dataclasses import dataclass, replace
from pathlib import Path

from stde_bench.cell import FLOOR
from stde_bench.checkpoint import DEFAULT_DIR, Checkpoint, checkpoint_path
from stde_bench.config import TrainConfig
from stde_bench.profiles import Profile
from stde_bench.records import CellRecord, RecordStore, read_records
from stde_bench.sweep import Cell

#: The stated CPU cost model, where this machine has no earlier record of a comparable
#: cell.  Seconds per training step of N_r points, width w, depth L, |J| = K:
#:
#:     step_s = PER_ELEMENT_S · N_r · d                 sampling, ansatz, forcing, first layer
#:            + PER_DIRECTION_S · N_r · K' · w² · L      the derivative's passes, K' = min(K, d)
#:            + PER_TANGENT_S · N_r · w · d · T          materialized tangents (T below)
#:
#: with T = K for the one-hot tangents of the sampled methods, times
#: ``Estimator.cost_passes`` (2 for the SDGD family's HVPs, which carry each tangent
#: forward and back); T = d for a dense method (``cost_tangents == "dense"``, and K' = d);
#: T = 0 restricted to J or for the floor (no derivative: K' = 0 too).  An evaluation costs
#: PER_ELEMENT_S · n_test · d.  The constants are fitted on an idle 2-core EPYC to its
#: repro-cpu records (docs/findings.md#cpu-cost-model).
PER_ELEMENT_S = 5.2e-8
PER_DIRECTION_S = 1.0e-10
PER_TANGENT_S = 3.7e-11
COMPILE_S = 10.0


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    measures: str
    eta_s: float
    source: str  # "records of this machine[ (sibling P)]", "cost model", ...
    done: bool


def _operator(problem: str) -> str | None:
    """The derivative quantity the registered problem needs (``Problem.operator``)."""
    import problems

    try:
        return getattr(problems.REGISTRY.factory(problem), "operator", None)
    except ValueError:  # a record of a problem no longer registered
        return None


def _comparable(cell: Cell, record: CellRecord, sibling: bool = False) -> bool:
    """Whether ``record`` times what ``cell`` will run: the same problem, estimator,
    dimension and cost-relevant config; with ``sibling``, another problem that needs the
    same operator (the network and the estimator's work are the step's cost)."""
    c, r, default = cell.config, record.config, TrainConfig()
    same = ("samples", "n_residual", "width", "depth", "block", "restrict", "torch_compile")
    problem = (
        record.problem != cell.problem and _operator(record.problem) == _operator(cell.problem)
        if sibling
        else record.problem == cell.problem
    )
    return (
        problem
        and (record.estimator, record.dim) == (cell.estimator, cell.dim)
        and all(r.get(f, getattr(default, f)) == getattr(c, f) for f in same)
        and record.status == "ok"
        and bool(record.it_per_s)
    )


def _estimator(name: str):
    """The registered estimator class ``name`` (its cost attributes are class data)."""
    import estimators

    return estimators.REGISTRY.factory(name)


def _model_step_s(cell: Cell) -> float:
    """Seconds per step of the stated CPU cost model (see ``PER_ELEMENT_S``)."""
    c, d, method = cell.config, cell.dim, _estimator(cell.estimator)
    if method.floor:  # no derivative
        directions, tangents = 0, 0
    elif c.restrict:  # the network restricted to J: no d-sized tangents
        directions, tangents = min(c.samples, d), 0
    elif method.cost_tangents == "dense":
        directions, tangents = d, d
    else:
        directions, tangents = min(c.samples, d), c.samples * method.cost_passes
    return c.n_residual * (
        PER_ELEMENT_S * d
        + PER_DIRECTION_S * directions * c.width**2 * c.depth
        + PER_TANGENT_S * c.width * d * tangents
    )


#: GPU profiles without records: seconds per cell for compiling the step and what else the
#: cell's process does besides its steps; records of the machine replace it
#: (docs/findings.md#gpu-cell-overhead)
GPU_OVERHEAD_S = 12.0
#: seconds per cell outside its own ``duration_s``: the fresh process's imports (and on a
#: GPU its CUDA context; docs/findings.md#gpu-cell-overhead)
START_S = {"cpu": 3.0, "gpu": 6.5}


#: the paper's row that stands in for ours (restricted rows, the floor): STDE |J| = 16
PAPER_STAND_IN = ("stde-jax", "16")


def paper_rate(cell: Cell) -> float | None:
    """The paper's A100 it/s of the cell's method in Table 3 (two-body Allen-Cahn) at its
    dimension: at the cell's |J| if printed, else at the |J| printed (100: more work than
    a smaller |J|).  Our additions have no paper row: the restricted rows and the floor
    take STDE |J| = 16's (they do less work per step, so this overestimates their time).
    None where the paper printed OOM or nothing."""
    import csv
    from importlib import resources

    method, samples = cell.estimator, str(cell.config.samples)
    if cell.config.restrict or _estimator(method).floor:
        method, samples = PAPER_STAND_IN
    with resources.files("stde_bench").joinpath("data/stde_tables.csv").open() as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if (r["table"], r["metric"], r["method"], r["dim"])
            == ("3", "it_per_s", method, str(cell.dim))
        ]
    rows.sort(key=lambda r: r["batch"] != samples)  # the cell's own |J| first
    if not rows or rows[0]["value"] == "OOM":
        return None
    return float(rows[0]["value"])


def estimate_seconds(
    cell: Cell, history: list[CellRecord], device: str = "cpu"
) -> tuple[float, str]:
    """Wall seconds of ``cell`` from comparable records of this machine (their it/s, the
    evaluation share of their loop, their time outside the loop; a sibling problem's
    where the cell's own problem has none); else, for a GPU profile, the
    paper's A100 it/s plus ``GPU_OVERHEAD_S``; else the stated CPU cost model."""
    c = cell.config
    matches = [r for r in history if _comparable(cell, r)]
    sibling = not matches
    matches = matches or [r for r in history if _comparable(cell, r, sibling=True)]
    rate = paper_rate(cell) if device == "gpu" and not matches else None
    if matches:
        rec = max(matches, key=lambda r: r.steps_done or 0)
        step_s = 1.0 / rec.it_per_s
        overall = rec.it_per_s_overall or rec.it_per_s
        evals = c.steps // c.eval_every if c.measure != "speed" else 0
        if rec.error_history:  # its loop's time beyond its steps went to its evaluations
            eval_s = max(0.0, (rec.steps_done or 1) / overall - (rec.steps_done or 1) * step_s)
            eval_s *= c.n_test / max(1, rec.config.get("n_test", 1)) / len(rec.error_history)
        else:  # a speed record evaluated nothing: the cost model's evaluation
            eval_s = PER_ELEMENT_S * c.n_test * cell.dim
        # what the record's process spent besides its steps (compile, data, set-up)
        loop_s = (rec.steps_done or 0) / overall
        fixed_s = rec.duration_s - loop_s if rec.duration_s else rec.compile_s or 0
        seconds = max(fixed_s, 0.0) + c.steps * step_s + evals * eval_s
        source = "records of this machine" + (f" (sibling {rec.problem})" if sibling else "")
    elif device == "gpu":
        # no paper rate (OOM on its 40 GB): the cell runs until its budget or fails fast
        seconds = GPU_OVERHEAD_S + (c.steps / rate if rate else c.budget_s or 0)
        source = "paper's A100 it/s" if rate else "budget (paper: OOM or no row)"
    else:
        evals = c.steps // c.eval_every if c.measure != "speed" else 0
        evaluation_s = evals * PER_ELEMENT_S * c.n_test * cell.dim
        seconds = COMPILE_S + c.steps * _model_step_s(cell) + evaluation_s
        source = "cost model"
    if cell.paired_floor and not (matches and rec.floor_windows):  # and the floor's steps
        floor = replace(cell, estimator=FLOOR, config=c.replace(restrict=False), paired_floor=False)
        seconds += estimate_seconds(floor, history, device)[0] - START_S[device]  # one process
    if c.budget_s and seconds > c.budget_s:
        seconds = c.budget_s
        source += f"; reaches its {c.budget_s / 60:g} min budget: timeout"
    return seconds + START_S[device], source


def plan(
    cells: list[Cell],
    store: RecordStore,
    history: list[CellRecord],
    device: str = "cpu",
    code: str | None = None,
    overlap: bool = False,
    slots: int = 1,
) -> list[PlannedCell]:
    """The plan of a sweep: every cell, what it measures, its ETA and whether it is done.
    With ``overlap`` (``overlaps``) a cell's process start (``START_S``) is hidden behind
    the cell before it on its device, except for the first cell to run of each grid (one
    sweep each under asv) on each of the ``slots`` devices (``stde_bench.executors``)."""
    planned, grids_started = [], collections.Counter()
    for cell in cells:
        seconds, source = estimate_seconds(cell, history, device)
        done = store.finished(cell.key, code)
        if not done and not cell.skip_reason:
            if saved := _steps_checkpointed(cell):  # the steps left, from its checkpoint
                left = max(0.0, 1 - saved / cell.config.steps)
                seconds = START_S[device] + (seconds - START_S[device]) * left
                source += f"; resumes from its checkpoint at step {saved}"
            if overlap and grids_started[cell.grid] >= slots:
                seconds -= START_S[device]
            grids_started[cell.grid] += 1
        planned.append(PlannedCell(cell, _what(cell), seconds, source, done))
    return planned


def _steps_checkpointed(cell: Cell) -> int:
    """The steps the cell's checkpoint (``--checkpoint-dir``, else the default) has done;
    0 without one."""
    folder = cell.checkpoint_dir or DEFAULT_DIR
    if not checkpoint_path(folder, cell.key).exists():
        return 0
    saved = Checkpoint(folder, cell.key, _estimator(cell.estimator).backend).progress()
    return saved.steps_done if saved else 0


def _what(cell: Cell) -> str:
    c = cell.config
    if cell.skip_reason:
        return f"skipped: {cell.skip_reason}"
    return {
        "speed": f"speed + memory ({c.steps} timed steps)",
        "error": f"error ({c.steps} steps, eval every {c.eval_every}, {c.n_test} test pts)",
        "all": f"speed + memory + error ({c.steps} steps)",
    }[c.measure]


def wall_s(planned: list[PlannedCell], slots: int = 1) -> float:
    """Wall seconds of the cells still to run on ``slots`` devices at once, each cell in
    order taking the device that frees first (a list schedule, as the ``gpus`` executor
    runs them; one device: the sum)."""
    free = [0.0] * max(1, slots)  # a heap of the times the devices are free
    for p in planned:
        if not p.done and not p.cell.skip_reason:
            heapq.heapreplace(free, free[0] + p.eta_s)
    return max(free)


def format_plan(
    planned: list[PlannedCell], profile: Profile, overlap: bool = False, slots: int = 1
) -> str:
    """The dry-run table and the totals, in plain text."""
    lines = [f"profile {profile.name}: {profile.description}", ""]
    for p in planned:
        c = p.cell
        state = "done" if p.done else f"{p.eta_s / 60:6.1f} min"
        restrict = " restricted" if c.config.restrict else ""
        lines.append(
            f"  [{state:>10}] {c.grid:<22} {c.problem:<26} {c.estimator + restrict:<33} "
            f"d={c.dim:<8} J={c.config.samples:<4} seed={c.config.seed}  {p.measures}"
            f"  ({p.source})"
        )
    todo = [p for p in planned if not p.done and not p.cell.skip_reason]
    total = wall_s(todo, slots)
    from_records = sum(p.source.startswith("records of this machine") for p in todo)
    lines += [
        "",
        f"{len(planned)} cells, {len(planned) - len(todo)} done or skipped, {len(todo)} to run; "
        f"ETA {total / 3600:.2f} h ({total / 60:.0f} min) on this machine "
        + (f"with {slots} cells at once " if slots > 1 else "")
        + f"({from_records} of {len(todo)} from this machine's earlier records, the rest from "
        + (
            "the paper's A100 it/s, or the cell's budget where the paper printed OOM)."
            if profile.device == "gpu"
            else "the CPU cost model in stde_bench/sweep.py)."
        ),
    ]
    short = [p for p in todo if p.cell.config.measure != "speed" and "budget: timeout" in p.source]
    if short:
        lines.append(
            f"Warning: {len(short)} error cells reach their budget before their last step; "
            "they will be recorded as timeout with the errors reached by then "
            "(raise the grid's budget_s in stde_bench/profiles.py to train them through)."
        )
    if overlap:
        lines.append(
            f"Each cell's process starts while the cell before runs (--no-overlap: not): "
            f"its {START_S[profile.device]:g} s of start-up counted once per grid"
            + (f" and device ({slots} at once)." if slots > 1 else ".")
        )
    return "\n".join(lines)


def machine_history(root: Path, machine: str) -> list[CellRecord]:
    """Every record of ``machine`` under ``root`` (``results/cells``), for ETAs."""
    history: list[CellRecord] = []
    for path in sorted(root.glob("*.jsonl")):
        if path.name.startswith(f"{machine}-"):
            history += read_records(path)[0]
    return history


def other_hardware(history: list[CellRecord], here: dict) -> str | None:
    """A warning where the machine's records (``history``) ran on another CPU or GPU than
    ``here`` (this host's machine block): their speeds, memory and ETAs are not this host's."""
    cells = {r.key: r.machine for r in history if r.machine}  # a cell's latest record
    for key in ("gpu", "cpu"):
        seen = collections.Counter(machine.get(key) for machine in cells.values())
        others = {value: n for value, n in seen.items() if value != here.get(key)}
        if others:
            named = ", ".join(f"{value} ({n} cells)" for value, n in sorted(others.items()))
            return (
                f"this host's {key.upper()} is {here.get(key)}, but this machine name's "
                f"records ran on {named}: their speeds, memory and ETAs are not this host's; "
                f"name this host with --machine"
            )
    return None


def eta_clock(seconds: float) -> str:
    """``HH:MM`` local time ``seconds`` from now."""
    return time.strftime("%H:%M", time.localtime(time.time() + seconds))
