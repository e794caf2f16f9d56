r"""A manufactured high-dimensional biharmonic problem (docs/protocol.md §1.5; paper App. J.3).

    Δ²u = f  on the unit ball B^d,   u = ∂_n u = 0 on the sphere,   R = Δ²u - f.

Exact solution (a = 1 - |x|^2, φ = a^2, c_i ~ N(0, 1) from the seed):

    u*(x) = φ(x) s(x),   s(x) = sum_{i=1}^{d-1} c_i sin(θ_i),   θ_i = x_i + x_{i+1}.

Forcing in O(d).  For a product,

    Δ²(φ s) = φ Δ²s + 4 ∇φ·∇Δs + 2 Δφ Δs + 4 tr(H_φ H_s) + 4 ∇s·∇Δφ + s Δ²φ,

and for φ = (1 - |x|^2)^2:  ∇φ = -4 a x,  H_φ = 8 x x^T - 4 a I,  Δφ = 8|x|^2 - 4 a d,
∇Δφ = (16 + 8d) x,  Δ²φ = 8 d (d + 2).  Hence

    Δ²u* = φ Δ²s - 16 a x·∇Δs + 2 (8|x|^2 - 4 a d) Δs + 32 x^T H_s x - 16 a Δs
           + (64 + 32 d) x·∇s + 8 d (d + 2) s.

Each term sin(w·x) with w = e_i + e_{i+1} (k = |w|^2 = 2, θ = w·x) has
x·∇ = θ cos θ,  Δ = -k sin θ,  Δ² = k^2 sin θ,  x·∇Δ = -k θ cos θ,  x^T H x = -θ^2 sin θ.

Boundary: hard constraint u = (1 - |x|^2)^2 NN(x), which enforces u = ∂_n u = 0 (the
clamped plate conditions that make Δ²u = f well posed).  Samplers and test set as in
``problems.inseparable``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from problems import register
from problems.inseparable import BallProblem

#: |w|^2 for the phase θ_i = x_i + x_{i+1}
_K = 2.0


def _terms(x: Any, xp: Any) -> dict[str, Any]:
    """Per-term quantities of sin(θ_i), each ``(N, d-1)``."""
    theta = x[:, :-1] + x[:, 1:]
    sin_t, cos_t = xp.sin(theta), xp.cos(theta)
    return {
        "value": sin_t,
        "x_grad": theta * cos_t,
        "lap": -_K * sin_t,
        "bilap": _K * _K * sin_t,
        "x_grad_lap": -_K * theta * cos_t,
        "x_hess_x": -theta * theta * sin_t,
    }


@register("biharmonic")
@dataclasses.dataclass(frozen=True)
class BiharmonicProblem(BallProblem):
    """Δ²u = f on B^d with the clamped hard constraint (see module docstring)."""

    operator: ClassVar[str] = "biharmonic"
    min_dim: ClassVar[int] = 2

    def _sums(self, xp: Any, z: Any) -> dict[str, Any]:
        c = self._c(z)
        return {k: (c * v).sum(-1) for k, v in _terms(z, xp).items()}

    def _exact_batch(self, xp: Any, z: Any) -> Any:
        a = 1.0 - (z * z).sum(-1)
        return a * a * self._sums(xp, z)["value"]

    def _forcing_batch(self, xp: Any, z: Any) -> Any:
        s = self._sums(xp, z)
        d = z.shape[-1]
        r2 = (z * z).sum(-1)
        a = 1.0 - r2
        return (
            a * a * s["bilap"]
            - 16.0 * a * s["x_grad_lap"]
            + 2.0 * (8.0 * r2 - 4.0 * a * d) * s["lap"]
            + 32.0 * s["x_hess_x"]
            - 16.0 * a * s["lap"]
            + (64.0 + 32.0 * d) * s["x_grad"]
            + 8.0 * d * (d + 2.0) * s["value"]
        )

    def boundary_factor(self, sq_norm: Any) -> Any:
        """Clamped hard constraint u = (1 - |z|^2)^2 * NN(z): u = ∂_n u = 0 on the sphere."""
        a = 1.0 - sq_norm
        return a * a

    def residual(self, u: Any, z: Any, estimate: Any) -> Any:
        """R = estimate(u, z) - f(z), the estimate being Δ²u (shapes as in inseparable)."""
        return estimate(u, z) - self.forcing(z)
