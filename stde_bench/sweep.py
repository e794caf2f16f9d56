"""Sweeps: every cell in a fresh process (so peak memory is the cell's own), outcomes
recorded as they finish, resumable.  The plan of a sweep and its ETA: ``stde_bench.plan``.

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
from dataclasses import dataclass
from pathlib import Path

from stde_bench.cell import PROGRESS_ENV, TURN_ENV, base_record, is_oom
from stde_bench.checkpoint import DEFAULT_DIR, discard
from stde_bench.config import TrainConfig
from stde_bench.profiles import Grid, Profile, cell_config
from stde_bench.provenance import Provenance
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


def start_cell(
    cell: Cell,
    asv_machine: str | None = None,
    ahead: bool = False,
    env: dict[str, str] | None = None,
    provenance: Provenance | None = None,
) -> Started:
    """Start ``stde-bench run`` for one cell in a fresh interpreter; with ``ahead`` the
    process waits for its turn (``finish_cell`` gives it) before touching the device.
    ``env``: variables of the cell's process besides this one's (the ``gpus`` executor's
    ``CUDA_VISIBLE_DEVICES``).  ``provenance``: the sweep's, handed to the cell's process
    (default ``Provenance.current``)."""
    provenance = provenance or Provenance.current(asv_machine)
    where = {"asv_machine": provenance.asv_machine, "profile": cell.profile, "grid": cell.grid}
    base = base_record(cell.problem, cell.estimator, cell.dim, cell.config, "skipped", provenance)
    base = base.replace(**where)
    if cell.skip_reason:
        return Started(cell, base.replace(reason=cell.skip_reason), where)
    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name)  # record.json, progress, stdout, stderr of the cell
    cmd = [
        sys.executable,
        "-m",
        "stde_bench.cli",
        "run",
        "--quiet",
        "--problem",
        cell.problem,
        "--estimator",
        cell.estimator,
        "--dim",
        str(cell.dim),
        "--config-json",
        json.dumps(cell.config.asdict()),
        "--json",
        str(folder / "record.json"),
        "--keep-checkpoint",  # removed once the record is stored (``sweep``)
    ] + [f"--{k}={v}" for k, v in where.items() if k != "asv_machine" and v is not None]
    cmd += checkpoint_flags(cell) + ["--paired-floor"] * cell.paired_floor  # fmt: skip
    # in the sweep's process group, so Ctrl-C reaches the cell too; and the cell dies
    # with the sweep, however the sweep dies (``die_with_sweep``)
    env = os.environ | (env or {}) | provenance.env() | {PARENT_ENV: str(os.getpid())}
    env |= {PROGRESS_ENV: str(folder / "progress")}
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
            return read_record(folder / "record.json")
        stderr = (folder / "stderr").read_text()
    tail = stderr[-2000:]
    status = "oom" if proc.returncode in (-9, 137) or is_oom(tail) else "error"
    code = proc.returncode
    how = f"killed by {signal.Signals(-code).name} (exit {code})" if code < 0 else f"exit {code}"
    return base.replace(status=status, reason=f"{how}: {tail or 'nothing on stderr'}")


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
    provenance: Provenance | None = None,
) -> RecordStore:
    """Run every cell not yet in ``store`` (with ``code``: not yet measured by that code
    version); record each outcome as soon as it is known.  With ``ahead`` = 1 the next
    cell's process starts while a cell runs and waits for its turn (``overlaps``).
    ``provenance`` (default: computed once here) goes to every cell.

    Before each cell starts the store is re-read, so cells another sweep recorded
    meanwhile are skipped.  Ctrl-C raises ``Interrupted``.
    """
    from tqdm import tqdm

    provenance = provenance or Provenance.current(asv_machine)
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
            queue.append(start_cell(cell, asv_machine, ahead > 0, provenance=provenance))

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
