"""Domain samplers shared by the problem families, written once for every backend.

A sampler turns raw draws (standard normals, uniforms on [0, 1)) into points; the raw
draws come from a ``RandomSource`` that wraps the backend's randomness:

- ``"jax"``:   a ``jax.random`` key (split internally; jit-compatible),
- ``"torch"``: a ``torch.Generator`` or ``None`` (torch's global generator),
- ``"numpy"``: a ``numpy.random.Generator`` (fixed test sets: identical on both backends
  and every machine).

Samplers (all return ``(n, input_dim)``):
- ``ball(xp, normals, uniforms, kind)``: unit ball B^d.  ``"radius-uniform"``: Gaussian
  direction, radius r ~ U[0, 1] (the released STDE code; density ~ r^(1-d), E r = 1/2);
  ``"volume-uniform"``: r = U^(1/d) (uniform in volume, E r = d / (d + 1)).
- ``gaussian_in_time``: t ~ U[0, T], x ~ N(0, 2 (T - t) I) (semilinear problems).
- ``box``: x ~ U[-1, 1]^d, t ~ U[0, t_max] (high-order problems).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from problems._xp import namespace

BALL_SAMPLERS = ("radius-uniform", "volume-uniform")


class RandomSource:
    """Standard normals and uniforms from a backend's randomness (see module docstring)."""

    def __init__(self, backend: str, key: Any) -> None:
        self.backend = backend
        self.xp = namespace(backend)
        self._key = key

    def _split(self) -> Any:
        import jax

        if self._key is None:
            raise ValueError("the JAX backend needs a PRNG key: pass jax.random.key(seed)")
        self._key, sub = jax.random.split(self._key)
        return sub

    def normal(self, shape: tuple[int, ...]) -> Any:
        """Standard normal draws of ``shape`` (backend default float dtype)."""
        if self.backend == "jax":
            import jax

            return jax.random.normal(self._split(), shape)
        if self.backend == "torch":
            import torch

            device = None if self._key is None else self._key.device
            return torch.randn(shape, generator=self._key, device=device)
        return self._key.standard_normal(shape)

    def uniform(self, shape: tuple[int, ...]) -> Any:
        """Uniform draws on [0, 1) of ``shape``."""
        if self.backend == "jax":
            import jax

            return jax.random.uniform(self._split(), shape)
        if self.backend == "torch":
            import torch

            device = None if self._key is None else self._key.device
            return torch.rand(shape, generator=self._key, device=device)
        return self._key.random(shape)


def check_sampler(name: str, sampler: str | None, valid: tuple[str, ...]) -> str:
    """``sampler`` (default: the first valid one) or a ValueError listing the valid ones."""
    if sampler is None:
        return valid[0]
    if sampler not in valid:
        raise ValueError(f"{name}: unknown sampler {sampler!r}; valid samplers: {', '.join(valid)}")
    return sampler


def ball(source: RandomSource, n: int, d: int, kind: str) -> Any:
    """``n`` points in the unit ball B^d, shape ``(n, d)``; ``kind`` in ``BALL_SAMPLERS``."""
    normals = source.normal((n, d))
    radius = source.uniform((n,))
    if kind == "volume-uniform":
        radius = radius ** (1.0 / d)
    norm = source.xp.sqrt((normals * normals).sum(-1))
    return normals * (radius / norm)[:, None]


def gaussian_in_time(source: RandomSource, n: int, d: int, horizon: float) -> Any:
    """``(n, d + 1)`` points ``(x, t)``: t ~ U[0, T], x ~ N(0, 2 (T - t) I).

    The released code writes the problem in terminal-value form with time s = T - t and
    draws x ~ N(0, 2 s I): the points spread out from the evaluation point (x = 0 at the
    final time) towards the condition at t = 0, following the heat kernel of Δ.
    """
    xp = source.xp
    t = horizon * source.uniform((n,))
    x = source.normal((n, d)) * xp.sqrt(2.0 * (horizon - t))[:, None]
    return xp.concatenate([x, t[:, None]], -1)


def box(source: RandomSource, n: int, d: int, t_max: float) -> Any:
    """``(n, d + 1)`` points: x ~ U[-1, 1]^d, t ~ U[0, t_max]."""
    xp = source.xp
    x = 2.0 * source.uniform((n, d)) - 1.0
    t = t_max * source.uniform((n,))
    return xp.concatenate([x, t[:, None]], -1)


def numpy_source(seed: int, stream: int) -> RandomSource:
    """A reproducible numpy source for fixed sets (test sets): ``default_rng([seed, stream])``."""
    return RandomSource("numpy", np.random.default_rng([seed, stream]))
