"""Domain samplers shared by the problem families, written once for every backend.

A sampler turns raw draws (standard normals, uniforms on [0, 1)) into points; the raw
draws come from a ``RandomSource`` that wraps the backend's randomness (``normal``,
``uniform``, and ``normal_rows``: rows of normals that ``NormalRows.map`` turns into points
a chunk at a time on JAX, so that at high d no whole array of normals is ever held):

- ``"jax"``:   a ``jax.random`` key (split internally; jit-compatible),
- ``"torch"``: a ``torch.Generator`` or ``None`` (torch's global generator),
- ``"numpy"``: a ``numpy.random.Generator`` (fixed test sets: identical on both backends
  and every machine).

Samplers (all take the source, return ``(n, input_dim)``):
- ``ball(source, n, d, kind)``: unit ball B^d.  ``"radius-uniform"``: Gaussian
  direction, radius r ~ U[0, 1] (the released STDE code; density ~ r^(1-d), E r = 1/2);
  ``"volume-uniform"``: r = U^(1/d) (uniform in volume, E r = d / (d + 1)).
- ``gaussian_in_time(source, n, d, horizon)``: t ~ U[0, T], x ~ N(0, 2 (T - t) I)
  (semilinear problems).
- ``box(source, n, d, t_max)``: x ~ U[-1, 1]^d, t ~ U[0, t_max] (high-order problems).
"""

from __future__ import annotations

from collections.abc import Callable
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

    def normal_rows(self, n: int, d: int) -> NormalRows:
        """``n`` rows of ``d`` standard normals, drawn now (the next draw of this source),
        laid out by ``NormalRows.map``."""
        if self.backend == "jax":
            return NormalRows(n, d, key=self._split())
        return NormalRows(n, d, array=self.normal((n, d)))


class NormalRows:
    """``n`` rows of ``d`` standard normals, turned into points a chunk of rows at a time.

    A sampler's points are a function of their row of normals and a few per-row scalars
    (a radius, a time).  On numpy and torch ``map`` applies that function to the whole
    ``(n, d)`` array.  On JAX it is a loop over chunks of rows that draws each chunk
    inside the loop (``_jax_normal_row``), so at high d neither the normals nor JAX's
    random bits ever exist as a whole array beside the points: drawn whole,
    ``jax.random.normal`` holds four arrays of n·d·4 bytes at once (threefry's two counter
    words and two hash words), and XLA fuses the scaling into every consumer of the
    points, keeping the normals alive beside them.  At n = 100, d = 10^6 that was 1.5 GiB
    of the 2.9 GiB training step of the network alone (``scripts/step_memory.py``).  A
    chunk holds ``CHUNK_ELEMENTS`` numbers (per backend: a GPU needs larger chunks to
    fill it, and each trip of the loop costs it a launch), so at low d the loop has one
    trip and the draw is JAX's own.  The normals are ``jax.random.normal(key, (n, d))``
    bit for bit (``tests/problems/test_sampling.py``).
    """

    CHUNK_ELEMENTS = {"cpu": 2**20}  # any other backend: 2**24

    def __init__(self, n: int, d: int, *, key: Any = None, array: Any = None) -> None:
        self.n, self.d, self.key, self.array = n, d, key, array

    def rows_per_chunk(self) -> int:
        """Rows per trip of the JAX loop: ``CHUNK_ELEMENTS // d``, at least 1, at most n."""
        import jax

        elements = self.CHUNK_ELEMENTS.get(jax.default_backend(), 2**24)
        return max(1, min(self.n, elements // self.d))

    def map(self, place: Callable[..., Any], *per_row: Any) -> Any:
        """``place(z, *a)`` for every row: z ``(..., d)`` normals, each a ``(..., 1)``.

        ``per_row``: arrays of shape ``(n,)``.  ``place`` sees one row (z ``(d,)``, a ``(1,)``,
        vectorized over the chunk's rows) on JAX and all rows at once (z ``(n, d)``, a
        ``(n, 1)``) elsewhere, so it is written for both: reductions over the last axis
        with ``keepdims=True``.
        """
        columns = [a[:, None] for a in per_row]
        if self.key is None:
            return place(self.array, *columns)
        import jax
        import jax.numpy as jnp

        row = _jax_normal_row(self.key, self.n, self.d)
        return jax.lax.map(
            lambda args: place(row(args[0]), *args[1:]),
            (jnp.arange(self.n), *columns),
            batch_size=self.rows_per_chunk(),
        )


def _jax_normal_row(key: Any, n: int, d: int) -> Any:
    """``r -> jax.random.normal(key, (n, d))[r]`` without drawing the other rows.

    With JAX's partitionable threefry (its default) the 32 bits of element i are
    ``a ^ b`` with ``(a, b) = threefry2x32(key, (hi(i), lo(i)))`` for the flat index
    i = r·d + j, so row r needs only the counters r·d + [0, d).  The float is built from
    the bits as ``jax.random.uniform`` builds it (the top 23 bits as a mantissa in [1, 2),
    shifted to [-1, 1)), then N(0, 1) = √2 erf⁻¹(u).  Any other case (float64, another
    key type, non-partitionable threefry, n·d ≥ 2^32) takes row r of ``jax.random.normal``.
    """
    import jax

    if not (
        not jax.config.jax_enable_x64
        and n * d < 2**32
        and jax.config.jax_threefry_partitionable
        and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        and str(jax.random.key_impl(key)) == "threefry2x32"
    ):
        whole = jax.random.normal(key, (n, d))
        return lambda r: whole[r]
    from jax import lax
    from jax.extend.random import threefry2x32_p

    key1, key2 = jax.random.key_data(key)
    low = np.nextafter(np.float32(-1.0), np.float32(0.0))  # jax.random.normal's open interval
    one_bits = np.array(1.0, np.float32).view(np.uint32)

    def row(r: Any) -> Any:
        lo = r.astype(np.uint32) * np.uint32(d) + lax.iota(np.uint32, d)
        hi = lo * np.uint32(0)  # i < 2^32; batched like lo (threefry's vmap rule needs it)
        word_a, word_b = threefry2x32_p.bind(key1, key2, hi, lo)
        mantissa = lax.shift_right_logical(word_a ^ word_b, np.uint32(32 - 23))
        unit = lax.bitcast_convert_type(mantissa | one_bits, np.float32) - np.float32(1.0)
        u = lax.max(low, unit * (np.float32(1.0) - low) + low)
        return np.float32(np.sqrt(2.0)) * lax.erf_inv(u)

    return row


def check_sampler(name: str, sampler: str | None, valid: tuple[str, ...]) -> str:
    """``sampler`` (default: the first valid one) or a ValueError listing the valid ones."""
    if sampler is None:
        return valid[0]
    if sampler not in valid:
        raise ValueError(f"{name}: unknown sampler {sampler!r}; valid samplers: {', '.join(valid)}")
    return sampler


def ball(source: RandomSource, n: int, d: int, kind: str) -> Any:
    """``n`` points in the unit ball B^d, shape ``(n, d)``; ``kind`` in ``BALL_SAMPLERS``."""
    normals = source.normal_rows(n, d)
    radius = source.uniform((n,))
    if kind == "volume-uniform":
        radius = radius ** (1.0 / d)
    xp = source.xp
    return normals.map(lambda z, r: z * (r / xp.sqrt((z * z).sum(-1, keepdims=True))), radius)


def gaussian_in_time(source: RandomSource, n: int, d: int, horizon: float) -> Any:
    """``(n, d + 1)`` points ``(x, t)``: t ~ U[0, T], x ~ N(0, 2 (T - t) I).

    The released code writes the problem in terminal-value form with time s = T - t and
    draws x ~ N(0, 2 s I): the points spread out from the evaluation point (x = 0 at the
    final time) towards the condition at t = 0, following the heat kernel of Δ.
    """
    xp = source.xp
    t = horizon * source.uniform((n,))
    return source.normal_rows(n, d).map(
        lambda z, t: xp.concatenate([z * xp.sqrt(2.0 * (horizon - t)), t], -1), t
    )


def box(source: RandomSource, n: int, d: int, t_max: float) -> Any:
    """``(n, d + 1)`` points: x ~ U[-1, 1]^d, t ~ U[0, t_max]."""
    xp = source.xp
    x = 2.0 * source.uniform((n, d)) - 1.0
    t = t_max * source.uniform((n,))
    return xp.concatenate([x, t[:, None]], -1)


def numpy_source(seed: int, stream: int) -> RandomSource:
    """A reproducible numpy source for fixed sets (test sets): ``default_rng([seed, stream])``."""
    return RandomSource("numpy", np.random.default_rng([seed, stream]))
