"""Result records: written atomically, so a crash never leaves a half-written file.

A cell record is a flat JSON object (schema ``stde-bench/cell/1``): the cell (problem,
estimator, dim, config), its ``status`` (``ok``, ``oom``, ``skipped``, ``timeout``,
``error``) with a ``reason``, and every measurement with the method used to take it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA = "stde-bench/cell/1"
STATUSES = ("ok", "oom", "skipped", "timeout", "error")


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


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file, fsync and ``os.replace``:
    readers see the old file or the new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (``write_text_atomic``)."""
    return write_text_atomic(path, json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


def cell_id(
    problem: str, estimator: str, dim: int, samples: int | None = None, seed: int | None = None
) -> str:
    """File-name-safe id of a cell, e.g. ``allen-cahn-two-body__stde-jax__d1000__J16__s0``."""
    tail = f"__J{samples}" if samples is not None else ""
    tail += f"__s{seed}" if seed is not None else ""
    return f"{problem}__{estimator}__d{dim}{tail}"
