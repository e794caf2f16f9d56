"""Checkpoints of a training cell: what a cell needs to go on where it stopped, so that a
cell resumed is bitwise the cell run through (``stde_bench.cell._train`` writes and reads
them).

One file per cell, ``<directory>/<cell key>.ckpt`` (``checkpoint_path``; the key names
problem, estimator, dimension and the hash of the config, seed included, so running the
same cell again finds it).  It is replaced atomically: written to a temporary file in the
same folder, fsynced, then ``os.replace``d, so a process killed at any moment leaves the
previous checkpoint or the new one.  It holds

- the trainer's state (``state()`` / ``load_state()`` of the trainer): for JAX the leaves
  of (parameters, Adam state) in tree order, the key's data and the step count; for
  PyTorch the state dicts of network, Adam and learning-rate schedule, the generator's
  state and the step count;
- the cell's ``Progress``: its error history, its timed windows (and paired floor windows)
  with the segment each came from, the segments (one per process that trained it), the
  steps and seconds of its timed loops and the last loss.

Format, by the trainer's backend (``FORMATS``): JAX, ``numpy.savez`` (the state's arrays
under their names, the progress as JSON bytes in ``progress``); PyTorch, ``torch.save`` of
``{"trainer": state, "progress": JSON}``, read back with ``weights_only=True``.

Why ``.npz`` and not orbax-checkpoint for JAX: the state is one small pytree whose
structure the trainer rebuilds itself, written by one process on one host; orbax would
add tensorstore, asynchronous writers and a directory per checkpoint (which cannot be
replaced atomically) for what ``np.savez`` does in one atomically replaced file, and it
is not a dependency of the project.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from stde_bench.records import write_atomic

#: where ``stde-bench run`` and ``stde-bench sweep`` keep checkpoints (``--checkpoint-dir``)
DEFAULT_DIR = Path("results") / "checkpoints"
SUFFIX = ".ckpt"
SCHEMA = "stde-bench/checkpoint/1"


@dataclasses.dataclass
class Progress:
    """What a cell has trained and measured up to a checkpoint.

    key:             the cell's key (``CellRecord.key``), checked when restoring
    steps_done:      training steps done (the trainer's own count is saved with its state)
    history:         ``[(step, test error), ...]`` at the evaluation steps
    values:          ``[(step, u at the test point), ...]`` where the test set is one point
    windows:         timed windows ``[(steps, seconds), ...]``
    floor_windows:   the paired floor's windows, one after each of ``windows`` (or none)
    window_segments: ``[segment index, ...]``, one per window: the process that timed it
    segments:        one dict per process that trained the cell, in order: ``pid``,
                     ``hostname``, ``code_version``, ``date``, ``first_step`` (steps done
                     when it started), ``checkpoint_every``, ``compile_s``,
                     ``first_step_s`` (its untimed warm-up step), ``duration_s`` (seconds
                     from its start to its last checkpoint, or to its end)
    loop_steps, loop_s: steps and seconds of the timed loops (warm-ups excluded,
                     evaluations and checkpoints included), over all segments
    loss:            the training loss of the last step
    """

    key: str
    steps_done: int = 0
    history: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    values: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    windows: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    floor_windows: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    window_segments: list[int] = dataclasses.field(default_factory=list)
    segments: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    loop_steps: int = 0
    loop_s: float = 0.0
    loss: float | None = None
    schema: str = SCHEMA

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Progress:
        data = json.loads(text)
        if data.get("schema") != SCHEMA:
            raise ValueError(f"checkpoint schema {data.get('schema')!r}, this code reads {SCHEMA}")
        for pairs in ("history", "values", "windows", "floor_windows"):
            data[pairs] = [tuple(p) for p in data.get(pairs, [])]
        return cls(**data)


def checkpoint_path(directory: str | os.PathLike, key: str) -> Path:
    """The checkpoint file of the cell ``key`` in ``directory``."""
    return Path(directory) / f"{key}{SUFFIX}"


def discard(directory: str | os.PathLike, key: str) -> None:
    """Remove the cell's checkpoint and any temporary file a killed write left beside it."""
    path = checkpoint_path(directory, key)
    path.unlink(missing_ok=True)
    for partial in path.parent.glob(f".{path.name}.*.tmp"):
        partial.unlink(missing_ok=True)


def _write_npz(fh: IO[bytes], state: dict[str, Any], progress: str) -> None:
    import numpy as np

    np.savez(fh, progress=np.frombuffer(progress.encode(), dtype=np.uint8), **state)


def _read_npz(fh: IO[bytes]) -> tuple[dict[str, Any], str]:
    import numpy as np

    with np.load(fh, allow_pickle=False) as data:
        state = {name: data[name] for name in data.files if name != "progress"}
        return state, data["progress"].tobytes().decode()


def _progress_npz(fh: IO[bytes]) -> str:
    import numpy as np

    with np.load(fh, allow_pickle=False) as data:  # reads only the member asked for
        return data["progress"].tobytes().decode()


def _write_torch(fh: IO[bytes], state: dict[str, Any], progress: str) -> None:
    import torch

    torch.save({"trainer": state, "progress": progress}, fh)


def _read_torch(fh: IO[bytes]) -> tuple[dict[str, Any], str]:
    import torch

    saved = torch.load(fh, map_location="cpu", weights_only=True)
    return saved["trainer"], saved["progress"]


#: backend -> (write(file, trainer state, progress JSON), read(file) -> (state, JSON),
#: progress(file) -> JSON)
FORMATS: dict[str, tuple[Callable, Callable, Callable]] = {
    "jax": (_write_npz, _read_npz, _progress_npz),
    "torch": (_write_torch, _read_torch, lambda fh: _read_torch(fh)[1]),
}


class Checkpoint:
    """The checkpoint of one cell (``key``) for a trainer of ``backend`` in ``directory``.

    A trainer here has ``state()`` (its state as ``FORMATS[backend]`` writes it) and
    ``load_state(state)`` (which raises ValueError for a state of another shape)."""

    def __init__(self, directory: str | os.PathLike, key: str, backend: str) -> None:
        if backend not in FORMATS:
            raise ValueError(f"no checkpoint format for backend {backend!r}: {', '.join(FORMATS)}")
        self.key, self.backend = key, backend
        self.path = checkpoint_path(directory, key)

    def save(self, trainer, progress: Progress) -> None:
        """Replace the checkpoint with the trainer's state and ``progress``, atomically."""
        write = FORMATS[self.backend][0]
        state, text = trainer.state(), progress.to_json()
        write_atomic(self.path, lambda fh: write(fh, state, text))

    def read(self) -> tuple[dict[str, Any], Progress]:
        """The trainer state and the progress in the checkpoint file."""
        with open(self.path, "rb") as fh:
            state, text = FORMATS[self.backend][1](fh)
        return state, Progress.from_json(text)

    def progress(self) -> Progress | None:
        """The progress in the checkpoint file, without the trainer state where the format
        allows; None when there is no readable checkpoint of this cell."""
        try:
            with open(self.path, "rb") as fh:
                progress = Progress.from_json(FORMATS[self.backend][2](fh))
        except (OSError, ValueError, KeyError):
            return None
        return progress if progress.key == self.key else None

    def restore(self, trainer) -> Progress | None:
        """Load the checkpoint into ``trainer`` and return its progress; None (the trainer
        untouched) when there is none.  ValueError, saying what to do, when the file is
        not a checkpoint of this cell."""
        if not self.path.exists():
            return None
        try:
            state, progress = self.read()
            if progress.key != self.key:
                raise ValueError(f"it is the checkpoint of {progress.key}")
            trainer.load_state(state)
        except Exception as err:
            raise ValueError(
                f"cannot resume from {self.path}: {type(err).__name__}: {err}; remove the "
                "file to train the cell from its start"
            ) from err
        if trainer.steps_done != progress.steps_done:
            raise ValueError(
                f"cannot resume from {self.path}: its trainer state is at step "
                f"{trainer.steps_done}, its progress at {progress.steps_done}; remove the file"
            )
        return progress
