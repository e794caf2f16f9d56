r"""Gradient-enhanced PINNs in high dimension (docs/protocol.md §1.4; paper App. I.4.2, Table 12).

The two-body Allen-Cahn and Sine-Gordon problems of ``problems.inseparable`` (same u*,
forcing, sampler, test set and hard constraint), with the gPINN loss

    loss = mean_z R(z)^2 + 0.1 * mean_{z, k} (∂_{j_k} R(z))^2,

    R       = Δu + N(u) - f,
    ∂_j R   = ∂_j Δu + N'(u) ∂_j u - ∂_j f,

over K sampled coordinates j_k.  The estimator supplies one
``estimators.base.LaplacianGradient`` per point (``operator = "laplacian-gradient"``):
``laplacian`` ~ Δu, ``index`` = (j_k), ``grad_laplacian`` ~ (∂_{j_k} Δu), ``grad`` = (∂_{j_k} u).
∂_j f comes from reverse-mode autodiff of the analytic O(d) forcing (one gradient, O(d)).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from problems import register
from problems.inseparable import InseparableProblem

GPINN = ("allen-cahn-two-body-gpinn", "sine-gordon-two-body-gpinn")
#: weight of the gradient term (paper App. I.4.2)
GRADIENT_WEIGHT = 0.1


@dataclasses.dataclass(frozen=True)
class GPinnProblem(InseparableProblem):
    """``<nonlinearity>-two-body-gpinn``: residual returns ``(R, dR)``.

    JAX (one point): ``R: ()``, ``dR: (K,)``.  torch (batch): ``R: (N,)``, ``dR: (N, K)``.
    """

    operator: ClassVar[str] = "laplacian-gradient"
    gradient_weight: ClassVar[float] = GRADIENT_WEIGHT

    def __post_init__(self) -> None:
        if self.name not in GPINN:
            raise ValueError(f"unknown gPINN problem {self.name!r}; valid: {GPINN}")
        super().__post_init__()

    def base_name(self) -> str:
        """The two-body problem this one extends (name without ``-gpinn``)."""
        return self.name.removesuffix("-gpinn")

    def forcing_gradient(self, z: Any, index: Any) -> Any:
        """∂_{j_k} f(z) for j_k in ``index``.

        JAX: ``z: (d,)``, ``index: (K,)`` -> ``(K,)``.  torch: ``z: (N, d)``, ``index: (K,)``
        (shared by the batch) or ``(N, K)`` -> ``(N, K)``; not differentiable (f is data).
        """
        if self.backend == "jax":
            import jax

            return jax.grad(self.forcing)(z)[index]
        import torch

        with torch.enable_grad():
            leaf = z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.forcing(leaf).sum(), leaf)
        index = torch.as_tensor(index, device=grad.device)
        if index.ndim == 1:
            return grad[:, index]
        return torch.gather(grad, 1, index)

    def residual(self, u: Any, z: Any, estimate: Any) -> tuple[Any, Any]:
        """``(R, dR)`` with R = Δu + N(u) - f and dR_k = ∂_{j_k}Δu + N'(u) ∂_{j_k}u - ∂_{j_k}f.

        ``estimate(u, z)`` returns a ``LaplacianGradient`` (see module docstring).
        """
        q = estimate(u, z)
        value = u(z)
        r = q.laplacian + self.nonlinear(value) - self.forcing(z)
        slope = self.nonlinear_prime(value)
        if self.backend == "torch":
            slope = slope[:, None]
        dr = q.grad_laplacian + slope * q.grad - self.forcing_gradient(z, q.index)
        return r, dr

    def loss(self, r1: Any, r2: Any = None) -> Any:
        """mean R^2 + 0.1 mean dR^2; unbiased mean R1 R2 + 0.1 mean dR1 dR2 with ``r2``."""
        (r, dr), (r_b, dr_b) = r1, (r1 if r2 is None else r2)
        return (r * r_b).mean() + self.gradient_weight * (dr * dr_b).mean()


for _name in GPINN:
    register(_name)(GPinnProblem)
