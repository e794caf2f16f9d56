"""Executors: where and how a sweep's cells run (``stde-bench sweep --executor NAME``).

- ``local`` (default): one cell at a time on this machine (``stde_bench.sweep.sweep``).
- ``gpus``: one cell per GPU of this machine.  N cells run at once (N GPUs: the config's
  ``gpus: [0, 1, ...]``, else ``$CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``), the rest
  wait in a queue; each cell's process sees only its GPU (``CUDA_VISIBLE_DEVICES``).  Each
  GPU is a lane that does what ``sweep`` does for one device, the start of the next
  cell's process overlapped with the running cell (``ahead``) included.
- ``slurm``: a submitit job array, one task per cell (``SlurmArray``): time limit from the
  cell's budget, requeued on preemption or timeout, the cell resuming from its checkpoint.
  Tasks may run on other nodes, on a shared filesystem whose ``fcntl`` locks cannot be
  trusted: each writes its record to its own file (``records.task_record_path``), which
  the ``RecordStore`` reads with the JSON-lines file; ``stde-bench records merge`` folds
  them in.

Every executor skips the cells the store holds (``RecordStore.finished``) and records
every outcome.  Its parameters come from a YAML mapping (``--executor-config FILE``),
overridden by the sweep's flags (``read_config``, ``make_executor``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

from stde_bench.checkpoint import DEFAULT_DIR, discard
from stde_bench.provenance import Provenance
from stde_bench.records import (
    CellRecord,
    RecordStore,
    is_finished,
    read_store,
    task_record_path,
    write_json_atomic,
)
from stde_bench.sweep import Cell, Interrupted, Started, finish_cell, hard_timeout, start_cell
from stde_bench.sweep import sweep as sweep_one_at_a_time


class Executor(Protocol):
    """Runs a sweep's cells and records each outcome in ``store``."""

    name: ClassVar[str]

    @property
    def slots(self) -> int:
        """How many cells run at once (the plan's ETA: ``stde_bench.plan.wall_s``)."""

    def run(
        self,
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
        """Run every cell not finished in ``store`` (with ``code``: by that code version);
        ``timeout``, ``ahead``, ``provenance``: as ``stde_bench.sweep.sweep``'s."""


#: executor name -> its class, whose ``from_config(mapping)`` builds it
EXECUTORS: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        cls.name = name
        EXECUTORS[name] = cls
        return cls

    return add


def read_config(path: str | os.PathLike | None) -> dict[str, Any]:
    """The executor's parameters in a YAML file (a mapping); {} without a file."""
    if path is None:
        return {}
    import yaml

    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: an executor config is a YAML mapping (key: value lines)")
    return config


def make_executor(name: str, config: dict[str, Any]) -> Executor:
    """The executor ``name`` with the parameters ``config``."""
    if name not in EXECUTORS:
        raise ValueError(f"no executor {name!r}; there are: {', '.join(EXECUTORS)}")
    return EXECUTORS[name].from_config(config)


def _unknown(name: str, config: dict[str, Any], known: set[str]) -> None:
    if extra := sorted(set(config) - known):
        takes = ", ".join(sorted(known)) or "no parameters"
        raise ValueError(
            f"the {name} executor does not take {', '.join(extra)} (it takes: {takes}); "
            "check --executor-config and the --slurm-* flags"
        )


def keep(store: RecordStore, cell: Cell, record: CellRecord) -> None:
    """Store the cell's record; an ``ok`` cell's checkpoint is then done with."""
    store.put(record)
    if record.status == "ok":
        discard(cell.checkpoint_dir or DEFAULT_DIR, cell.key)


@register("local")
@dataclasses.dataclass
class Local:
    """One cell at a time on this machine: ``stde_bench.sweep.sweep``."""

    slots: ClassVar[int] = 1

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Local:
        _unknown("local", config, set())
        return cls()

    def run(self, cells: list[Cell], store: RecordStore, **options: Any) -> RecordStore:
        return sweep_one_at_a_time(cells, store, **options)


def visible_gpus() -> list[str]:
    """This machine's GPUs as ``CUDA_VISIBLE_DEVICES`` names them: its entries when it is
    set, else the indices of ``nvidia-smi -L``'s lines; [] when there is none."""
    if (visible := os.environ.get("CUDA_VISIBLE_DEVICES")) is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    lines = [line for line in listing.stdout.splitlines() if line.startswith("GPU ")]
    return [str(index) for index in range(len(lines))]


@register("gpus")
@dataclasses.dataclass
class Gpus:
    """One cell per GPU: ``len(gpus)`` lanes, each running cells one after another as
    ``sweep`` does, from one shared queue (a lane takes the next cell when its own is
    done).  ``gpus``: the ``CUDA_VISIBLE_DEVICES`` value of each lane."""

    gpus: list[str]

    @property
    def slots(self) -> int:
        return len(self.gpus)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Gpus:
        _unknown("gpus", config, {"gpus"})
        gpus = [str(g) for g in config.get("gpus") or visible_gpus()]
        if not gpus:
            raise ValueError(
                "the gpus executor found no GPU (CUDA_VISIBLE_DEVICES is empty or nvidia-smi "
                "lists none); name them in --executor-config: gpus: [0, 1, 2, 3]"
            )
        if len(set(gpus)) != len(gpus):
            raise ValueError(f"the gpus executor's gpus name a GPU twice: {gpus}")
        return cls(gpus)

    def run(
        self,
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
        """Run the cells on the GPUs; Ctrl-C raises ``Interrupted`` (the cells running are
        killed and not recorded)."""
        from tqdm import tqdm

        provenance = provenance or Provenance.current(asv_machine)  # once, for every cell
        todo = [c for c in cells if not store.finished(c.key, code)]
        bar = tqdm(
            total=len(todo),
            unit="cell",
            disable=not progress,
            desc=f"sweep on {self.slots} GPUs ({len(cells) - len(todo)} done)",
        )
        pending, claiming, stop = iter(todo), threading.Lock(), threading.Event()
        lanes: dict[str, collections.deque[Started]] = {g: collections.deque() for g in self.gpus}
        failures: list[BaseException] = []

        def claim() -> Cell | None:
            """The next cell no one has recorded meanwhile (another sweep may have)."""
            with claiming:
                for cell in pending:
                    store.refresh()
                    if not store.finished(cell.key, code):
                        return cell
                    bar.update(1)
            return None

        def lane(gpu: str) -> None:
            queue, env = lanes[gpu], {"CUDA_VISIBLE_DEVICES": gpu}

            def top_up() -> None:  # the running cell plus ``ahead`` started ones
                while not stop.is_set() and sum(s.proc is not None for s in queue) < 1 + ahead:
                    if (cell := claim()) is None:
                        return
                    started = start_cell(cell, asv_machine, ahead > 0, env, provenance)
                    queue.append(started)

            try:
                top_up()
                while queue and not stop.is_set():
                    head = queue[0]
                    record = finish_cell(head, timeout)
                    if stop.is_set():  # interrupted: the cell was killed, not finished
                        return
                    queue.popleft()
                    keep(store, head.cell, record)
                    bar.update(1)
                    top_up()
            except BaseException as err:  # noqa: BLE001 - re-raised in the sweep's thread
                failures.append(err)
                stop.set()

        threads = [threading.Thread(target=lane, args=(g,), daemon=True) for g in self.gpus]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        except KeyboardInterrupt:
            stop.set()
            self._stop(lanes, threads)
            bar.close()
            store.refresh()
            recorded = sum(store.finished(c.key, code) for c in cells)
            raise Interrupted(recorded, store.path) from None
        bar.close()
        if failures:
            self._stop(lanes, threads)
            raise failures[0]
        return store

    @staticmethod
    def _stop(lanes: dict[str, collections.deque[Started]], threads: list) -> None:
        """Kill every started cell's process, wait for the lanes, remove their folders."""
        for started in (s for queue in lanes.values() for s in list(queue)):
            if started.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    started.proc.kill()
        for thread in threads:
            thread.join()
        for started in (s for queue in lanes.values() for s in queue):
            if started.proc is not None:
                started.proc.wait()
                started.tmp.cleanup()


#: seconds a Slurm task may run beyond its cell's hard timeout (``hard_timeout``): the
#: task's own start-up, and submitit's signal, sent 90 s before the limit (``--signal``)
SLURM_MARGIN_S = 180
#: steps between a Slurm cell's checkpoints when the sweep sets none (``--checkpoint-every``)
SLURM_CHECKPOINT_EVERY = 1000
#: submitit's parameters that are the same on every cluster (the others take a prefix)
SUBMITIT_GENERIC = {"mem_gb", "nodes", "cpus_per_task", "gpus_per_node", "tasks_per_node"}


def time_limit_min(cell: Cell, timeout: float | None, fallback: int | None = None) -> int:
    """The Slurm task's time limit in minutes: the cell's hard timeout (its budget plus
    ``BUDGET_GRACE_S``, or the sweep's ``--timeout``) plus ``SLURM_MARGIN_S``; a cell with
    neither takes ``fallback`` (the config's ``timeout_min``)."""
    seconds = hard_timeout(cell, timeout)
    if seconds is None:
        if fallback is None:
            raise ValueError(
                f"cell {cell.key} has no budget_s and the sweep no --timeout, so its Slurm time "
                "limit is unknown; set timeout_min in --executor-config"
            )
        return fallback
    return math.ceil((seconds + SLURM_MARGIN_S) / 60)


@dataclasses.dataclass(frozen=True)
class CellTask:
    """The function of a Slurm task: run one cell (``start_cell``, ``finish_cell``) and
    write its record to its own file beside ``records`` (``task_record_path``), atomically.

    On preemption or near its time limit, submitit calls ``checkpoint``: the task is
    requeued with the same cell, which resumes from the checkpoint it wrote every
    ``config.checkpoint_every`` steps (``stde_bench.checkpoint``).  A cell recorded
    meanwhile (a task run twice) is not run again."""

    records: Path
    asv_machine: str | None = None
    timeout: float | None = None
    code: str | None = None

    def __call__(self, cell: Cell) -> str:
        if is_finished(read_store(self.records).get(cell.key), self.code):  # no lock here
            return f"{cell.key}: recorded before"
        # the provenance is the node's, computed here (its hardware, not the submitter's)
        record = finish_cell(start_cell(cell, self.asv_machine), self.timeout)
        write_json_atomic(task_record_path(self.records, cell.key), record)
        if record.status == "ok":  # recorded: its checkpoint is done with
            discard(cell.checkpoint_dir or DEFAULT_DIR, cell.key)
        return f"{cell.key}: {record.status}"

    def checkpoint(self, cell: Cell):
        """submitit's checkpoint hook: the same call again (the cell keeps its own state)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, cell)


@register("slurm")
@dataclasses.dataclass
class SlurmArray:
    """A submitit job array, one task per cell (``CellTask``), one array per time limit.

    Config keys (YAML; the ``--slurm-*`` flags override them):

    - submitit's parameters, with or without their ``slurm_`` prefix: ``partition``,
      ``account``, ``gres`` (e.g. ``gpu:1``), ``cpus_per_task``, ``array_parallelism``
      (tasks at once, default 256), ``mem_gb``, ``qos``, ``constraint``, ``setup`` ...
    - ``timeout_min``: the time limit of a cell without budget (``time_limit_min``)
    - ``max_num_timeout``: how many times a task is requeued after its time limit (3)
    - ``checkpoint_every``: steps between checkpoints where the sweep sets none (1000)
    - ``folder``: submitit's scripts, pickles and logs (default ``results/submitit``)
    - ``wait``: wait for the tasks and print their outcome (default false: submit, print
      the job ids and return)
    - ``cluster``: ``slurm`` (default), or ``local``: submitit's executor on this machine
      (no Slurm: to try the path; ``array_parallelism`` tasks at a time, default 1, always
      waited for)
    """

    parameters: dict[str, Any]
    cluster: str = "slurm"
    folder: Path = Path("results") / "submitit"
    wait: bool = False
    timeout_min: int | None = None
    max_num_timeout: int = 3
    checkpoint_every: int = SLURM_CHECKPOINT_EVERY

    OWN: ClassVar[set[str]] = {
        "cluster", "folder", "wait", "timeout_min", "max_num_timeout", "checkpoint_every"
    }  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SlurmArray:
        own = {k: v for k, v in config.items() if k in cls.OWN}
        parameters = {
            k if k in SUBMITIT_GENERIC or k.startswith("slurm_") else f"slurm_{k}": v
            for k, v in config.items()
            if k not in cls.OWN
        }
        if "folder" in own:
            own["folder"] = Path(own["folder"])
        if own.get("cluster", "slurm") not in ("slurm", "local"):
            raise ValueError(f"cluster: slurm or local, got {own['cluster']!r}")
        return cls(parameters, **own)

    @property
    def slots(self) -> int:
        """Tasks at once: ``array_parallelism``, by default submitit's 256 on Slurm, 1 on
        the ``local`` cluster (this machine)."""
        default = 256 if self.cluster == "slurm" else 1
        return int(self.parameters.get("slurm_array_parallelism", default))

    def engine(self):
        """submitit's ``AutoExecutor`` with the parameters (ValueError naming bad ones)."""
        import submitit

        try:
            engine = submitit.AutoExecutor(
                self.folder / "%j",
                cluster=self.cluster,
                **{f"{self.cluster}_max_num_timeout": self.max_num_timeout},
            )
            engine.update_parameters(name="stde-bench", **self.parameters)
        except (NameError, RuntimeError, AssertionError) as err:
            raise ValueError(f"submitit refused the slurm executor's config: {err}") from err
        return engine

    def prepared(self, cell: Cell) -> Cell:
        """The cell as a task runs it: checkpointed (so a requeued task continues), its
        checkpoint folder an absolute path (the task may start elsewhere)."""
        every = cell.config.checkpoint_every or self.checkpoint_every
        return dataclasses.replace(
            cell,
            config=cell.config.replace(checkpoint_every=every),
            checkpoint_dir=Path(cell.checkpoint_dir or DEFAULT_DIR).resolve(),
        )

    def run(
        self,
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
        """Submit the cells not in ``store`` (skipped ones are recorded here); with
        ``wait`` (always on the ``local`` cluster) wait for every task."""
        groups: dict[int, list[Cell]] = {}
        for cell in cells:
            if store.finished(cell.key, code):
                continue
            if cell.skip_reason:  # nothing to run: recorded now
                provenance = provenance or Provenance.current(asv_machine)
                keep(store, cell, finish_cell(start_cell(cell, asv_machine, provenance=provenance)))
                continue
            minutes = time_limit_min(cell, timeout, self.timeout_min)
            groups.setdefault(minutes, []).append(self.prepared(cell))
        if not groups:
            return store
        engine = self.engine()
        task = CellTask(store.path.resolve(), asv_machine, timeout, code)
        wait = self.wait or self.cluster == "local"
        jobs = []
        for minutes, group in groups.items():
            engine.update_parameters(timeout_min=minutes)
            if self.cluster == "slurm":  # the array's %parallelism throttles it
                jobs += engine.map_array(task, group)
                continue
            for first in range(0, len(group), self.slots):  # local: all would start at once
                batch = engine.map_array(task, group[first : first + self.slots])
                self._wait(batch, progress)
                jobs += batch
        arrays = sorted({str(job.job_id).split("_")[0] for job in jobs})
        folder = task_record_path(store.path, "").parent
        print(
            f"submitted {len(jobs)} cells as {len(arrays)} {self.cluster} job array(s) "
            f"{', '.join(arrays)}; logs in {self.folder}; each task writes its record to "
            f"{folder}/ (`stde-bench records merge --out {store.path}` folds them in)",
            flush=True,
        )
        if wait and self.cluster == "slurm":
            self._wait(jobs, progress)
        store.refresh()
        return store

    @staticmethod
    def _wait(jobs: list, progress: bool) -> None:
        """Wait for the tasks; a task that ended without a result is named with its log."""
        for job in jobs:
            try:
                outcome = job.result()
            except Exception as err:  # noqa: BLE001 - the sweep goes on, the task is named
                print(f"stde-bench: task {job.job_id} failed ({err}); log: {job.paths.stderr}")
                continue
            if progress:
                print(f"task {job.job_id}: {outcome}", flush=True)
