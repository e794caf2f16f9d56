"""Fault injection: real sweeps in real processes, hit by real faults.

Each test starts ``stde-bench sweep`` (the CLI's ``main``, in a fresh interpreter, in its
own process group) on a records file that already holds two finished cells, A and B, then
does one fault for real: SIGKILL of the sweep mid-cell, SIGINT to its process group or
SIGTERM to the sweep alone, a corrupted line, a second sweep on the same file, a cell over
its budget or over the sweep's ``--timeout``, a cell under an address-space limit.  Each
asserts that no finished cell is lost (the finished lines are still in the file, byte for
byte) and that what was recorded is the right outcome.

The cells are tiny (allen-cahn-two-body, stde-jax, d = 4, 4 steps, width 8); the time is
the interpreter, JAX import and compilation of each cell's process.  ``DRIVER`` registers
them as a profile, one grid per cell (so ``--grid`` picks cells and their order), and
prints a line for every record a sweep appends, so tests know exactly what each sweep
wrote.  With ``-s`` every test prints its records before and after the fault.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from stde_bench.config import TrainConfig
from stde_bench.records import CellRecord, cell_key, read_records

pytestmark = [
    pytest.mark.slow,  # each test runs real sweeps in subprocesses
    pytest.mark.skipif(
        not Path("/proc/self/stat").exists(), reason="finds a sweep's cell processes in /proc"
    ),
]

PROBLEM = "allen-cahn-two-body"
SMALL = TrainConfig(steps=4, eval_every=2, n_test=50, samples=2, n_residual=4, width=8, depth=2)
#: label -> (estimator, dim, config); A and B are the cells finished before each fault
CELLS = {
    "A": ("stde-jax", 4, SMALL.replace(seed=0)),
    "B": ("stde-jax", 4, SMALL.replace(seed=1)),
    "C": ("stde-jax", 4, SMALL.replace(seed=2)),
    "D": ("stde-jax", 4, SMALL.replace(seed=3)),
    # stops itself after its first timed window (the budget is checked after each window)
    "budget": ("stde-jax", 4, SMALL.replace(budget_s=1e-3)),
    # never finishes: only the sweep's --timeout ends it
    "endless": ("stde-jax", 4, SMALL.replace(steps=10**9, eval_every=10**9)),
    # 2,000,000 residual points at d = 200: a 16 GB allocation (conftest's OOM cell)
    "oom": ("stde-jax", 200, SMALL.replace(n_residual=2_000_000)),
}
LABEL = {cell_key(PROBLEM, e, d, c.asdict()): label for label, (e, d, c) in CELLS.items()}
#: address-space cap of the memory-limited sweep (as tests/stde_bench/conftest.py)
MEMORY_CAP_BYTES = 3_000_000 * 1024
#: CPU seconds a cell has run when the tests hit it mid-cell
CELL_CPU_S = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: seconds a sweep may take before the test gives up (generous: a loaded 2-core machine)
PATIENCE_S = 600

DRIVER = """
import json, signal, sys
# a terminal's Ctrl-C: default handling, even where this test run inherited SIGINT ignored
# (a background job of a non-interactive shell), as a sweep typed in a terminal has it
signal.signal(signal.SIGINT, signal.default_int_handler)
from stde_bench import cli, profiles
from stde_bench.config import TrainConfig
from stde_bench.records import RecordStore

grids = tuple(
    profiles.Grid(label, (problem,), (estimator,), (dim,), TrainConfig(**config),
                  seeds=(config["seed"],))
    for label, (problem, estimator, dim, config) in json.loads(sys.argv[1]).items()
)
profiles.PROFILES["faults"] = profiles.Profile("faults", grids, quality=grids[0])
append = RecordStore.put

def put_and_tell(store, record):
    append(store, record)
    print("appended", record.key, flush=True)

RecordStore.put = put_and_tell
sys.exit(cli.main(["sweep", "--profile", "faults", "--quiet", *sys.argv[2:]]))
"""


def _sweep(out: Path, *labels: str, options: tuple[str, ...] = ()) -> list[str]:
    """The command of a sweep over ``labels`` (in that order) into ``out``."""
    spec = {label: (PROBLEM, e, d, c.asdict()) for label, (e, d, c) in CELLS.items()}
    grids = [arg for label in labels for arg in ("--grid", label)]
    return [sys.executable, "-c", DRIVER, json.dumps(spec), "--out", str(out), *grids, *options]


def _start(cwd: Path, cmd: list[str], name: str = "sweep", **popen) -> subprocess.Popen:
    """Start ``cmd`` in its own process group, output to ``<cwd>/<name>.out|.err``."""
    env = os.environ | {"JAX_PLATFORMS": "cpu", "TMPDIR": str(cwd), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(cwd / f"{name}.out", "w") as out, open(cwd / f"{name}.err", "w") as err:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True, **popen
        )
    proc.name = name
    return proc


def _finish(proc: subprocess.Popen, cwd: Path) -> tuple[int, str, str]:
    """Wait for ``proc``: its exit code, stdout and stderr; no process of its group left."""
    try:
        proc.wait(timeout=PATIENCE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{proc.name} ran past {PATIENCE_S} s")
    deadline = time.monotonic() + 30
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group(proc.pid), f"processes left running: {_group(proc.pid)}"
    read = lambda suffix: (cwd / f"{proc.name}{suffix}").read_text()
    return proc.returncode, read(".out"), read(".err")


def _run(cwd: Path, cmd: list[str], **popen) -> tuple[int, str, str]:
    return _finish(_start(cwd, cmd, **popen), cwd)


def _group(pgid: int) -> dict[str, float]:
    """Command line -> CPU seconds of each live (not zombie) process of group ``pgid`` or
    child of its leader (a cell is a child of the sweep)."""
    members = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue  # exited meanwhile
        state, parent, group = fields[0], int(fields[1]), int(fields[2])
        user_ticks, system_ticks = fields[11], fields[12]
        if pgid in (group, parent) and state != "Z":
            members[cmdline] = (int(user_ticks) + int(system_ticks)) / CLOCK_TICKS
    return members


def _cell_running(proc: subprocess.Popen) -> bool:
    """Whether the sweep ``proc`` has a cell process (``stde-bench run``) that has run for
    ``CELL_CPU_S`` CPU seconds: well into its imports or compilation, not just forked."""
    cells = [cpu for cmd, cpu in _group(proc.pid).items() if "stde_bench.cli run" in cmd]
    return any(cpu >= CELL_CPU_S for cpu in cells)


def _wait_until(condition, proc: subprocess.Popen, cwd: Path) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if proc.poll() is not None:
            code, out, err = _finish(proc, cwd)
            pytest.fail(f"the sweep ended (exit {code}) before the fault:\n{out}\n{err}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"condition not met in {PATIENCE_S} s")
        time.sleep(0.05)


def _lines(path: Path) -> list[bytes]:
    """The file's lines as bytes (split at newlines only, each with its newline)."""
    with open(path, "rb") as fh:
        return fh.readlines()


def _records(path: Path) -> list[CellRecord]:
    records, bad = read_records(path)
    assert not bad, f"bad lines: {bad}"
    return records


def _appended(stdout: str) -> list[str]:
    """Labels of the cells a sweep appended, in order (from DRIVER's lines)."""
    return [LABEL[line.split()[1]] for line in stdout.splitlines() if line.startswith("appended ")]


def _show(records: list[CellRecord]) -> str:
    return ", ".join(f"{LABEL[r.key]} {r.status}" for r in records) or "none"


def _note(fault: str, before: list[CellRecord], after: list[CellRecord], what: str) -> None:
    """One row of the faults table (shown with ``pytest -s``)."""
    print(f"\n[{fault}] before: {_show(before)} | after: {_show(after)} | {what}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> bytes:
    """A records file in which a sweep finished cells A and B (its bytes)."""
    cwd = tmp_path_factory.mktemp("finished")
    out = cwd / "records.jsonl"
    code, stdout, err = _run(cwd, _sweep(out, "A", "B"))
    assert code == 0, err
    assert [(LABEL[r.key], r.status) for r in _records(out)] == [("A", "ok"), ("B", "ok")]
    return out.read_bytes()


@pytest.fixture
def records(finished, tmp_path) -> Path:
    """A private copy of the finished records file, for one fault."""
    out = tmp_path / "records.jsonl"
    out.write_bytes(finished)
    return out


def test_sigkill_mid_cell_loses_no_finished_cell_and_the_same_command_resumes(records, tmp_path):
    cmd = _sweep(records, "A", "B", "C", "D")
    proc = _start(tmp_path, cmd)
    # C finished in this sweep and D is running: kill the sweep and its cell
    _wait_until(lambda: len(_lines(records)) == 3 and _cell_running(proc), proc, tmp_path)
    os.killpg(proc.pid, signal.SIGSTOP)  # freeze, so "before" is exactly what was on disk
    before = _lines(records)
    os.killpg(proc.pid, signal.SIGKILL)
    code, _, _ = _finish(proc, tmp_path)
    assert code == -signal.SIGKILL
    assert _lines(records) == before, "the kill changed the records file"
    killed = _records(records)
    assert [(LABEL[r.key], r.status) for r in killed] == [("A", "ok"), ("B", "ok"), ("C", "ok")]

    code, stdout, err = _run(tmp_path, cmd, name="resume")
    assert code == 0, err
    assert _appended(stdout) == ["D"]  # nothing finished is run again
    assert _lines(records)[:3] == before  # ... or rewritten
    after = _records(records)
    assert [(LABEL[r.key], r.status) for r in after] == [(c, "ok") for c in "ABCD"]
    _note("SIGKILL mid-cell D", killed, after, "D not recorded by the killed sweep; resume ran D")


#: signal -> how it is sent: Ctrl-C in a terminal signals the process group; `kill PID`
#: (or a scheduler's stop) signals the sweep alone, which must stop its own cells
STOPS = {signal.SIGINT: os.killpg, signal.SIGTERM: os.kill}


@pytest.mark.parametrize("stop", list(STOPS), ids=lambda s: s.name)
def test_sigint_or_sigterm_says_how_to_resume_and_records_nothing_half_done(
    stop, records, tmp_path
):
    proc = _start(tmp_path, _sweep(records, "A", "B", "C"))
    _wait_until(lambda: _cell_running(proc), proc, tmp_path)
    before = _lines(records)
    STOPS[stop](proc.pid, stop)
    code, _, err = _finish(proc, tmp_path)
    assert code == 128 + stop, err
    n = len(before)
    assert f"interrupted: {n} cells recorded in {records}; run the same command to resume" in err
    assert "Traceback" not in err, err
    assert _lines(records) == before  # the interrupted cell C is not recorded
    after = _records(records)
    assert len(after) == n and "C" not in {LABEL[r.key] for r in after}
    _note(f"{stop.name} mid-cell C", _records_of(before), after, f"exit {code}, 'interrupted'")


def _records_of(lines: list[bytes]) -> list[CellRecord]:
    return [CellRecord.from_json(json.loads(line)) for line in lines]


GARBAGE = {
    "truncated-json": b'{"schema": "stde-bench/cell/2", "problem": "allen-ca\n',
    "not-utf8": b"\x00\xff\xfe\x9c\xe9 bytes that are not text\n",
    "json-not-an-object": b"[1, 2]\n",
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_corrupted_line_is_named_moved_aside_and_every_good_record_kept(
    records, tmp_path, garbage
):
    good = _lines(records)
    records.write_bytes(good[0] + garbage + good[1])  # garbage in the middle: line 2
    code, stdout, err = _run(tmp_path, _sweep(records, "A", "B"))
    assert code == 0, err
    corrupt = records.with_name(records.name + ".corrupt")
    assert f"{records}:2:" in err and f"moved to {corrupt}" in err, err
    assert "Traceback" not in err, err
    assert corrupt.read_bytes() == garbage
    assert _lines(records) == good  # every good record kept, byte for byte
    assert _appended(stdout) == []  # ... and used: A and B are not run again
    after = _records(records)
    _note(f"corrupt line 2 ({garbage[:12]!r})", _records_of(good), after, "moved to .corrupt")


def test_a_last_line_without_its_newline_loses_nothing(records, tmp_path):
    """A file whose last record lost its newline (a hand edit, a copy): the next record
    appended must not be glued to it (one unreadable line = two lost cells)."""
    records.write_bytes(records.read_bytes().rstrip(b"\n"))
    code, stdout, err = _run(tmp_path, _sweep(records, "A", "B", "C"))
    assert code == 0, err
    assert _appended(stdout) == ["C"]
    after = _records(records)  # fails on a glued line
    assert [(LABEL[r.key], r.status) for r in after] == [(c, "ok") for c in "ABC"]
    _note("last line without newline", after[:2], after, "C appended on its own line")


def test_two_sweeps_on_one_file_lose_no_record(records, tmp_path):
    before, finished_lines = _records(records), _lines(records)
    first = _start(tmp_path, _sweep(records, *"ABCD", options=("--machine", "one")), "one")
    second = _start(tmp_path, _sweep(records, *"DCBA", options=("--machine", "two")), "two")
    runs = {name: _finish(proc, tmp_path) for name, proc in (("one", first), ("two", second))}
    for code, _, err in runs.values():
        assert code == 0, err
    appended = Counter(
        (name, label) for name, (_, out, _) in runs.items() for label in _appended(out)
    )
    assert _lines(records)[:2] == finished_lines
    after = _records(records)
    in_file = Counter((r.asv_machine, LABEL[r.key]) for r in after[2:])
    assert in_file == appended  # every record either sweep appended is there
    assert {LABEL[r.key] for r in after} == set("ABCD") and {r.status for r in after} == {"ok"}
    assert not {label for _, label in appended} & {"A", "B"}
    ran = ", ".join(f"{name} ran {label}" for name, label in sorted(appended))
    _note("two sweeps on one file", before, after, ran)


def test_a_cell_over_its_budget_is_a_timeout_with_partial_measurements(records, tmp_path):
    before = _records(records)
    code, stdout, err = _run(tmp_path, _sweep(records, "A", "B", "budget"))
    assert code == 0, err
    assert _appended(stdout) == ["budget"]
    after = _records(records)
    assert after[:2] == before
    cell = after[2]
    assert cell.status == "timeout", cell.reason
    assert "budget of 0.001 s reached" in cell.reason
    assert 0 < cell.steps_done < cell.config["steps"]
    assert cell.timed_windows and cell.it_per_s > 0 and cell.compile_s > 0
    assert cell.error_history and cell.error_final is not None and cell.memory_mb > 0
    what = f"timeout after {cell.steps_done} of {cell.config['steps']} steps, measurements kept"
    _note("budget_s = 1 ms", before, after, what)


def test_a_cell_over_the_sweep_timeout_is_killed_and_recorded_as_timeout(records, tmp_path):
    before = _records(records)
    limit = 3
    options = ("--timeout", str(limit))
    code, stdout, err = _run(tmp_path, _sweep(records, "A", "B", "endless", options=options))
    assert code == 0, err  # _finish also checked that the killed cell is gone
    after = _records(records)
    assert after[:2] == before
    cell = after[2]
    assert LABEL[cell.key] == "endless" and cell.status == "timeout"
    assert cell.reason == f"killed after {limit} s" and cell.steps_done is None
    _note(f"sweep --timeout {limit}", before, after, f"timeout: {cell.reason}")


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def test_a_cell_under_a_memory_limit_is_recorded_as_oom(records, tmp_path):
    before = _records(records)
    code, stdout, err = _run(tmp_path, _sweep(records, "A", "B", "oom"), preexec_fn=_cap_memory)
    assert code == 0, err
    assert _appended(stdout) == ["oom"]
    after = _records(records)
    assert after[:2] == before
    cell = after[2]
    assert cell.status == "oom", f"{cell.status}: {cell.reason}"
    assert "RESOURCE_EXHAUSTED" in cell.reason or "MemoryError" in cell.reason
    _note("RLIMIT_AS 3 GB", before, after, f"oom: {cell.reason[:70]}")
