r"""sdgd-parallel-torch: SDGD with the sampled reverse-over-reverse HVPs under vmap, in PyTorch.

The same estimate as ``sdgd-backward-torch`` and ``sdgd-parallel-jax``: for a batch x of
N points and one index set J shared by the batch,

    Delta f(x)  ~=  (d / |J|) * sum_{j in J} e_j^T H(x) e_j,

with the gradient g(x) = grad_x sum_n f(x)_n taken once (``torch.func.vjp`` of
``torch.func.grad`` keeps its backward graph) and the |J| second backward passes
e_j -> e_j^T (dg/dx) batched by ``torch.func.vmap`` instead of the baseline's Python loop.
Rows are independent points, so row n of e_j^T (dg/dx) is e_j^T H(x_n).  ``layer_norm`` is
evaluated by its definition (torch's double backward of it gives wrong third derivatives,
which the parameter gradient needs; see ``estimators._torch_func``).

J = ``torch.randperm(d, generator=generator)[:samples]``, the baseline's draw: the same
generator state gives the same J.  Unbiased; exact (no generator needed) for
``samples >= d``; differentiable w.r.t. the parameters f closes over.

Cost: one forward and one backward pass, then |J| backward-of-backward passes at once
(the baseline's FLOPs, one vectorised call); memory O(|J| N d) for the HVP rows plus
O(|J|) copies of the backward-of-backward activations.

torch is imported when the estimator is used, never by ``import estimators``.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import torch_batch
from estimators.base import Estimator
from estimators.sdgd_backward_torch import _evaluate


def diagonal_hvps(estimator: Estimator, f, x, index):
    """``H(x)_jj`` at every row of x for every j in ``index``, by reverse-over-reverse.

    f: (N, d) -> (N,); x: (N, d); index: (K,) int.  Returns (K, N).
    """
    import torch
    from torch.func import grad, vjp, vmap

    from estimators._torch_func import guarded, one_hot_rows

    gradient = grad(lambda y: _evaluate(estimator, f, y).sum())  # (N, d) -> (N, d)
    tangents = one_hot_rows(index, x)  # (K, d): e_j

    def hessian_rows():  # (K, N, d): e_j^T H(x_n)
        _, pullback = vjp(gradient, x)
        return vmap(lambda e: pullback(e.expand_as(x))[0])(tangents)

    rows = guarded(estimator, False, hessian_rows)
    k = torch.arange(len(index), device=x.device)
    return rows[k, :, index.to(x.device)]


@register("sdgd-parallel-torch")
class SdgdParallelTorch(Estimator):
    """SDGD Laplacian: the sampled reverse-over-reverse HVPs batched with torch.func.vmap."""

    backend = "torch"
    operators = frozenset({"laplacian"})
    stochastic = True
    cost_passes = 2  # HVPs: each tangent forward and back

    def laplacian(self, f, x, generator=None):
        """Estimate of Delta f at every row of x: ``(N, d) -> (N,)``.

        ``generator``: a ``torch.Generator`` that draws J; needed when ``samples < d``.
        """
        from estimators._torch_func import sampled_index

        x = torch_batch(self, x)
        index, scale = sampled_index(self, x.shape[1], generator)
        return scale * diagonal_hvps(self, f, x, index).sum(0)
