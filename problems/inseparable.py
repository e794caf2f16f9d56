r"""Inseparable PDEs on the unit ball (docs/protocol.md §1.1; paper App. I.1, Tables 1-6, 10, 12).

Domain B^d = {|x| < 1}, u = 0 on the sphere; residual  R(x) = Δu(x) + N(u(x)) - f(x)  with

    poisson-*:       N(u) = 0
    allen-cahn-*:    N(u) = u - u^3
    sine-gordon-*:   N(u) = sin(u)

and f = Δu* + N(u*) for the exact solutions (a = 1 - |x|^2, c_i ~ N(0, 1) from the seed)

    two-body:    u*(x) = a(x) * sum_{i=1}^{d-1} c_i sin(θ_i),
                 θ_i = x_i + cos(x_{i+1}) + x_{i+1} cos(x_i)
    three-body:  u*(x) = a(x) * sum_{i=1}^{d-2} c_i exp(P_i),   P_i = x_i x_{i+1} x_{i+2}.

Forcing in O(d) per point.  With s = sum_i c_i s_i the bracketed sum,
∇a = -2x, Δa = -2d and Δ(a s) = a Δs + 2 ∇a·∇s + s Δa:

    Δu* = a Δs - 4 x·∇s - 2 d s.

Each term depends on two (three) neighbouring coordinates, so Δs and x·∇s are sums of
per-term closed forms.  Two-body, with p = x_i, q = x_{i+1}:

    θ_p = 1 - q sin p,  θ_q = cos p - sin q,  θ_pp = -q cos p,  θ_qq = -cos q,
    Δ sin θ = cos θ (θ_pp + θ_qq) - sin θ (θ_p^2 + θ_q^2),  x·∇ sin θ = cos θ (p θ_p + q θ_q).

Three-body, with (p, q, r) = (x_i, x_{i+1}, x_{i+2}) and P = p q r (P is linear in each
coordinate, so ∂_pp P = 0):

    Δ e^P = e^P ((q r)^2 + (p r)^2 + (p q)^2),   x·∇ e^P = 3 P e^P.

(The released code's three-body Laplacian is not this; every formula here is tested
against nested autodiff in ``tests/problems``.)

Boundary: hard constraint u = (1 - |x|^2) NN(x).  Samplers: ``"radius-uniform"`` (default,
the released code's) and ``"volume-uniform"`` (see ``problems.sampling``).  Test set:
``test_size`` points of the default sampler drawn from the seed with numpy (the same points
on both backends), and u* there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import numpy as np

from problems import register
from problems._xp import constant
from problems.base import TEST_STREAM, Problem
from problems.sampling import BALL_SAMPLERS, RandomSource, ball, check_sampler, numpy_source

# --- nonlinearities N(u) and N'(u) ---------------------------------------------------


class Nonlinearity(NamedTuple):
    """N(u) and its derivative N'(u), elementwise: ``(xp, u) -> array like u``."""

    value: Callable[[Any, Any], Any]
    derivative: Callable[[Any, Any], Any]


def _zero(xp: Any, u: Any) -> Any:
    return 0.0 * u


def _allen_cahn(xp: Any, u: Any) -> Any:
    return u - u**3


def _allen_cahn_prime(xp: Any, u: Any) -> Any:
    return 1.0 - 3.0 * u**2


NONLINEARITIES: dict[str, Nonlinearity] = {
    "poisson": Nonlinearity(_zero, _zero),
    "allen-cahn": Nonlinearity(_allen_cahn, _allen_cahn_prime),
    "sine-gordon": Nonlinearity(lambda xp, u: xp.sin(u), lambda xp, u: xp.cos(u)),
}


# --- the sums s(x) = sum_i c_i s_i(x): per-term value, x·∇ and Laplacian ----------------


def two_body_terms(xp: Any, x: Any) -> tuple[Any, Any, Any]:
    """Per-term ``(s_i, x·∇s_i, Δs_i)`` for s_i = sin(θ_i); x: (N, d) -> three (N, d-1)."""
    p, q = x[:, :-1], x[:, 1:]
    sin_p, cos_p, sin_q, cos_q = xp.sin(p), xp.cos(p), xp.sin(q), xp.cos(q)
    theta = p + cos_q + q * cos_p
    th_p, th_q = 1.0 - q * sin_p, cos_p - sin_q
    th_pp, th_qq = -q * cos_p, -cos_q
    sin_t, cos_t = xp.sin(theta), xp.cos(theta)
    x_grad = cos_t * (p * th_p + q * th_q)
    lap = cos_t * (th_pp + th_qq) - sin_t * (th_p * th_p + th_q * th_q)
    return sin_t, x_grad, lap


def three_body_terms(xp: Any, x: Any) -> tuple[Any, Any, Any]:
    """Per-term ``(s_i, x·∇s_i, Δs_i)`` for s_i = exp(P_i); x: (N, d) -> three (N, d-2)."""
    p, q, r = x[:, :-2], x[:, 1:-1], x[:, 2:]
    prod = p * q * r
    e = xp.exp(prod)
    x_grad = 3.0 * prod * e
    lap = e * ((q * r) ** 2 + (p * r) ** 2 + (p * q) ** 2)
    return e, x_grad, lap


class Body(NamedTuple):
    """A sum's terms: each depends on ``size`` neighbouring coordinates; ``terms(xp, x)``
    gives the per-term ``(s_i, x·∇s_i, Δs_i)``, each ``(N, d - size + 1)``."""

    size: int
    terms: Callable[[Any, Any], tuple[Any, Any, Any]]


BODIES: dict[str, Body] = {
    "two-body": Body(2, two_body_terms),
    "three-body": Body(3, three_body_terms),
}


def hard_constraint_laplacian(x: Any, s: Any, x_grad_s: Any, lap_s: Any) -> tuple[Any, Any]:
    """``(u, Δu)`` for u = (1 - |x|^2) s: Δu = a Δs - 4 x·∇s - 2 d s.  All (N,)."""
    a = 1.0 - (x * x).sum(-1)
    return a * s, a * lap_s - 4.0 * x_grad_s - 2.0 * x.shape[-1] * s


# --- shared ball machinery -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BallProblem(Problem):
    """A PDE on the unit ball with seeded coefficients ``c`` (numpy, float64).

    Subclasses set ``min_dim`` and ``n_coefficients(dim)``, implement ``_exact_batch``
    and ``_forcing_batch`` (``xp, Z (N, d) -> (N,)``, reading ``_c(Z)``) and, for another
    hard constraint, ``boundary_factor``.
    """

    coefficients: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

    samplers: ClassVar[tuple[str, ...]] = BALL_SAMPLERS
    min_dim: ClassVar[int] = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < self.min_dim:
            raise ValueError(
                f"{self.name}: dim must be an int >= {self.min_dim} (valid: {self.min_dim}, "
                f"{self.min_dim + 1}, ...), got {self.dim}"
            )
        coefficients = np.random.default_rng(self.seed).standard_normal(self.n_coefficients())
        object.__setattr__(self, "coefficients", coefficients)

    def n_coefficients(self) -> int:
        return self.dim - 1

    def _c(self, like: Any) -> Any:
        """The coefficients as an array like ``like`` (cached per dtype/device for torch)."""
        if not type(like).__module__.startswith("torch"):
            return constant(self.coefficients, like)
        key = ("c", like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = constant(self.coefficients, like)
        return self._cache[key]

    def boundary_factor(self, sq_norm: Any) -> Any:
        """The hard constraint as a function of |x|^2: ``1 - |x|^2`` (u = 0 on the sphere)."""
        return 1.0 - sq_norm

    def ansatz(self, nn_value: Any, z: Any) -> Any:
        """Hard constraint u = (1 - |z|^2) * NN(z) (z: ``(d,)`` or ``(N, d)``)."""
        return self.boundary_factor((z * z).sum(-1)) * nn_value

    def restriction_rest(self, z: Any, index: Any) -> Any:
        """|z|^2 - |z_J|^2, ``()`` or ``(N,)`` (``z: (d,)`` or ``(N, d)``, ``index: (K,)``):
        the part of |x|^2 that the coordinates J do not move, once per point."""
        z_index = z[..., index]
        return (z * z).sum(-1) - (z_index * z_index).sum(-1)

    def restricted_ansatz(self, nn_value: Any, rest: Any, y: Any) -> Any:
        """The hard constraint at z with z_J replaced by y: |x|^2 = rest + |y|^2
        (``y: (K,)`` or ``(N, K)``; no d-sized array per direction)."""
        return self.boundary_factor(rest + (y * y).sum(-1)) * nn_value

    def sample_domain(self, key: Any, n: int, *, sampler: str | None = None) -> Any:
        """``n`` points in B^d, ``(n, d)``; key: JAX key or torch.Generator (or None)."""
        kind = check_sampler(self.name, sampler, self.samplers)
        return ball(RandomSource(self.backend, key), n, self.dim, kind)

    def _test_points(self, n: int) -> np.ndarray:
        """``n`` points of the default sampler from the seed's test stream (numpy)."""
        return ball(numpy_source(self.seed, TEST_STREAM), n, self.dim, self.samplers[0])


# --- the six inseparable problems ------------------------------------------------------

INSEPARABLE = tuple(f"{n}-{b}" for b in BODIES for n in NONLINEARITIES)


@dataclasses.dataclass(frozen=True)
class InseparableProblem(BallProblem):
    """``<nonlinearity>-<body>``: R = Δu + N(u) - f on B^d (see module docstring).

    ``name`` picks the family: nonlinearity in ``NONLINEARITIES``, body in ``BODIES``.
    """

    body: str = dataclasses.field(init=False, compare=False)
    nonlinearity: str = dataclasses.field(init=False, compare=False)

    operator: ClassVar[str] = "laplacian"

    def __post_init__(self) -> None:
        base = self.base_name()
        if base not in INSEPARABLE:
            raise ValueError(f"unknown inseparable problem {self.name!r}; valid: {INSEPARABLE}")
        object.__setattr__(self, "body", next(b for b in BODIES if base.endswith(b)))
        object.__setattr__(
            self, "nonlinearity", next(n for n in NONLINEARITIES if base.startswith(n))
        )
        super().__post_init__()

    def base_name(self) -> str:
        """The inseparable problem this one is built on (its own name here)."""
        return self.name

    @property
    def min_dim(self) -> int:  # type: ignore[override]
        return BODIES[self.body].size

    def n_coefficients(self) -> int:
        return self.dim - BODIES[self.body].size + 1

    def _u_and_laplacian(self, xp: Any, z: Any) -> tuple[Any, Any]:
        s_i, x_grad_i, lap_i = BODIES[self.body].terms(xp, z)
        c = self._c(z)
        return hard_constraint_laplacian(
            z, (c * s_i).sum(-1), (c * x_grad_i).sum(-1), (c * lap_i).sum(-1)
        )

    def _exact_batch(self, xp: Any, z: Any) -> Any:
        s_i = BODIES[self.body].terms(xp, z)[0]
        return (1.0 - (z * z).sum(-1)) * (self._c(z) * s_i).sum(-1)

    def _forcing_batch(self, xp: Any, z: Any) -> Any:
        u, lap = self._u_and_laplacian(xp, z)
        return lap + NONLINEARITIES[self.nonlinearity].value(xp, u)

    def nonlinear(self, u: Any) -> Any:
        """N(u), elementwise."""
        return NONLINEARITIES[self.nonlinearity].value(self.xp, u)

    def nonlinear_prime(self, u: Any) -> Any:
        """N'(u), elementwise."""
        return NONLINEARITIES[self.nonlinearity].derivative(self.xp, u)

    def residual(self, u: Any, z: Any, estimate: Any) -> Any:
        """R = estimate(u, z) + N(u(z)) - f(z).

        JAX: ``u: (d,) -> ()``, ``z: (d,)``, returns ``()``.  torch: ``u: (N, d) -> (N,)``,
        ``z: (N, d)``, ``estimate(u, z) -> (N,)``, returns ``(N,)``.
        """
        return estimate(u, z) + self.nonlinear(u(z)) - self.forcing(z)


for _name in INSEPARABLE:
    register(_name)(InseparableProblem)
