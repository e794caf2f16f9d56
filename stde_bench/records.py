"""Cell records: one typed record per trained cell, written and read through this module.

A ``CellRecord`` (schema ``stde-bench/cell/2``) holds the cell (problem, estimator, dim,
the full ``TrainConfig``), its outcome (``status`` one of ``STATUSES``, with a ``reason``),
every measurement with the method used to take it, the machine block, and where it came
from: the asv machine name, the profile and grid, and the code version.

The key of a cell is its problem, estimator and dimension plus a hash of the full config
(``cell_key``): a cell run with any other option (steps, width, N_r, restriction, budget
...) is a different cell.  The code version is the git commit, plus ``-dirty-<hash of the
diff>`` when the code has uncommitted edits (``code_version``).

Files: a single record is a JSON object (``write_json_atomic``); a sweep's records are a
JSON-lines file (``RecordStore``) to which each finished cell is appended under an
exclusive lock, so concurrent sweeps lose nothing and a crash leaves every finished cell.
A line that does not parse is named (file and line), moved aside to ``<file>.corrupt``
and skipped.  Records of the previous schema (``stde-bench/cell/1``) load, converted.

Task records: a sweep's tasks on other nodes (``stde_bench.executors``, Slurm) may share a
filesystem whose ``fcntl`` locks cannot be trusted, so each writes its record to its own
file, ``<records>.d/<cell key>.json`` (``task_record_path``, ``write_json_atomic``), and
takes no lock.  A ``RecordStore`` reads them over its JSON-lines file (``read_store``: a
task file is newer than the lines, ``put`` removes the file of the key it appends);
``RecordStore.merge`` (``stde-bench records merge``) appends them under the lock and
removes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

SCHEMA = "stde-bench/cell/2"
LEGACY_SCHEMAS = ("stde-bench/cell/1",)
STATUSES = ("ok", "oom", "skipped", "timeout", "error")
#: what a code version is computed from: the code a cell runs (results/ and docs excluded)


@dataclasses.dataclass
class CellRecord:
    """The outcome of one cell.  Measurements are None where not taken.

    config:          ``TrainConfig.asdict()`` (the full config; part of the key)
    status, reason:  ``ok`` / ``oom`` / ``skipped`` / ``timeout`` / ``error`` and why
    it_per_s:        median it/s over synchronized timed windows (``it_per_s_method``)
    it_per_s_overall: steps / wall time of the loop including evaluations
    timed_windows:   ``[(steps, seconds), ...]``
    floor_it_per_s, floor_windows, it_per_s_over_floor: with ``--paired-floor`` (speed
                     cells), the floor timed in the same process, a window of it after
                     each of ``timed_windows``: its median it/s, its windows, and the
                     median over windows of its seconds ÷ the cell's (``stde_bench.cell``)
    memory_mb:       peak memory in MB measured by ``memory_method``
    error_final, error_min: the test error (``error_metric``) at the end and its minimum
                     over ``error_history`` = ``[(step, error), ...]``
    value_history, reference_value: on a one-point test set (the semilinear problems),
                     ``[(step, u there), ...]`` and the reference the errors are against
    steps_done:      steps trained (less than ``config['steps']`` after a timeout)
    setup_s, first_step_s: seconds to build the problem, estimator and trainer (parameters
                     and optimizer state on the device), and of the first, untimed step
                     (where ``duration_s`` goes besides ``compile_s`` and the loop); of
                     the last process, for a resumed cell
    resumed:         how many times the cell was resumed from its checkpoint (0: trained
                     in one process; ``stde_bench.checkpoint``)
    segments:        one dict per process that trained the cell, in order (pid, hostname,
                     code_version, date, first_step, checkpoint_every, compile_s,
                     first_step_s, duration_s: ``stde_bench.checkpoint.Progress``)
    window_segments: the segment (index into ``segments``) of each of ``timed_windows``
    """

    problem: str
    estimator: str
    dim: int
    config: dict[str, Any]
    status: str
    reason: str = ""
    code_version: str = "unknown"
    asv_machine: str | None = None
    profile: str | None = None
    grid: str | None = None
    machine: dict[str, Any] = dataclasses.field(default_factory=dict)
    backend: str | None = None
    operator: str | None = None
    stochastic: bool | None = None
    error_metric: str | None = None
    it_per_s: float | None = None
    it_per_s_method: str | None = None
    it_per_s_overall: float | None = None
    timed_windows: list = dataclasses.field(default_factory=list)
    floor_it_per_s: float | None = None
    floor_windows: list = dataclasses.field(default_factory=list)
    it_per_s_over_floor: float | None = None
    compile_s: float | None = None
    setup_s: float | None = None
    first_step_s: float | None = None
    memory_mb: float | None = None
    memory_method: str | None = None
    error_final: float | None = None
    error_min: float | None = None
    error_history: list = dataclasses.field(default_factory=list)
    value_history: list = dataclasses.field(default_factory=list)
    reference_value: float | None = None
    final_loss: float | None = None
    n_params: int | None = None
    steps_done: int | None = None
    duration_s: float | None = None
    traceback: str | None = None
    resumed: int = 0
    segments: list = dataclasses.field(default_factory=list)
    window_segments: list = dataclasses.field(default_factory=list)
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def key(self) -> str:
        return cell_key(self.problem, self.estimator, self.dim, self.config)

    def replace(self, **changes: Any) -> CellRecord:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any], legacy: dict[str, Any] | None = None) -> CellRecord:
        """A record from its JSON object.  Schema 1 records are converted: the commit of
        their machine block becomes the code version, else ``legacy`` supplies it (and
        the asv machine, profile and grid: what their file name said); fields schema 2
        does not know are dropped."""
        if not isinstance(data, dict):
            raise ValueError(f"a record is a JSON object, got {type(data).__name__}")
        schema = data.get("schema")
        if schema in LEGACY_SCHEMAS:
            commit = (data.get("machine") or {}).get("commit")
            data = (legacy or {}) | data | {"schema": SCHEMA}
            data["code_version"] = (commit or data.get("code_version") or "unknown")[:8]
        elif schema != SCHEMA:
            raise ValueError(f"unknown record schema {schema!r} (this code reads {SCHEMA})")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def config_hash(config: dict[str, Any]) -> str:
    """10 hex digits of SHA-256 over the config as sorted JSON."""
    text = json.dumps(to_jsonable(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def cell_key(problem: str, estimator: str, dim: int, config: dict[str, Any]) -> str:
    """File-name-safe key of a cell: readable head plus the hash of the full config, e.g.
    ``allen-cahn-two-body__stde-jax__d1000__J16__s0__3f2a9c01be``."""
    head = f"{problem}__{estimator.replace(':', '-')}__d{dim}"
    return f"{head}__J{config.get('samples')}__s{config.get('seed')}__{config_hash(config)}"


def to_jsonable(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy/jax scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """``write(file)`` into a temporary file beside ``path``, fsync, ``os.replace``, and
    fsync the folder so that the new name survives a crash of the machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (``write_atomic``): readers see the old file or
    the new one, never a half-written one."""
    path = Path(path)
    write_atomic(path, lambda fh: fh.write(text.encode()))
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` (a ``CellRecord`` or anything JSON-able) to ``path`` atomically."""
    if isinstance(data, CellRecord):
        data = data.to_json()
    return write_text_atomic(path, json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


def read_record(path: str | os.PathLike) -> CellRecord:
    """The record in a ``.json`` file written by ``stde-bench run``."""
    return CellRecord.from_json(read_json(path))


def records_file(
    root: Path, machine: str, profile: str, grid: str | None = None, code: str | None = None
) -> Path:
    """The one naming of records files, under ``root`` (``results/cells``): a sweep's
    ``<machine>-<profile>.jsonl``; asv's, one per grid and code version (so resuming never
    mixes commits), ``<machine>-<profile>-<grid>-<code version>.jsonl``."""
    parts = [machine, profile] + ([grid, code] if grid else [])
    return Path(root) / ("-".join(parts) + ".jsonl")


def file_fields(path: Path) -> dict[str, Any]:
    """What an asv records file's name says (``records_file``): machine, profile, grid and
    code version; fields a schema-1 record does not carry itself."""
    parts = path.stem.rsplit("-", 3)
    if len(parts) != 4:
        return {}
    return dict(zip(("asv_machine", "profile", "grid", "code_version"), parts, strict=True))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``<path>.lock`` (released on exit, even on a crash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _lines(path: Path) -> list[bytes]:
    """The file's lines as bytes, each with its newline: split at ``\\n`` only (line numbers
    are an editor's), so bytes that are not UTF-8 make a bad line, not an unreadable file."""
    with open(path, "rb") as fh:
        return fh.readlines()


def read_records(path: str | os.PathLike) -> tuple[list[CellRecord], dict[int, str]]:
    """Every record of a JSON-lines file, and ``{line number: "file:line: why"}`` for each
    line that is not one; reading never raises for a bad line and never edits the file."""
    path = Path(path)
    records, bad = [], {}
    if not path.exists():
        return records, bad
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            records.append(CellRecord.from_json(json.loads(line.decode()), file_fields(path)))
        except (ValueError, TypeError) as err:
            bad[number] = f"{path}:{number}: {type(err).__name__}: {err}"
    return records, bad


def task_record_path(path: str | os.PathLike, key: str) -> Path:
    """The record file of the cell ``key`` written by a task of the store ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".d") / f"{key}.json"


def read_task_records(path: str | os.PathLike) -> tuple[dict[Path, CellRecord], dict[Path, str]]:
    """The task record files of the store ``path`` (``task_record_path``) and ``{file:
    why}`` for each that is not a record; reading never raises for a bad file."""
    folder = task_record_path(path, "").parent
    records, bad = {}, {}
    for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records[file] = read_record(file)
        except (OSError, ValueError, TypeError) as err:
            bad[file] = f"{file}: {type(err).__name__}: {err}"
    return records, bad


def read_store(path: str | os.PathLike) -> dict[str, CellRecord]:
    """The records of the store ``path`` by key, without its lock: the newest line of each
    key in the JSON-lines file, then its task record files over them."""
    lines = {r.key: r for r in read_records(path)[0]}
    return lines | {r.key: r for r in read_task_records(path)[0].values()}


def is_finished(record: CellRecord | None, code: str | None = None) -> bool:
    """Whether a cell whose record is ``record`` has an outcome a sweep keeps
    (``RecordStore.finished``)."""
    return (
        record is not None
        and record.status != "error"
        and (code is None or record.code_version == code)
    )


class RecordStore:
    """A sweep's records: ``CellRecord`` by key, persisted as JSON lines.

    ``put`` appends one line under an exclusive lock and fsyncs; the newest line of a key
    wins when reading.  Corrupt lines are moved aside to ``<path>.corrupt`` (with a
    warning naming file and line) the first time the store is opened.  Task record files
    (``task_record_path``) are read over the lines (``read_store``); ``merge`` folds them in.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.records: dict[str, CellRecord] = {}
        self.refresh(quarantine=True)

    def refresh(self, *, quarantine: bool = False) -> None:
        """Re-read the file (another sweep may have appended to it) and the task record
        files (a task may have written one; a bad one is named once, and left)."""
        with _locked(self.path):
            records, bad = read_records(self.path)
            if bad and quarantine:
                self._quarantine(bad)
        tasks, bad_tasks = read_task_records(self.path)
        for problem in bad_tasks.values() if quarantine else ():
            warnings.warn(f"task record skipped: {problem}", stacklevel=3)
            print(f"stde-bench: task record skipped: {problem}", file=sys.stderr)
        self.records = {r.key: r for r in records} | {r.key: r for r in tasks.values()}

    def _quarantine(self, bad: dict[int, str]) -> None:
        """Move the bad lines to ``<path>.corrupt`` and rewrite the file without them."""
        lines = _lines(self.path)
        kept = [line for n, line in enumerate(lines, start=1) if n not in bad]
        moved = [line for n, line in enumerate(lines, start=1) if n in bad]
        corrupt = self.path.with_name(self.path.name + ".corrupt")
        with open(corrupt, "ab") as fh:
            fh.writelines(line if line.endswith(b"\n") else line + b"\n" for line in moved)
        write_text_atomic(self.path, b"".join(kept).decode())
        for problem in bad.values():
            message = f"corrupt record skipped and moved to {corrupt}: {problem}"
            warnings.warn(message, stacklevel=3)
            print(f"stde-bench: {message}", file=sys.stderr)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def finished(self, key: str, code: str | None = None) -> bool:
        """Whether the cell has an outcome a sweep keeps: any status but ``error`` (an
        error is usually a bug since fixed, so a resumed sweep runs the cell again); with
        ``code``, only an outcome of that code version (a sweep that re-measures after a
        change; the older record stays in the file)."""
        return is_finished(self.records.get(key), code)

    def __len__(self) -> int:
        return len(self.records)

    def put(self, record: CellRecord) -> None:
        """Append ``record`` (one line, locked, fsynced); a task record file of its key is
        older, and removed."""
        line = (json.dumps(record.to_json(), sort_keys=True) + "\n").encode()
        with _locked(self.path):
            with open(self.path, "ab+") as fh:
                end = fh.seek(0, os.SEEK_END)
                if end:
                    fh.seek(end - 1)
                    if fh.read(1) != b"\n":  # never glue a record onto an unterminated line
                        line = b"\n" + line
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            task_record_path(self.path, record.key).unlink(missing_ok=True)
        self.records[record.key] = record

    def merge(self) -> int:
        """Fold the task record files into the JSON-lines file: each appended (``put``),
        then removed, and the folder once empty; returns how many.  Bad files stay."""
        tasks, _ = read_task_records(self.path)
        for file, record in tasks.items():
            self.put(record)
            file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: a bad file, or a task writing
            task_record_path(self.path, "").parent.rmdir()
        self.refresh()
        return len(tasks)


def rel_path(path: Path, root: Path) -> str:
    """``path`` as shown in reports: relative to the folder above ``root`` (``results/``)."""
    return str(path.relative_to(root.parent) if path.is_relative_to(root.parent) else path)
