r"""hte-torch: dense STDE, i.e. Hutchinson trace estimation with forward-mode 2-jets, in PyTorch.

For a batch x of N points and |V| = ``samples`` Rademacher vectors v (E[v v^T] = I) drawn
once per call from the generator and shared by the batch,

    Delta f(x)  ~=  (1/|V|) sum_{v in V} d^2 f(x; v)  =  mean of v^T H(x) v    (no factor d),

with d^2 f(x; v) from ``torch.func.jvp`` of ``torch.func.jvp`` under ``vmap`` (see
``estimators._torch_func``).  Unbiased, variance 2 sum_{i != j} H_ij^2 / |V|; never
exact, whatever |V|, so a generator is always needed.  Differentiable w.r.t. the parameters of f.

Cost: |V| forward-mode 2-jets with dense tangents in one vectorised pass; no backward pass.

torch is imported when the estimator is used, never by ``import estimators``.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import torch_batch
from estimators.base import Estimator


@register("hte-torch")
class HteTorch(Estimator):
    """Dense STDE Laplacian: mean of vmapped forward-mode 2-jets along Rademacher v."""

    backend = "torch"
    operators = frozenset({"laplacian"})
    stochastic = True
    exact_with_all_samples = False

    def laplacian(self, f, x, generator=None):
        """Estimate of Delta f at every row of x: ``(N, d) -> (N,)``.

        ``generator``: the ``torch.Generator`` that draws the Rademacher directions.
        """
        import torch

        from estimators._torch_func import second_directional

        x = torch_batch(self, x)
        if generator is None:
            raise ValueError(
                f"{self.name!r} draws random directions: pass "
                "generator=torch.Generator().manual_seed(seed)"
            )
        shape = (self.samples, x.shape[1])
        bits = torch.randint(0, 2, shape, generator=generator, device=generator.device)
        v = (2 * bits - 1).to(dtype=x.dtype, device=x.device)  # Rademacher, +-1
        return second_directional(self, f, x, v).mean(0)
