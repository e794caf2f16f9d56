"""Every test runs on CPU in float64 (folx's habit): correctness is proven, not assumed."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
