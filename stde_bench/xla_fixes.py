"""Work around a jaxlib 0.10 CPU miscompilation before JAX starts its backend.

XLA's CPU "YNN" fusion sometimes compiles a dot with a broadcast-zeros operand, which
``jax.experimental.jet`` emits for closed-over constants, into an executable that returns
garbage (the same HLO; some compilations good, some bad; reproduced here in 6 of 40
compilations, see jax-ml/jax#39257).  Turning that fusion off fixes it.  XLA reads
``XLA_FLAGS`` when its backend starts (at the first computation), so this must run
before that; importing ``estimators`` does it.
"""

from __future__ import annotations

import os
from importlib import metadata

YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="


def disable_cpu_ynn_fusion() -> None:
    """Append ``YNN_OFF`` to ``XLA_FLAGS`` for jaxlib >= 0.10 unless the user set it.

    Older XLA builds do not know the flag (and abort on unknown flags): left alone.
    """
    try:
        major, minor = (int(p) for p in metadata.version("jaxlib").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if (major, minor) >= (0, 10) and "ynn_fusion" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {YNN_OFF}".strip()
