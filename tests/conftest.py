"""Every test runs on CPU in float64 (folx's habit): correctness is proven, not assumed."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from stde_bench.xla_fixes import disable_cpu_ynn_fusion  # noqa: E402

disable_cpu_ynn_fusion()  # before JAX's backend starts: see stde_bench/xla_fixes.py

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
