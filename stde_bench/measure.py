"""How every number is measured: timing with device synchronization, peak memory with a
labelled method, and the machine block (hardware and versions) stored with each result."""

from __future__ import annotations

import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def time_steps(step: Callable[[], Any], n: int, sync: Callable[[Any], Any]) -> tuple[float, Any]:
    """Seconds for ``n`` calls of ``step`` and the last output; the clock stops only after
    ``sync(last output)`` returns (``jax.block_until_ready`` / ``torch.cuda.synchronize``),
    so asynchronous dispatch cannot make a step look faster than it is."""
    start = time.perf_counter()
    out = None
    for _ in range(n):
        out = step()
    sync(out)
    return time.perf_counter() - start, out


def median_rate(window_seconds: list[tuple[int, float]]) -> float:
    """Median iterations per second over timed windows ``(steps, seconds)``."""
    return statistics.median(n / s for n, s in window_seconds if s > 0)


def relative_error(metric: str, values: Any, truth: Any) -> float:
    """The test error of docs/protocol.md §2 / 1.2 on arrays of either framework (``(M,)``):
    ``"l2_rel"``: sqrt(sum (u - u*)^2) / sqrt(sum u*^2); ``"l1_rel_at_point"``:
    sum |u - u*| / sum |u*| (one test point for the semilinear problems)."""
    if metric == "l1_rel_at_point":
        return float(abs(values - truth).sum() / abs(truth).sum())
    return float((((values - truth) ** 2).sum() / (truth**2).sum()) ** 0.5)


def process_peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def jax_peak_memory_mb(compiled: Any = None) -> tuple[float | None, str]:
    """Peak device memory of JAX in MB and how it was measured.

    GPU/TPU: ``device.memory_stats()['peak_bytes_in_use']`` (what the released STDE code
    reads).  CPU has no allocator statistics: the substitute is XLA's compiled memory
    analysis of the training step (arguments + outputs + temporaries - aliased).
    """
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20, "jax peak_bytes_in_use (device allocator)"
    if compiled is not None:
        m = compiled.memory_analysis()
        if m is not None:
            total = (
                m.argument_size_in_bytes
                + m.output_size_in_bytes
                + m.temp_size_in_bytes
                - m.alias_size_in_bytes
            )
            return total / 2**20, "xla compiled memory analysis of the step (CPU substitute)"
    return None, "unavailable"


def torch_peak_memory_mb(device: Any) -> tuple[float, str]:
    """Peak memory of PyTorch in MB: ``torch.cuda.max_memory_allocated`` on GPU, the
    process peak RSS on CPU (whole process, framework included: a stated substitute)."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "torch.cuda.max_memory_allocated"
    return process_peak_rss_mb(), "process peak RSS (CPU substitute, includes the framework)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_model() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None
    except (OSError, subprocess.SubprocessError):
        return None


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def _cuda_runtime() -> str | None:
    """The CUDA runtime the frameworks' wheels bring (``nvidia-cuda-runtime[-cu12]``)."""
    for package in ("nvidia-cuda-runtime", "nvidia-cuda-runtime-cu13", "nvidia-cuda-runtime-cu12"):
        if version := _version(package):
            return version
    return None


def git_commit() -> str | None:
    """The project's HEAD (asked in the project's folder: asv runs cells elsewhere)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parents[1],
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, Any]:
    """The machine block stored with every record: hardware, versions, commit, date."""
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = _gpu_model()
    return {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gb": round(mem_gb, 1),
        "gpu": gpu,
        "cuda": _cuda_runtime() if gpu else None,
        "python": platform.python_version(),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "torch": _version("torch"),
        "folx": _version("folx"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
