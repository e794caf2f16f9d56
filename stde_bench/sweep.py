"""Sweeps: every cell in a fresh process (so peak memory is the cell's own), outcomes
recorded as they finish, resumable; and the plan of a sweep with its ETA.

Records live in a JSON-lines ``RecordStore``: each finished cell is appended under a lock,
so a crash, Ctrl-C or a second sweep on the same file loses no finished cell, and running
the same sweep again skips the cells already recorded (by key: the cell and its full
config) except those recorded as ``error``, which it runs again.  A cell that dies
without writing its record is classified from its exit: out-of-memory (allocator
message, or killed by SIGKILL, as the kernel's OOM killer does), timeout, or error with
the tail of its stderr.  Ctrl-C ends the sweep with ``Interrupted`` (the CLI prints how to
resume and exits 130); the interrupted cell is not recorded.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from stde_bench.cell import FLOOR, PROGRESS_ENV, TURN_ENV, base_record, is_oom
from stde_bench.checkpoint import DEFAULT_DIR, discard
from stde_bench.config import TrainConfig
from stde_bench.profiles import Grid, Profile, cell_config
from stde_bench.records import CellRecord, RecordStore, cell_key, read_record

#: seconds a cell may run past its budget (compilation, evaluation) before it is killed
BUDGET_GRACE_S = 300
#: set for a cell's process: the pid of the sweep it must not outlive
PARENT_ENV = "STDE_BENCH_SWEEP_PID"
#: seconds between looks at a running cell (its exit, its progress, its hard timeout)
POLL_S = 2.0


def die_with_sweep() -> None:
    """In a cell's process: ask Linux to SIGKILL it when its sweep dies (even by SIGKILL),
    so a killed sweep leaves no orphan cell running (``prctl(PR_SET_PDEATHSIG)``)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != int(parent):  # the sweep died before the request took effect
        os._exit(1)


@dataclass(frozen=True)
class Cell:
    problem: str
    estimator: str
    dim: int
    config: TrainConfig
    skip_reason: str | None = None
    profile: str | None = None
    grid: str | None = None
    paired_floor: bool = False  # time the floor beside it (``run_cell``); not in the key
    checkpoint_dir: Path | None = None  # where it checkpoints (``run_cell``); not in the key

    @property
    def key(self) -> str:
        return cell_key(self.problem, self.estimator, self.dim, self.config.asdict())


class Interrupted(Exception):
    """Ctrl-C during a sweep: ``recorded`` cells are in ``path``; the same command resumes."""

    def __init__(self, recorded: int, path: Path) -> None:
        super().__init__(
            f"interrupted: {recorded} cells recorded in {path}; run the same command to resume"
        )
        self.recorded, self.path = recorded, path


def grid_cells(grid: Grid, profile: Profile | None = None) -> list[Cell]:
    """Every cell of a profile grid, once per seed, with the grid's skip reasons."""
    name = profile.name if profile else None
    return [
        Cell(
            p,
            e,
            d,
            cell_config(grid, d, s),
            grid.skip_reason(e, d),
            name,
            grid.name,
            grid.paired_floor,
        )
        for p, e, d in grid.cells()
        for s in grid.seeds
    ]


def hard_timeout(cell: Cell, timeout: float | None) -> float | None:
    """Seconds after which the cell's process is killed: the sweep's ``timeout``, else the
    cell's budget plus ``BUDGET_GRACE_S`` (the cell itself stops at its budget and keeps
    its measurements; the kill is the backstop for a step that never returns)."""
    budget = cell.config.budget_s
    return timeout if timeout is not None else (budget + BUDGET_GRACE_S if budget else None)


def overlaps(device: str, cores: int | None = None) -> bool:
    """Whether a sweep starts the next cell's process while a cell runs (``ahead`` = 1):
    on a GPU profile with 8 or more CPU cores.  The process started ahead does only CPU
    work (interpreter, imports, the machine block: about 6.5 s a cell on the H100) and
    waits for its turn, given once the running cell's process has exited, so no two cells
    share the device.  Not on a CPU profile: start-up there would share the cores that
    time the running cell.  ``cores``: the planned machine's (default: this one's)."""
    return device == "gpu" and (cores or os.cpu_count() or 1) >= 8


@dataclass
class Started:
    """A cell whose process is started (``proc``; None for a cell skipped by its grid)."""

    cell: Cell
    base: CellRecord
    where: dict
    proc: subprocess.Popen | None = None
    tmp: tempfile.TemporaryDirectory | None = None
    ahead: bool = False  # waits for its turn


def start_cell(cell: Cell, asv_machine: str | None = None, ahead: bool = False) -> Started:
    """Start ``stde-bench run`` for one cell in a fresh interpreter; with ``ahead`` the
    process waits for its turn (``finish_cell`` gives it) before touching the device."""
    where = {"asv_machine": asv_machine, "profile": cell.profile, "grid": cell.grid}
    base = base_record(cell.problem, cell.estimator, cell.dim, cell.config, **where)
    if cell.skip_reason:
        return Started(cell, base.replace(reason=cell.skip_reason), where)
    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name)  # record.json, progress, stdout, stderr of the cell
    cmd = [
        sys.executable, "-m", "stde_bench.cli", "run", "--quiet",
        "--problem", cell.problem, "--estimator", cell.estimator, "--dim", str(cell.dim),
        "--config-json", json.dumps(cell.config.asdict()), "--json", str(folder / "record.json"),
        "--keep-checkpoint",  # removed once the record is stored (``sweep``)
    ] + checkpoint_flags(cell) + ["--paired-floor"] * cell.paired_floor  # fmt: skip
    # in the sweep's process group, so Ctrl-C reaches the cell too; and the cell dies
    # with the sweep, however the sweep dies (``die_with_sweep``)
    env = os.environ | {PARENT_ENV: str(os.getpid()), PROGRESS_ENV: str(folder / "progress")}
    env |= {TURN_ENV: "1"} if ahead else {}
    # output to files, not pipes: the sweep polls the cell, a full pipe would block it
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        stdin = subprocess.PIPE if ahead else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err, text=True, env=env)
    return Started(cell, base, where, proc, tmp, ahead)


def checkpoint_flags(cell: Cell) -> list[str]:
    """``stde-bench run``'s checkpoint options for the cell (``TrainConfig.RUN_OPTIONS``
    are not in ``--config-json``)."""
    every, folder = cell.config.checkpoint_every, cell.checkpoint_dir
    flags = ["--checkpoint-every", str(every)] if every is not None else []
    return flags + (["--checkpoint-dir", str(folder)] if folder is not None else [])


def finish_cell(
    started: Started,
    timeout: float | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> CellRecord:
    """Give a started cell its turn and wait for its record; always returns one.  The
    cell's hard timeout (``hard_timeout``) counts from its turn; every ``POLL_S`` its
    progress line (``stde_bench.cell.report_progress``) goes to ``on_progress``.  A cell
    that dies without writing its record is classified from its exit (see the module
    docstring)."""
    proc, base = started.proc, started.base
    if proc is None:
        return base
    limit = hard_timeout(started.cell, timeout)
    with started.tmp as tmp:
        folder, turn = Path(tmp), time.monotonic()
        try:
            if started.ahead:
                with contextlib.suppress(BrokenPipeError):  # it died before its turn
                    proc.stdin.write("go\n")
                    proc.stdin.close()
            while proc.poll() is None:
                if limit is not None and time.monotonic() - turn > limit:
                    _kill(proc)
                    return base.replace(status="timeout", reason=f"killed after {limit:.0f} s")
                if on_progress and (folder / "progress").exists():
                    on_progress((folder / "progress").read_text())
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(POLL_S)
        except BaseException:
            _kill(proc)
            raise
        if (folder / "record.json").exists():
            return read_record(folder / "record.json").replace(**started.where)
        stderr = (folder / "stderr").read_text()
    tail = stderr[-2000:]
    status = "oom" if proc.returncode in (-9, 137) or is_oom(tail) else "error"
    return base.replace(status=status, reason=f"exit {proc.returncode}: {tail}")


def run_in_subprocess(
    cell: Cell, timeout: float | None, asv_machine: str | None = None
) -> CellRecord:
    """``stde-bench run`` for one cell in a fresh interpreter; always returns a record."""
    return finish_cell(start_cell(cell, asv_machine), timeout)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def sweep(
    cells: list[Cell],
    store: RecordStore,
    *,
    timeout: float | None = None,
    progress: bool = True,
    asv_machine: str | None = None,
    code: str | None = None,
    ahead: int = 0,
) -> RecordStore:
    """Run every cell not yet in ``store`` (with ``code``: not yet measured by that code
    version); record each outcome as soon as it is known.  With ``ahead`` = 1 the next
    cell's process starts while a cell runs and waits for its turn (``overlaps``).

    Before each cell starts the store is re-read, so cells another sweep recorded
    meanwhile are skipped.  Ctrl-C raises ``Interrupted``.
    """
    from tqdm import tqdm

    todo = iter([c for c in cells if not store.finished(c.key, code)])
    left = sum(not store.finished(c.key, code) for c in cells)
    bar = tqdm(
        total=left, unit="cell", disable=not progress, desc=f"sweep ({len(cells) - left} done)"
    )
    queue: collections.deque[Started] = collections.deque()

    def top_up() -> None:  # the running cell plus ``ahead`` started ones
        while sum(s.proc is not None for s in queue) < 1 + ahead:
            cell = next(todo, None)
            if cell is None:
                return
            store.refresh()
            if store.finished(cell.key, code):
                bar.update(1)
                continue
            queue.append(start_cell(cell, asv_machine, ahead=ahead > 0))

    try:
        top_up()
        while queue:
            head = queue.popleft()
            bar.set_postfix_str(head.cell.key, refresh=True)
            show = lambda line, key=head.cell.key: bar.set_postfix_str(f"{key}: {line}")  # noqa: E731
            record = finish_cell(head, timeout, on_progress=show)
            store.put(record)
            if record.status == "ok":  # stored: its checkpoint is done with
                discard(head.cell.checkpoint_dir or DEFAULT_DIR, head.cell.key)
            bar.update(1)
            top_up()
    except KeyboardInterrupt:
        for started in queue:
            if started.proc is not None:
                _kill(started.proc)
                started.tmp.cleanup()
        bar.close()
        store.refresh()
        raise Interrupted(sum(store.finished(c.key, code) for c in cells), store.path) from None
    bar.close()
    return store


# --- the plan: cells, what each measures, how long it will take ------------------------

#: The stated CPU cost model, where this machine has no earlier record of a comparable
#: cell.  Seconds per training step of N_r points, width w, depth L, |J| = K:
#:
#:     step_s = PER_ELEMENT_S · N_r · d                 sampling, ansatz, forcing, first layer
#:            + PER_DIRECTION_S · N_r · K' · w² · L      the derivative's passes, K' = min(K, d)
#:            + PER_TANGENT_S · N_r · w · d · T          materialized tangents (T below)
#:
#: with T = K for the one-hot tangents of the paper's sampled methods (2K for the SDGD
#: family, whose HVPs carry each tangent forward and back: faithful sdgd-parallel-jax at
#: 10^5 runs at 0.386 it/s, STDE at 0.838), d for the dense
#: Forward Laplacian / exact Hessian, 0 restricted to J or for the floor (no derivative:
#: K' = 0 too).  An evaluation costs PER_ELEMENT_S · n_test · d.  Fitted, on an idle
#: 2-core EPYC, to results/cells/cpu-epyc-2core-repro-cpu.jsonl: the floor at 10^5 and
#: 10^6 (0.54 and 5.4 s/step: PER_ELEMENT_S), STDE |J| = 16 at d = 100 (82 it/s:
#: PER_DIRECTION_S) and at 10^5 (0.83 it/s: PER_TANGENT_S); it predicts STDE at 10^6
#: within 1.3× (12.8 s/step for 16.5 measured) and over-predicts d = 1000 by up to 1.6×.
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


def _model_step_s(cell: Cell) -> float:
    """Seconds per step of the stated CPU cost model (see ``PER_ELEMENT_S``)."""
    c, d = cell.config, cell.dim
    directions = 0 if cell.estimator == "primal-jax" else min(c.samples, d)
    if cell.estimator == "primal-jax" or c.restrict:
        tangents = 0
    elif cell.estimator in ("forward-laplacian-jax", "exact-jax"):
        tangents, directions = d, d
    else:
        tangents = c.samples * (2 if cell.estimator.startswith("sdgd-") else 1)
    return c.n_residual * (
        PER_ELEMENT_S * d
        + PER_DIRECTION_S * directions * c.width**2 * c.depth
        + PER_TANGENT_S * c.width * d * tangents
    )


#: GPU profiles without records: seconds per cell for compiling the step and what else the
#: cell's process does besides its steps (H100, gpu-quick at a18ea30d: 8 to 13 s of a
#: cell's ``duration_s`` for 200 steps that take 0.2 s); records of the machine replace it
GPU_OVERHEAD_S = 12.0
#: seconds per cell outside its own ``duration_s``: the fresh process's imports and CUDA
#: context.  GPU: the first gpu-quick piece on an H100 ran 480 s under asv for 25 cells whose
#: durations add up to 316 s, 6.6 s per cell (asv's discovery included).  CPU: imports.
START_S = {"cpu": 3.0, "gpu": 6.5}


def paper_rate(cell: Cell) -> float | None:
    """The paper's A100 it/s of the cell's method in Table 3 (two-body Allen-Cahn) at its
    dimension: at the cell's |J| if printed, else at the |J| printed (100: more work than
    a smaller |J|).  Our additions have no paper row: the restricted rows and the floor
    take STDE |J| = 16's (they do less work per step, so this overestimates their time).
    None where the paper printed OOM or nothing."""
    import csv
    from importlib import resources

    method, samples = cell.estimator, str(cell.config.samples)
    if cell.config.restrict or method == "primal-jax":
        method, samples = "stde-jax", "16"
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
) -> list[PlannedCell]:
    """The plan of a sweep: every cell, what it measures, its ETA and whether it is done.
    With ``overlap`` (``overlaps``) a cell's process start (``START_S``) is hidden behind
    the cell before it, except for the first cell to run of each grid (one sweep each
    under asv)."""
    planned, grids_started = [], set()
    for cell in cells:
        seconds, source = estimate_seconds(cell, history, device)
        done = store.finished(cell.key, code)
        if not done and not cell.skip_reason:
            if overlap and cell.grid in grids_started:
                seconds -= START_S[device]
            grids_started.add(cell.grid)
        planned.append(PlannedCell(cell, _what(cell), seconds, source, done))
    return planned


def _what(cell: Cell) -> str:
    c = cell.config
    if cell.skip_reason:
        return f"skipped: {cell.skip_reason}"
    return {
        "speed": f"speed + memory ({c.steps} timed steps)",
        "error": f"error ({c.steps} steps, eval every {c.eval_every}, {c.n_test} test pts)",
        "all": f"speed + memory + error ({c.steps} steps)",
    }[c.measure]


def format_plan(planned: list[PlannedCell], profile: Profile, overlap: bool = False) -> str:
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
    total = sum(p.eta_s for p in todo)
    from_records = sum(p.source.startswith("records of this machine") for p in todo)
    lines += [
        "",
        f"{len(planned)} cells, {len(planned) - len(todo)} done or skipped, {len(todo)} to run; "
        f"ETA {total / 3600:.2f} h ({total / 60:.0f} min) on this machine "
        f"({from_records} of {len(todo)} from this machine's earlier records, the rest from "
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
            f"its {START_S[profile.device]:g} s of start-up counted once per grid."
        )
    return "\n".join(lines)


def machine_history(root: Path, machine: str) -> list[CellRecord]:
    """Every record of ``machine`` under ``root`` (``results/cells``), for ETAs."""
    from stde_bench.records import read_records

    history: list[CellRecord] = []
    for path in sorted(root.glob("*.jsonl")):
        if path.name.startswith(f"{machine}-"):
            history += read_records(path)[0]
    return history


def eta_clock(seconds: float) -> str:
    """``HH:MM`` local time ``seconds`` from now."""
    return time.strftime("%H:%M", time.localtime(time.time() + seconds))
