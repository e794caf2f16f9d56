r"""Low-dimensional high-order PDEs with manufactured solutions (docs/protocol.md §1.3; App. I.4.1).

Residual R = L u - f with f = L u* (time last in z; box [-1, 1]^dim x [0, 1]):

    kdv-2d:   L u = u_ty + u_xxxy + 3 (u_y u_x)_x - u_xx + 2 u_yy
                  = u_ty + u_xxxy + 3 (u_xy u_x + u_y u_xx) - u_xx + 2 u_yy
    kp-2d:    L u = u_tx + 6 u_x^2 + 6 u u_xx + u_xxxx + 3 σ^2 u_yy        (σ^2 = 1)
    gkdv-1d:  L u = u_t + u u_x + 0.0025 u_xxx,
              plus the gradient-enhanced penalty 1e-3 (mean (∂_x R)^2 + mean (∂_t R)^2) with
              ∂_x L u = u_tx + u_x^2 + u u_xx + 0.0025 u_xxxx,
              ∂_t L u = u_tt + u_t u_x + u u_tx + 0.0025 u_xxxt.

The released code has no real solutions for these; here each has a manufactured one:

    kdv-2d:   u* = e^{0.3x - 0.5t} sin(x + 2y - t) + 0.5 e^{0.2y} cos(2x - y + 0.5t)
    kp-2d:    u* = e^{-0.4t} sin(1.5x + y - t) + 0.4 e^{0.3x} cos(x - 1.2y + 0.8t)
    gkdv-1d:  u* = e^{-0.5t} sin(πx - t) + 0.5 e^{0.5x} cos(2x + t)

Each is a sum of modes Re(C e^{κ·z}) with complex C and κ = a + i b, so every partial is
closed-form:  ∂^α Re(C e^{κ·z}) = Re(C κ^α e^{κ·z}) = e^{a·z} (Re D cos(b·z) - Im D sin(b·z)),
D = C Π_j κ_j^{α_j}.  The forcing is L applied to those partials (O(1) per point).

``operator = "partials"``: ``estimate(u, z)`` returns one entry per multi-index of
``alphas`` (order of coordinates (x, y, t) or (x, t)).  The solutions do not depend on the
seed.  Sampler ``"uniform"`` on the box; ``extra_loss`` = ``boundary_weight`` (1.0) times
the mean squared gap to u* over 100 points, half at t = 0 and half on the faces x_j = ±1.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from problems import register
from problems._xp import constant, pointwise
from problems.base import TEST_STREAM, Problem
from problems.sampling import RandomSource, box, check_sampler, numpy_source

#: a mode Re(C exp(κ·z)): (C, κ) with κ one complex number per input coordinate
Mode = tuple[complex, tuple[complex, ...]]


def mode_partial(xp: Any, modes: tuple[Mode, ...], alpha: tuple[int, ...], z: Any) -> Any:
    """∂^α of sum_m Re(C_m e^{κ_m·z}) at a batch ``z: (N, D)`` -> ``(N,)``."""
    total = 0.0
    for amp, kappa in modes:
        coef = amp * math.prod(k**a for k, a in zip(kappa, alpha, strict=True))
        growth = sum(k.real * z[:, j] for j, k in enumerate(kappa))
        phase = sum(k.imag * z[:, j] for j, k in enumerate(kappa))
        total = total + xp.exp(growth) * (coef.real * xp.cos(phase) - coef.imag * xp.sin(phase))
    return total


@dataclasses.dataclass(frozen=True)
class HighOrderProblem(Problem):
    """Base of the high-order problems: subclasses set ``spatial_dim``, ``modes``,
    ``_alphas`` and ``lhs`` (and, for gradient-enhanced ones, ``lhs_gradient``)."""

    operator: ClassVar[str] = "partials"
    time_dependent: ClassVar[bool] = True
    samplers: ClassVar[tuple[str, ...]] = ("uniform",)
    spatial_dim: ClassVar[int] = 1
    t_max: ClassVar[float] = 1.0
    modes: ClassVar[tuple[Mode, ...]] = ()
    _alphas: ClassVar[tuple[tuple[int, ...], ...]] = ()
    boundary_weight: ClassVar[float] = 1.0
    boundary_points: ClassVar[int] = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim != self.spatial_dim:
            raise ValueError(
                f"{self.name}: dim must be {self.spatial_dim} (the only valid dimension; time "
                f"is an extra input), got {self.dim}"
            )

    @property
    def alphas(self) -> tuple[tuple[int, ...], ...]:
        """Multi-indices of the partials the residual needs (length ``input_dim``)."""
        return self._alphas

    # --- the operator, written on partials ---------------------------------------------
    def lhs(self, u: Any, p: dict[tuple[int, ...], Any]) -> Any:
        """L u from the value ``u`` and the partials ``p[alpha]``."""
        raise NotImplementedError

    def lhs_gradient(self, u: Any, p: dict[tuple[int, ...], Any]) -> list[Any] | None:
        """[∂_x L u, ∂_t L u] for gradient-enhanced problems, else None."""
        return None

    def _exact_partials(self, xp: Any, z: Any) -> tuple[Any, dict[tuple[int, ...], Any]]:
        value = mode_partial(xp, self.modes, (0,) * self.input_dim, z)
        return value, {a: mode_partial(xp, self.modes, a, z) for a in self.alphas}

    def _exact_batch(self, xp: Any, z: Any) -> Any:
        return mode_partial(xp, self.modes, (0,) * self.input_dim, z)

    def _forcing_batch(self, xp: Any, z: Any) -> Any:
        return self.lhs(*self._exact_partials(xp, z))

    def _forcing_gradient_batch(self, xp: Any, z: Any) -> Any:
        return xp.stack(self.lhs_gradient(*self._exact_partials(xp, z)), -1)

    def forcing_gradient(self, z: Any) -> Any:
        """(∂_x f, ∂_t f), analytic (gradient-enhanced problems): ``(2,)`` / ``(N, 2)``."""
        return pointwise(self.backend, self._forcing_gradient_batch, z)

    def residual(self, u: Any, z: Any, estimate: Any) -> Any:
        """R = L u - f from ``q = estimate(u, z)`` (one entry per alpha, last axis).

        JAX: ``q: (K,)``, returns ``()``; torch: ``q: (N, K)``, returns ``(N,)``.
        Gradient-enhanced problems return ``(R, dR)`` with ``dR = (∂_x R, ∂_t R)``:
        ``(2,)`` / ``(N, 2)``.
        """
        q = estimate(u, z)
        p = {a: q[..., k] for k, a in enumerate(self.alphas)}
        value = u(z)
        r = self.lhs(value, p) - self.forcing(z)
        gradient = self.lhs_gradient(value, p)
        if gradient is None:
            return r
        return r, self.xp.stack(gradient, -1) - self.forcing_gradient(z)

    # --- sampling, boundary, test set --------------------------------------------------
    def sample_domain(self, key: Any, n: int, *, sampler: str | None = None) -> Any:
        """``(n, D)``: x ~ U[-1, 1]^dim, t ~ U[0, 1]."""
        check_sampler(self.name, sampler, self.samplers)
        return box(RandomSource(self.backend, key), n, self.dim, self.t_max)

    def sample_boundary(self, key: Any, n: int) -> Any:
        """``(n, D)``: the first n // 2 at t = 0, the rest on faces x_j = ±1 (j cycling)."""
        source = RandomSource(self.backend, key)
        points = box(source, n, self.dim, self.t_max)
        signs = source.xp.sign(source.uniform((n,)) - 0.5)
        n0 = n // 2
        keep = np.ones((n, self.input_dim))
        face = np.zeros((n, self.input_dim))
        keep[:n0, -1] = 0.0
        for i in range(n0, n):
            keep[i, (i - n0) % self.dim] = 0.0
            face[i, (i - n0) % self.dim] = 1.0
        return points * constant(keep, points) + signs[:, None] * constant(face, points)

    def extra_loss(self, u: Any, key: Any) -> Any:
        """``boundary_weight`` * mean (u - u*)^2 over ``sample_boundary(key, 100)``."""
        z = self.sample_boundary(key, self.boundary_points)
        if self.backend == "jax":
            import jax

            values = jax.vmap(u)(z)
        else:
            values = u(z)
        gap = values - self._exact_batch(self.xp, z)
        return self.boundary_weight * (gap * gap).mean()

    def _test_points(self, n: int) -> np.ndarray:
        """``n`` uniform points of the box from the seed's test stream (numpy)."""
        return box(numpy_source(self.seed, TEST_STREAM), n, self.dim, self.t_max)


@register("kdv-2d")
@dataclasses.dataclass(frozen=True)
class KdV2D(HighOrderProblem):
    """u_ty + u_xxxy + 3 (u_y u_x)_x - u_xx + 2 u_yy = f on [-1, 1]^2 x [0, 1]."""

    spatial_dim: ClassVar[int] = 2
    modes: ClassVar[tuple[Mode, ...]] = (
        (-1j, (0.3 + 1j, 2j, -0.5 - 1j)),  # e^{0.3x - 0.5t} sin(x + 2y - t)
        (0.5, (2j, 0.2 - 1j, 0.5j)),  # 0.5 e^{0.2y} cos(2x - y + 0.5t)
    )
    _alphas: ClassVar[tuple[tuple[int, ...], ...]] = (
        (0, 1, 1),  # u_ty
        (3, 1, 0),  # u_xxxy
        (1, 0, 0),  # u_x
        (0, 1, 0),  # u_y
        (2, 0, 0),  # u_xx
        (1, 1, 0),  # u_xy
        (0, 2, 0),  # u_yy
    )

    def lhs(self, u: Any, p: dict[tuple[int, ...], Any]) -> Any:
        u_x, u_y, u_xx, u_xy = p[(1, 0, 0)], p[(0, 1, 0)], p[(2, 0, 0)], p[(1, 1, 0)]
        return (
            p[(0, 1, 1)]
            + p[(3, 1, 0)]
            + 3.0 * (u_xy * u_x + u_y * u_xx)
            - u_xx
            + 2.0 * p[(0, 2, 0)]
        )


@register("kp-2d")
@dataclasses.dataclass(frozen=True)
class KP2D(HighOrderProblem):
    """u_tx + 6 u_x^2 + 6 u u_xx + u_xxxx + 3 σ^2 u_yy = f (σ^2 = 1) on [-1, 1]^2 x [0, 1]."""

    spatial_dim: ClassVar[int] = 2
    sigma2: ClassVar[float] = 1.0
    modes: ClassVar[tuple[Mode, ...]] = (
        (-1j, (1.5j, 1j, -0.4 - 1j)),  # e^{-0.4t} sin(1.5x + y - t)
        (0.4, (0.3 + 1j, -1.2j, 0.8j)),  # 0.4 e^{0.3x} cos(x - 1.2y + 0.8t)
    )
    _alphas: ClassVar[tuple[tuple[int, ...], ...]] = (
        (1, 0, 1),  # u_tx
        (1, 0, 0),  # u_x
        (2, 0, 0),  # u_xx
        (4, 0, 0),  # u_xxxx
        (0, 2, 0),  # u_yy
    )

    def lhs(self, u: Any, p: dict[tuple[int, ...], Any]) -> Any:
        u_x = p[(1, 0, 0)]
        return (
            p[(1, 0, 1)]
            + 6.0 * u_x * u_x
            + 6.0 * u * p[(2, 0, 0)]
            + p[(4, 0, 0)]
            + 3.0 * self.sigma2 * p[(0, 2, 0)]
        )


@register("gkdv-1d")
@dataclasses.dataclass(frozen=True)
class GKdV1D(HighOrderProblem):
    """u_t + u u_x + 0.0025 u_xxx = f on [-1, 1] x [0, 1], gradient-enhanced.

    ``residual`` returns ``(R, dR)``, dR = (∂_x R, ∂_t R); ``loss`` is
    mean R^2 + 1e-3 (mean (∂_x R)^2 + mean (∂_t R)^2).
    """

    spatial_dim: ClassVar[int] = 1
    dispersion: ClassVar[float] = 0.0025
    gradient_weight: ClassVar[float] = 1e-3
    modes: ClassVar[tuple[Mode, ...]] = (
        (-1j, (math.pi * 1j, -0.5 - 1j)),  # e^{-0.5t} sin(πx - t)
        (0.5, (0.5 + 2j, 1j)),  # 0.5 e^{0.5x} cos(2x + t)
    )
    _alphas: ClassVar[tuple[tuple[int, ...], ...]] = (
        (0, 1),  # u_t
        (1, 0),  # u_x
        (3, 0),  # u_xxx
        (1, 1),  # u_tx
        (2, 0),  # u_xx
        (4, 0),  # u_xxxx
        (0, 2),  # u_tt
        (3, 1),  # u_xxxt
    )

    def lhs(self, u: Any, p: dict[tuple[int, ...], Any]) -> Any:
        return p[(0, 1)] + u * p[(1, 0)] + self.dispersion * p[(3, 0)]

    def lhs_gradient(self, u: Any, p: dict[tuple[int, ...], Any]) -> list[Any]:
        u_t, u_x, u_tx = p[(0, 1)], p[(1, 0)], p[(1, 1)]
        d_x = u_tx + u_x * u_x + u * p[(2, 0)] + self.dispersion * p[(4, 0)]
        d_t = p[(0, 2)] + u_t * u_x + u * u_tx + self.dispersion * p[(3, 1)]
        return [d_x, d_t]

    def loss(self, r1: Any, r2: Any = None) -> Any:
        """mean R^2 + 1e-3 (mean R_x^2 + mean R_t^2); unbiased products with ``r2``."""
        (r, dr), (r_b, dr_b) = r1, (r1 if r2 is None else r2)
        return (r * r_b).mean() + self.gradient_weight * (dr * dr_b).mean(0).sum()
