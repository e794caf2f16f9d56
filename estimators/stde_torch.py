r"""stde-torch: sparse STDE in PyTorch, forward mode only (docs/protocol.md §3.3;
STDE paper Sec. 4).

For a batch x of N points and one index set J shared by the batch,

    Delta f(x)  ~=  (d / |J|) * sum_{j in J} d^2 f(x; e_j),
    d^2 f(x; v)  =  d^2/dt^2 f(x + t v) |_{t=0}  =  v^T H(x) v,

the second coefficient of the 2-jet of f along the line x + t v, computed in forward mode
only as ``torch.func.jvp`` of ``torch.func.jvp`` along e_j and vectorised over the |J|
directions with ``torch.func.vmap`` (``estimators._torch_func.second_directional``).
f is any batch function (N, d) -> (N,), row n depending on row n of x only, built from ops
with forward-mode rules (``torch.nn`` layers, elementwise functions); an op without one,
or one whose nested rule torch gets wrong, is a ValueError naming it and
``sdgd-backward-torch``; ``layer_norm`` is evaluated by its definition (see _torch_func).

J = ``torch.randperm(d, generator=generator)[:samples]``: the same draw as
``sdgd-backward-torch``, so the same generator state gives the same J and, up to rounding,
the same estimate.  Uniform without replacement, hence unbiased, with the SDGD variance
law; every dimension (exact, no generator needed) when ``samples >= d``.  The result is
differentiable w.r.t. the parameters f closes over (autograd records the forward mode).

Cost: no backward pass through f for the estimate; one vectorised forward pass carrying,
per direction, three tangents of the activations (the nested JVPs' (v, v, v^T H v); the
primal is shared).  The tangents are dense (N, d) rows at the input, as f takes batches.

torch is imported when the estimator is used, never by ``import estimators``.
"""

from __future__ import annotations

from estimators import register
from estimators._checks import torch_batch
from estimators.base import Estimator


@register("stde-torch")
class StdeTorch(Estimator):
    """Sparse STDE Laplacian: vmapped forward-mode 2-jets along the sampled e_j."""

    backend = "torch"
    operators = frozenset({"laplacian"})
    stochastic = True

    def laplacian(self, f, x, generator=None):
        """Estimate of Delta f at every row of x: ``(N, d) -> (N,)``.

        ``generator``: a ``torch.Generator`` that draws J; needed when ``samples < d``.
        """
        from estimators import _torch_func as tf

        x = torch_batch(self, x)
        index, scale = tf.sampled_index(self, x.shape[1], generator)
        tangents = tf.one_hot_rows(index, x)  # (|J|, d)
        return scale * tf.second_directional(self, f, x, tangents).sum(0)
