r"""Our own reference values u(0, T) of the semilinear problems (problems/semilinear.py).

Every problem there is ``u_t = Δu + F(u)`` on R^d x [0, T], ``u(., 0) = g``, evaluated at
x = 0, t = T.  Two independent methods, numpy only:

**Radial problems** (heat, Sine-Gordon: ``g(x) = G(|x|^2)``, F depends on u only).  Then
u(x, t) depends on |x| only and solves a 1-D equation, rewritten in three steps:

    u_t = u_rr + (d-1)/r u_r + F(u)                 r = |x|
        = 4 s u_ss + 2 d u_s + F(u)                 s = r^2
        = (2 σ / d) u_σσ + u_σ + F(u)               σ = s / (2 d)
    U(η, t) = u(η - t, t):   U_t = (2/d) (η - t) U_ηη + F(U)   on η ≥ t,
    U(η, 0) = G(2 d η),      u(0, T) = U(T, T).

The frame η = σ + t moves with the drift (d-1)/r u_r, which dominates near r = 0 at large
d; what is left is a diffusion whose coefficient vanishes on the line η = t (the origin).
By Feynman–Kac, U(T, T) = E[G(2 d Y_T) + ∫ F], where Y (η run backward from (T, T)) is a
martingale with dY = sqrt(2 a) dW, a = (2/d)(Y - t)^+, and Z = Y - t is a time-changed
squared Bessel process of dimension d, which never reaches 0 for d ≥ 2: the line needs no
boundary condition.  We extend a by (2/d)(η - t)^+ to the fixed domain [0, η_max]; on
the line the equation is the ODE U_t = F(U), and with time step = grid step the line sits
on a node at every step, so nodes left of it never enter a stencil with a non-zero weight.
At η_max the boundary is reflecting (U_η = 0).  Y_T = T χ²_d / d, and by Doob's maximal
inequality for exp(λ Y) with the Laurent–Massart bound, P(sup Y ≥ η_max) ≤ exp(-x) for

    η_max = T (d + 2 sqrt(d x) + 2 x) / d,

so the reflection changes U(T, T) by at most 2 sup|U| e^{L T} e^{-x} (L: F's Lipschitz
constant); x = 30 makes that ~1e-12.  Discretization (``solve_radial``): second-order
central differences on a uniform grid, semi-implicit BDF2 in time (diffusion implicit,
F extrapolated: SBDF2, second order), its first step semi-implicit Euler; the
tridiagonal systems by parallel cyclic reduction (``solve_tridiagonal``).  Refining grid and
time step together by 2 gives values with error C h^2 + O(h^3); ``richardson`` estimates
the order and extrapolates.

**Any problem** (Allen-Cahn: g = arctan(max_i x_i) is not radial): the multilevel Picard
estimator of E, Hutzenthaler, Jentzen and Kruse ("On multilevel Picard numerical
approximations for high-dimensional nonlinear parabolic partial differential equations
and high-dimensional nonlinear backward stochastic differential equations", J. Sci.
Comput. 79, 2019; the form of Hutzenthaler, Jentzen, Kruse, Nguyen and von Wurstemberger,
Proc. R. Soc. A 476, 2020), written for the forward-time problem (``multilevel_picard``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: F(u), elementwise on a numpy array
Source = Callable[[np.ndarray], np.ndarray]
#: G(s) = g(x) at |x|^2 = s, elementwise on a numpy array (a radial initial condition)
RadialInitial = Callable[[np.ndarray], np.ndarray]
#: g(x) on a batch ``(..., d) -> (...)`` (any initial condition)
Initial = Callable[[np.ndarray], np.ndarray]

#: exp(-TAIL) bounds the probability that the backward process reaches the far boundary
TAIL = 30.0


# --- the radial solver --------------------------------------------------------------------
def domain_end(dim: int, horizon: float, tail: float = TAIL) -> float:
    """η_max = T (d + 2 sqrt(d x) + 2 x) / d: P(sup Y ≥ η_max) ≤ e^{-x} (module docstring)."""
    return horizon * (dim + 2.0 * math.sqrt(dim * tail) + 2.0 * tail) / dim


def solve_tridiagonal(
    lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray
) -> np.ndarray:
    """x with ``lower[i] x[i-1] + diag[i] x[i] + upper[i] x[i+1] = rhs[i]`` (lower[0] and
    upper[-1] ignored), by parallel cyclic reduction (Hockney 1965).

    The idea: equation i minus multiples of equations i - k and i + k eliminates x[i-k] and
    x[i+k] and couples x[i] to x[i-2k], x[i+2k] instead; after ceil(log2 n) doublings each
    equation holds one unknown.  log2 n vectorized sweeps instead of a length-n Python loop;
    stable for diagonally dominant systems, which ``solve_radial``'s are.
    """
    a = np.array(lower, dtype=float)
    b = np.array(diag, dtype=float)
    c = np.array(upper, dtype=float)
    d = np.array(rhs, dtype=float)
    a[0], c[-1] = 0.0, 0.0
    n, k = b.size, 1
    while k < n:
        alpha, gamma = np.zeros(n), np.zeros(n)
        alpha[k:] = -a[k:] / b[:-k]  # eliminates x[i-k] using equation i-k
        gamma[:-k] = -c[:-k] / b[k:]  # eliminates x[i+k] using equation i+k
        b_new, d_new = b.copy(), d.copy()
        b_new[k:] += alpha[k:] * c[:-k]
        d_new[k:] += alpha[k:] * d[:-k]
        b_new[:-k] += gamma[:-k] * a[k:]
        d_new[:-k] += gamma[:-k] * d[k:]
        a_new, c_new = np.zeros(n), np.zeros(n)
        a_new[k:] = alpha[k:] * a[:-k]
        c_new[:-k] = gamma[:-k] * c[k:]
        a, b, c, d = a_new, b_new, c_new, d_new
        k *= 2
    return d / b


class RadialSolution(NamedTuple):
    """What ``solve_radial`` returns."""

    #: U(T, T) = u(0, T)
    value: float
    #: grid nodes J + 1
    nodes: int
    #: max |U| over the grid and all steps (for the far-boundary bound)
    largest: float


def far_boundary_bound(largest: float, lipschitz: float, horizon: float, tail: float) -> float:
    """2 sup|U| e^{L T} e^{-x}: what the reflecting boundary at ``domain_end`` can change."""
    return 2.0 * largest * math.exp(lipschitz * horizon - tail)


def solve_radial(
    source: Source,
    initial: RadialInitial,
    dim: int,
    horizon: float,
    steps: int,
    tail: float = TAIL,
) -> RadialSolution:
    """u(0, T) of ``u_t = Δu + F(u)``, ``u(x, 0) = G(|x|^2)`` in R^dim, on ``steps`` steps.

    Solves ``U_t = (2/d) (η - t)^+ U_ηη + F(U)`` on η in [0, J h], ``U(η, 0) = G(2 d η)``,
    ``U_η(J h, t) = 0``, and returns U(T, T) (module docstring).  Grid η_j = j h with
    h = T / steps (so η = T is node ``steps``) and J h ≥ ``domain_end``; time step h.
    With c_j = (2/d)(η_j - t_{n+1})^+ / h^2 and (A U)_j = c_j (U_{j-1} - 2 U_j + U_{j+1})
    (at j = J the ghost value U_{J+1} = U_{J-1}):

        step 1:    (U^1 - U^0) / h = A U^1 + F(U^0)
        step n+1:  (3 U^{n+1} - 4 U^n + U^{n-1}) / (2 h) = A U^{n+1} + 2 F(U^n) - F(U^{n-1})

    Error C h^2 + O(h^3) in h = T / steps.
    """
    h = horizon / steps
    nodes = math.ceil(domain_end(dim, horizon, tail) / h) + 1
    eta = h * np.arange(nodes)
    previous, current = None, initial(2.0 * dim * eta)
    largest = float(np.abs(current).max())
    source_previous, source_current = None, source(current)
    for n in range(steps):
        t_next = (n + 1) * h
        weight = (2.0 / dim) * np.maximum(eta - t_next, 0.0) / h**2
        lower, upper = -weight.copy(), -weight.copy()
        lower[-1] = -2.0 * weight[-1]
        if previous is None:
            rate = 1.0 / h
            rhs = current / h + source_current
        else:
            rate = 1.5 / h
            rhs = (4.0 * current - previous) / (2.0 * h) + 2.0 * source_current - source_previous
        following = solve_tridiagonal(lower, rate + 2.0 * weight, upper, rhs)
        previous, current = current, following
        source_previous, source_current = source_current, source(current)
        largest = max(largest, float(np.abs(current).max()))
    return RadialSolution(float(current[steps]), nodes, largest)


class Extrapolation(NamedTuple):
    """Richardson extrapolation of values at steps ``n, 2n, 4n`` (error C h^p + ...)."""

    #: the finest value plus (finest - middle) / (2^p - 1), p the expected order
    value: float
    #: log2((v1 - v2) / (v2 - v3)): the order the three values show (NaN unless the
    #: differences have one sign)
    observed_order: float
    #: |value - finest|, the finest value's estimated error
    correction: float


def richardson(values: tuple[float, float, float], order: float = 2.0) -> Extrapolation:
    """Extrapolate ``values`` at steps n, 2n, 4n with the expected ``order``."""
    coarse, middle, fine = values
    extrapolated = fine + (fine - middle) / (2.0**order - 1.0)
    ratio = (coarse - middle) / (middle - fine) if middle != fine else math.inf
    observed = math.log2(ratio) if 0.0 < ratio < math.inf else math.nan
    return Extrapolation(extrapolated, observed, abs(extrapolated - fine))


# --- linear checks: E[G(2 T χ²_d)] -----------------------------------------------------
def chi_square_mean(function: RadialInitial, dim: int, scale: float, panels: int = 400) -> float:
    """E[G(scale * χ²_d)] by composite 20-point Gauss–Legendre quadrature of the χ²_d density
    on [0, d + 60 sqrt(2d) + 200] (the tail beyond has probability < 1e-60); d ≥ 2 (at d = 1
    the density is singular at 0)."""
    end = dim + 60.0 * math.sqrt(2.0 * dim) + 200.0
    nodes, weights = np.polynomial.legendre.leggauss(20)
    edges = np.linspace(0.0, end, panels + 1)
    half = 0.5 * (edges[1:] - edges[:-1])
    x = ((edges[:-1] + edges[1:]) / 2)[:, None] + half[:, None] * nodes[None, :]
    w = half[:, None] * weights[None, :]
    k = dim / 2.0
    log_density = (k - 1.0) * np.log(x) - x / 2.0 - k * math.log(2.0) - math.lgamma(k)
    return float((w * np.exp(log_density) * function(scale * x)).sum())


class MonteCarlo(NamedTuple):
    """A sample mean with its standard error."""

    mean: float
    standard_error: float
    samples: int


def monte_carlo_radial_mean(
    function: RadialInitial,
    dim: int,
    scale: float,
    samples: int,
    rng: np.random.Generator,
    chunk: int = 2**18,
    vectors: bool = True,
) -> MonteCarlo:
    """Mean of G(scale |ξ|^2), ξ ~ N(0, I_d), over ``samples`` draws in chunks.

    ``vectors``: draw ξ itself (d normals per sample); else draw |ξ|^2 ~ χ²_d directly
    (its exact law, one number per sample: for large d).
    """
    total, total_sq, done = 0.0, 0.0, 0
    while done < samples:
        size = min(chunk, samples - done)
        if vectors:
            rows = max(1, min(size, 2**24 // dim))
            squared = np.concatenate(
                [
                    (rng.standard_normal((min(rows, size - i), dim)) ** 2).sum(1)
                    for i in range(0, size, rows)
                ]
            )
        else:
            squared = rng.chisquare(dim, size)
        values = function(scale * squared)
        total += values.sum()
        total_sq += (values * values).sum()
        done += size
    mean = total / samples
    variance = (total_sq / samples - mean * mean) * samples / (samples - 1)
    return MonteCarlo(mean, math.sqrt(variance / samples), samples)


# --- multilevel Picard ----------------------------------------------------------------------
def multilevel_picard(
    source: Source,
    initial: Initial,
    t: np.ndarray,
    x: np.ndarray,
    level: int,
    branching: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """U_{n,M}(t, x) for a batch of points ``t: (P,)``, ``x: (P, d)``: n = ``level``, M =
    ``branching``; ``source`` F, ``initial`` g (on ``(..., d)``).

    Forward-time form of u(t, x) = E[g(x + sqrt(2t) ξ)] + ∫_0^t E[F(u(t-s, x + sqrt(2s) ξ))] ds:

        U_0 = 0,
        U_n(t, x) = (1/M^n) Σ_{i ≤ M^n} g(x + sqrt(2t) ξ_i)
                  + Σ_{l=0}^{n-1} (t / M^{n-l}) Σ_{i ≤ M^{n-l}}
                        [F(U_l(t - s_i, y_i)) - 1_{l>0} F(U'_{l-1}(t - s_i, y_i))],
        s_i = t ρ_i, ρ_i ~ U[0, 1],  y_i = x + sqrt(2 s_i) ξ_i,

    every U_l, U'_{l-1} an independent realization (U_0 = 0: the l = 0 term is t F(0)).
    Arrays stay below ``2**22`` numbers: points go in batches of ``2**22 // d`` rows.
    """
    points, dim = x.shape
    batch = max(1, 2**22 // dim)
    if level == 0:
        return np.zeros(points)
    if points > batch:
        return np.concatenate(
            [
                multilevel_picard(
                    source, initial, t[i : i + batch], x[i : i + batch], level, branching, rng
                )
                for i in range(0, points, batch)
            ]
        )
    result = np.zeros(points)
    draws = branching**level
    per_chunk = max(1, 2**22 // (points * dim))
    for start in range(0, draws, per_chunk):
        size = min(per_chunk, draws - start)
        noise = rng.standard_normal((points, size, dim))
        y = x[:, None, :] + np.sqrt(2.0 * t)[:, None, None] * noise
        result += initial(y).sum(1)
    result /= draws
    for lower in range(level):
        draws = branching ** (level - lower)
        if lower == 0:  # U_0 = 0: the term is t F(0), no sample needed
            result += t * source(np.zeros(1))[0]
            continue
        total = np.zeros(points)
        for start in range(0, draws, per_chunk):
            size = min(per_chunk, draws - start)
            elapsed = t[:, None] * rng.random((points, size))
            noise = rng.standard_normal((points, size, dim))
            y = (x[:, None, :] + np.sqrt(2.0 * elapsed)[..., None] * noise).reshape(-1, dim)
            remaining = (t[:, None] - elapsed).reshape(-1)
            term = source(multilevel_picard(source, initial, remaining, y, lower, branching, rng))
            if lower > 1:
                term = term - source(
                    multilevel_picard(source, initial, remaining, y, lower - 1, branching, rng)
                )
            else:  # U'_0 = 0
                term = term - source(np.zeros(1))[0]
            total += term.reshape(points, size).sum(1)
        result += t * total / draws
    return result


def multilevel_picard_cost(level: int, branching: int) -> int:
    """Gaussian d-vectors one U_{n,M} at one point draws (the recursion's size)."""
    vectors = [0]
    for n in range(1, level + 1):
        count = branching**n
        for lower in range(1, n):
            count += branching ** (n - lower) * (1 + vectors[lower] + vectors[lower - 1])
        vectors.append(count)
    return vectors[level]
