"""Where a measurement comes from: the code version, the machine block, the machine's name.

Computed once per run and passed down: a sweep computes a ``Provenance`` (one set of ``git``
calls, one of ``nvidia-smi``) and hands it to each cell's process in ``$STDE_BENCH_PROVENANCE``;
a cell run on its own computes it itself.  A record carries it; the report reads it.

- ``code_version``: ``<commit[:8]>``, or ``<commit[:8]>-dirty-<8 hex>`` when the code
  (``CODE_PATHS``) differs from the commit; ``$ASV_COMMIT`` wins (asv builds each commit).
- ``machine_block``: hardware and versions stored with every record (``CellRecord.machine``).
- the machine's name: ``stde_bench.asv_machine.default_machine``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stde_bench.asv_machine import cpu_model, gpu_models

if TYPE_CHECKING:
    import pandas as pd

#: what a code version covers: every package and the project file
CODE_PATHS = ("stde_bench", "stde_core", "estimators", "problems", "benchmarks", "pyproject.toml")
PROJECT = Path(__file__).resolve().parents[1]
#: a sweep's provenance for its cells' processes (JSON of ``Provenance``)
PROVENANCE_ENV = "STDE_BENCH_PROVENANCE"


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode(errors="replace") if out.returncode == 0 else None


def _head(root: Path) -> str:
    return (_git("rev-parse", "HEAD", cwd=root) or "").strip()


def code_version(root: str | os.PathLike | None = None, head: str | None = None) -> str:
    """Which code runs: ``<commit[:8]>``, ``<commit[:8]>-dirty-<8 hex>`` (tracked edits and
    untracked files under ``CODE_PATHS``, hashed), or ``code-<8 hex>`` of the sources
    outside git; ``$ASV_COMMIT`` when set.  ``head``: the commit, if already known."""
    if os.environ.get("ASV_COMMIT"):
        return os.environ["ASV_COMMIT"][:8]
    root = Path(root or PROJECT)
    head = head if head is not None else _head(root)
    if not head:
        digest = hashlib.sha256()
        for package in CODE_PATHS:
            for path in sorted((root / package).rglob("*.py")):
                digest.update(path.read_bytes())
        return "code-" + digest.hexdigest()[:8]
    diff = _git("diff", "HEAD", "--binary", "--", *CODE_PATHS, cwd=root) or ""
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS, cwd=root)
    if not diff and not untracked:
        return head[:8]
    digest = hashlib.sha256(diff.encode())
    for name in sorted((untracked or "").split()):
        digest.update(name.encode() + (root / name).read_bytes())
    return f"{head[:8]}-dirty-{digest.hexdigest()[:8]}"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cuda_runtime() -> str | None:
    """The CUDA runtime the frameworks' wheels bring (``nvidia-cuda-runtime[-cu12]``)."""
    packages = ("nvidia-cuda-runtime", "nvidia-cuda-runtime-cu13", "nvidia-cuda-runtime-cu12")
    return next((v for p in packages if (v := _version(p))), None)


def machine_block(commit: str | None) -> dict[str, Any]:
    """Hardware and versions stored with every record (the ``date`` is the record's own:
    ``stamped``); ``commit``: the project's HEAD."""
    try:
        gpus = gpu_models("name,memory.total,driver_version")
    except ValueError:
        gpus = []
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gb": round(mem_gb, 1),
        "gpu": gpus[0] if gpus else None,
        "cuda": _cuda_runtime() if gpus else None,
        "python": platform.python_version(),
        **{package: _version(package) for package in ("jax", "jaxlib", "torch", "folx")},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "commit": commit or None,
    }


@dataclasses.dataclass(frozen=True)
class Provenance:
    """A run's code version, machine block and machine name (``asv_machine``; None: not
    named, e.g. a cell run on its own; ``stde_bench.asv_machine.default_machine`` names it)."""

    code_version: str
    machine: dict[str, Any]
    asv_machine: str | None = None

    @classmethod
    def here(cls, asv_machine: str | None = None) -> Provenance:
        """Computed now: one set of ``git`` calls, one of ``nvidia-smi``."""
        head = _head(PROJECT)
        version = code_version(PROJECT, head)
        return cls(version, machine_block(head), asv_machine)

    @classmethod
    def current(cls, asv_machine: str | None = None) -> Provenance:
        """The sweep's (``$STDE_BENCH_PROVENANCE``) where a sweep started this process, else
        ``here``; ``asv_machine`` overrides the name."""
        text = os.environ.get(PROVENANCE_ENV)
        if not text:
            return cls.here(asv_machine)
        found = cls(**json.loads(text))
        return dataclasses.replace(found, asv_machine=asv_machine or found.asv_machine)

    def env(self) -> dict[str, str]:
        """The environment that hands this provenance to a cell's process."""
        return {PROVENANCE_ENV: json.dumps(dataclasses.asdict(self))}

    def stamped(self) -> dict[str, Any]:
        """The machine block dated now (a record's date is its own, not its sweep's)."""
        now = datetime.datetime.now(datetime.UTC)
        return self.machine | {"date": now.isoformat(timespec="seconds")}


# --- the machine block as a report shows it ---------------------------------------------

#: label: (the records' key, asv's machine.json key)
FIELDS = {"CPU": ("cpu", "cpu"), "CPU cores": ("cpu_count", "num_cpu"), "GPU": ("gpu", None)}
FIELDS |= {"Memory (RAM)": ("ram_gb", "ram"), "OS": (None, "os"), "Python": ("python", "python")}
FIELDS |= {k: (v, None) for k, v in (("JAX", "jax"), ("jaxlib", "jaxlib"), ("PyTorch", "torch"))}
FIELDS |= {"CUDA": ("cuda", None), "folx": ("folx", None)}


def _field(label: str, record: dict, asv: dict) -> str | None:
    key, asv_key = FIELDS[label]
    if record.get(key) not in (None, ""):
        return f"{record[key]} GB" if label == "Memory (RAM)" else str(record[key])
    if asv.get(asv_key) not in (None, ""):  # asv keeps RAM in kB
        return f"{int(asv[asv_key]) / 2**20:.1f} GB" if label == "Memory (RAM)" else asv[asv_key]
    cuda = re.search(r"\+cu(\d+)(\d)$", str(record.get("torch") or ""))
    if label == "CUDA" and cuda:
        return f"{cuda[1]}.{cuda[2]} (PyTorch build {record['torch']})"
    if label == "OS":
        return ""  # asv knows it only where `asv machine` asked
    if label == "CUDA" and record.get("gpu"):
        return "not recorded"  # records before the runtime's version was kept
    return "none" if label in ("GPU", "CUDA") and record else None


def versions_text(versions) -> str:
    """``e11221ad``, ``b4e9c388`` + uncommitted edits (4 tree states), ..."""
    bases: dict[str, int] = {}
    for version in sorted(set(versions)):
        base = version.split("-dirty-")[0]
        bases[base] = bases.get(base, 0) + ("-dirty-" in version)
    edits = lambda n: f" + uncommitted edits ({n} tree state{'s' * (n > 1)})" if n else ""
    return ", ".join(f"`{base}`{edits(n)}" for base, n in bases.items())


def describe(
    machine: str, record: dict, asv: dict, shown: pd.DataFrame, others: Sequence[dict] = ()
) -> list[tuple]:
    """(label, value) pairs, each from ``record`` (the newest shown record's machine block:
    what the benchmark process saw) where it has it, else from asv's machine.json; a value
    that ``others`` (the machine blocks of the shown code versions) differ in lists each."""
    out = [("Machine (asv)", machine)]
    for label in FIELDS:
        text = _field(label, record, asv)
        seen = collections.Counter(_field(label, other, {}) for other in others)
        seen = {v: n for v, n in seen.most_common() if v not in (None, "", "not recorded")}
        if text and len(seen) > 1:  # code versions measured on each, the newest's marked
            text = "; ".join(
                f"{v} ({n} code version{'s' * (n > 1)}{', the newest' * (v == text)})"
                for v, n in seen.items()
            )
        out += [(label, text or "not recorded")] if text != "" else []
    out.append(("Code versions", versions_text(shown.code_version) or "none"))
    dates = shown.date.dropna()
    when = f"{dates.min():%Y-%m-%d %H:%M} to {dates.max():%Y-%m-%d %H:%M} UTC" if len(dates) else ""
    out += [("Measured", when)] * bool(when)
    out.append(("Profiles", ", ".join(sorted(set(shown.profile.dropna()) - {""})) or "unknown"))
    methods = "; ".join(sorted(set(shown.memory_method.dropna()) - {""}))
    return out + [("Memory measured by", methods)] * bool(methods)


def block_markdown(block: list[tuple]) -> str:
    rows = [f"| {k} | {str(v).replace('|', '/')} |" for k, v in block]
    return "\n".join(["| Machine | |", "|---|---|", *rows]) + "\n"


def one_line(block: list[tuple]) -> str:
    """Captions and plots: the hardware, versions and code versions in one line."""
    d = dict(block)
    hardware = d["GPU"] if d.get("GPU") not in ("none", "not recorded", None) else d.get("CPU")
    versions = f"JAX {d.get('JAX')}, PyTorch {d.get('PyTorch')}"
    return f"{d['Machine (asv)']}: {hardware}, {versions}; {d['Code versions'].replace('`', '')}"
