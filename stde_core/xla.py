"""XLA CPU settings the suite applies before JAX starts its backend (``configure_xla_cpu``).

XLA reads ``XLA_FLAGS`` when its backend starts (at the first computation), so this must
run before that; importing ``estimators`` does it, and so do the CLI and the tests.  A
flag the user already set in ``XLA_FLAGS`` is left as they set it.  Both flags name CPU
options only: a GPU's compilation does not read them.

1. A jaxlib 0.10 miscompilation.  XLA's CPU "YNN" fusion sometimes compiles a dot with a
   broadcast-zeros operand, which ``jax.experimental.jet`` emits for closed-over
   constants, into an executable that returns garbage (the same HLO; some compilations
   good, some bad; reproduced here in 6 of 40 compilations, see jax-ml/jax#39257).
   Turning that fusion off fixes it (``YNN_OFF``).

2. The memory-minimizing scheduler (``MEMORY_SCHEDULER``), for every method alike.  XLA's
   CPU executable maps its temporaries as one fresh slab per execution, so every step
   page-faults its whole slab; the memory-minimizing scheduler packs that slab tight and
   the same for every program, and on a 2-core CPU runs every method's step as fast or
   faster than XLA's default.  Evidence: docs/findings.md#xla-cpu-scheduler.
"""

from __future__ import annotations

import os
from importlib import metadata

YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="
MEMORY_SCHEDULER = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def _jaxlib_at_least(major: int, minor: int) -> bool:
    try:
        found = tuple(int(p) for p in metadata.version("jaxlib").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return found >= (major, minor)


def configure_xla_cpu() -> None:
    """Append ``YNN_OFF`` (jaxlib >= 0.10) and ``MEMORY_SCHEDULER`` (jaxlib >= 0.5) to
    ``XLA_FLAGS`` unless the user set them.  Older XLA builds do not know the flags (and
    abort on unknown flags): left alone."""
    for flag, since in ((YNN_OFF, (0, 10)), (MEMORY_SCHEDULER, (0, 5))):
        flags = os.environ.get("XLA_FLAGS", "")
        name = flag.split("=")[0]
        if _jaxlib_at_least(*since) and name not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
