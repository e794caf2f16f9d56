r"""sdgd-backward-torch: SDGD with a Python loop of PyTorch backward passes (docs/protocol.md §3.1).

The original baseline (Hu et al., "Tackling the curse of dimensionality with PINNs";
STDE paper Sec. 3 / Table 3).  For a batch x of N points,

    u_x = autograd.grad(f(x).sum(), x, create_graph=True)                  (N, d)
    Delta f  ~=  (d / |J|) * sum_{i in J} autograd.grad(u_x[:, i].sum(), x)[:, i],

with J = ``torch.randperm(d, generator=generator)[:samples]`` drawn once per call and
shared by the batch (uniform without replacement, so the estimate is unbiased; every
dimension, i.e. exact, when ``samples >= d``).  ``create_graph=True`` throughout keeps the
result differentiable w.r.t. the network parameters.

Cost: 1 + |J| backward passes of growing order, run one after the other from Python;
memory holds the |J| second-order graphs (O(|J|) times one backward graph).

torch is imported when the estimator is used, never by ``import estimators``.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import torch_batch
from estimators.base import Estimator


def _evaluate(estimator: Estimator, f, x):
    """``f(x)`` with a clear ValueError when f is not a torch function (N, d) -> (N,)."""
    import torch

    try:
        u = f(x)
    except TypeError as err:
        raise ValueError(
            f"{estimator.name!r} could not call f on a torch.Tensor ({err}); f must be a "
            "PyTorch function (N, d) -> (N,). JAX functions go to the JAX estimators."
        ) from err
    if not isinstance(u, torch.Tensor):
        raise ValueError(
            f"{estimator.name!r}: f must return a torch.Tensor of shape (N,), got "
            f"{type(u).__module__}.{type(u).__qualname__}; is f a JAX function? "
            "JAX functions go to the JAX estimators."
        )
    if u.shape != x.shape[:1]:
        raise ValueError(
            f"{estimator.name!r}: f must map (N, d) -> (N,), got output shape "
            f"{tuple(u.shape)} for input shape {tuple(x.shape)}"
        )
    return u


@register("sdgd-backward-torch")
class SdgdBackwardTorch(Estimator):
    """SDGD Laplacian: a loop of second autograd.grad calls over the sampled dimensions."""

    backend = "torch"
    operators = frozenset({"laplacian"})
    stochastic = True
    cost_passes = 2  # HVPs: each tangent forward and back

    def laplacian(self, f, x, generator=None):
        """Estimate of Delta f at every row of x: ``(N, d) -> (N,)``.

        ``generator``: a ``torch.Generator`` that draws J; needed when ``samples < d``.
        """
        import torch

        x = torch_batch(self, x)
        d = x.shape[1]
        if self.samples >= d:
            index, scale = list(range(d)), 1.0
        else:
            if generator is None:
                raise ValueError(
                    f"{self.name!r} needs a torch.Generator to sample {self.samples} of {d} "
                    "dimensions; pass generator=torch.Generator().manual_seed(seed)"
                )
            perm = torch.randperm(d, generator=generator, device=generator.device)
            index, scale = perm[: self.samples].tolist(), d / self.samples
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        u = _evaluate(self, f, x)
        (u_x,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        total = torch.zeros_like(u)
        for i in index:
            column = u_x[:, i]
            if not column.requires_grad:  # f is affine in x_i along the graph: u_ii = 0
                continue
            (u_xx,) = torch.autograd.grad(column.sum(), x, create_graph=True, allow_unused=True)
            if u_xx is not None:
                total = total + u_xx[:, i]
        return scale * total
