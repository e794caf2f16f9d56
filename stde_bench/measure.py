"""How every number is measured: timing with device synchronization, peak memory with a
labelled method.  Where it was measured: ``stde_bench.provenance``."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
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
