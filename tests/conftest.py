"""Every test runs on CPU in float64 (folx's habit): correctness is proven, not assumed."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from stde_core.xla import configure_xla_cpu  # noqa: E402

configure_xla_cpu()  # before JAX's backend starts: see stde_core/xla.py

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
