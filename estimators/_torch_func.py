r"""What the vectorised PyTorch estimators share (``torch.func``): the index set J, the
forward-mode second directional derivative, and the guard around torch's own rules.

Second directional derivative (forward mode only).  Along the line x + t v,

    d^2 f(x; v)  =  d^2/dt^2 f(x + t v) |_{t=0}  =  v^T H(x) v
                 =  jvp(y -> jvp(f, y, v), x, v),

the JVP along v of the JVP along v: each op's forward-mode rule, applied at two nested
levels, carries the Taylor coefficients (x, v, v, v^T H v) of the line.  ``torch.func.vmap``
runs it for K tangents at once; each tangent is one row (d,) shared by the batch.

The guard.  torch 2.13 has ops whose nested forward-mode rule returns silently wrong
second derivatives (pytorch#198017, #196700, #196699; each family in ``WRONG_SECOND_ORDER``
is shown wrong against reverse mode by ``tests/estimators/test_torch_estimators.py``), and the
double backward of ``native_layer_norm`` gives wrong third-order derivatives, which the
parameter gradient of a reverse-mode Laplacian needs (pytorch#175754).  While an
estimator runs f:

- ``layer_norm`` (``torch.nn.LayerNorm``) is evaluated by its definition from primitives,
  (x - mean) / sqrt(var + eps) * weight + bias, whose rules are right at every order;
- in forward mode, the ops in ``WRONG_SECOND_ORDER`` are refused with a ValueError that
  names the op and the reverse-mode estimator;
- an op with no forward-mode (or vmap) rule at all is a ValueError naming it too.

This module imports torch: the estimators import it inside their methods, so that
``import estimators`` never imports torch.  Everything here is traceable by
``torch.compile`` (no graph break of its own).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from estimators.base import Estimator
from estimators.sdgd_backward_torch import _evaluate

REVERSE_MODE = "sdgd-backward-torch"

# How torch reports an op that cannot be differentiated in forward mode or vectorised.
_NO_RULE = (
    re.compile(r"forward AD with (\S+) that does not support it"),
    re.compile(r"vmap: we do not yet support (\S+?)\.?(?:\s|$)"),
    re.compile(r"You tried to vmap over (\S+), but it does not have vmap support"),
)
_CUSTOM_FUNCTION = ("jvp function for custom autograd.Function", "override the setup_context")


def sampled_index(estimator: Estimator, d: int, generator: Any = None) -> tuple[Any, float]:
    """The index set J, a ``(min(samples, d),)`` int tensor, and the scale d / |J|.

    ``torch.randperm(d, generator=generator)[:samples]``, exactly as ``sdgd-backward-torch``
    draws it; ``arange(d)`` and scale 1 when ``samples >= d`` (no generator needed).
    """
    if estimator.samples >= d:
        return torch.arange(d), 1.0
    if generator is None:
        raise ValueError(
            f"{estimator.name!r} needs a torch.Generator to sample {estimator.samples} of {d} "
            "dimensions; pass generator=torch.Generator().manual_seed(seed)"
        )
    perm = torch.randperm(d, generator=generator, device=generator.device)
    return perm[: estimator.samples], d / estimator.samples


def one_hot_rows(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Rows e_j for j in ``index``: ``(len(index), d)`` with ``like``'s (N, d) dtype/device."""
    rows = like.new_zeros(len(index), like.shape[-1])
    rows[torch.arange(len(index), device=like.device), index.to(like.device)] = 1
    return rows


def second_directional(estimator: Estimator, f, x: torch.Tensor, tangents: torch.Tensor):
    """``d^2 f(x; v) = v^T H(x) v`` at every row of x for every tangent row v.

    f: (N, d) -> (N,); x: (N, d); tangents: (K, d), each shared by the batch.
    Returns (K, N).  Forward mode only: ``jvp`` of ``jvp``, vmapped over the K tangents.
    """
    from torch.func import jvp, vmap

    def checked(y):
        return _evaluate(estimator, f, y)

    def along(v):
        v = v.expand_as(x)
        return jvp(lambda y: jvp(checked, (y,), (v,))[1], (x,), (v,))[1]

    return guarded(estimator, True, lambda: vmap(along)(tangents))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, *_):
    """``torch.nn.functional.layer_norm`` by its definition, from primitives."""
    dims = tuple(range(-len(normalized_shape), 0))
    centered = x - x.mean(dims, keepdim=True)
    y = centered * torch.rsqrt((centered * centered).mean(dims, keepdim=True) + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


#: evaluated by their definition while an estimator runs f
REPLACED = {F.layer_norm: layer_norm, torch.layer_norm: layer_norm}
#: refused in forward mode: their nested forward-mode rule is wrong in torch 2.13
WRONG_SECOND_ORDER = {
    torch.det: "det",
    torch.linalg.det: "torch.linalg.det",
    torch.Tensor.det: "Tensor.det",
    torch.logdet: "logdet",
    torch.Tensor.logdet: "Tensor.logdet",
    torch.slogdet: "slogdet",
    torch.linalg.slogdet: "torch.linalg.slogdet",
    torch.Tensor.slogdet: "Tensor.slogdet",
    torch.linalg.solve: "torch.linalg.solve",
    torch.linalg.solve_ex: "torch.linalg.solve_ex",
    torch.cholesky_inverse: "cholesky_inverse",
    torch.Tensor.cholesky_inverse: "Tensor.cholesky_inverse",
    torch.linalg.householder_product: "torch.linalg.householder_product",
    torch.orgqr: "orgqr",
    torch.native_layer_norm: "native_layer_norm",
    F.instance_norm: "instance_norm",
    torch.instance_norm: "instance_norm",
}
_BATCH_NORMS = (F.batch_norm, torch.batch_norm)  # argument 5 is ``training`` in both


class Guard(TorchFunctionMode):
    """While an estimator runs f: ``REPLACED`` by their definitions; in forward mode the
    ops of ``WRONG_SECOND_ORDER`` and batch_norm with batch statistics are refused."""

    def __init__(self, estimator: Estimator, forward_mode: bool) -> None:
        super().__init__()
        self.estimator, self.forward_mode = estimator, forward_mode

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in REPLACED:
            return REPLACED[func](*args, **kwargs)
        if self.forward_mode:
            name = WRONG_SECOND_ORDER.get(func)
            if func in _BATCH_NORMS and (args[5] if len(args) > 5 else kwargs.get("training")):
                name = "batch_norm with batch statistics (training mode)"
            if name is not None:
                raise ValueError(
                    f"{self.estimator.name!r}: f uses {name}, which gives silently wrong "
                    f"second derivatives in nested forward mode in this torch "
                    f"(pytorch#198017); use the reverse-mode estimator {REVERSE_MODE!r} "
                    f"(same estimate, same index set) or write f without it"
                )
        return func(*args, **kwargs)


def guarded(estimator: Estimator, forward_mode: bool, compute: Callable[[], Any]) -> Any:
    """``compute()`` under the ``Guard``, torch's "no forward-mode / vmap rule" errors turned
    into a ValueError naming the op."""
    try:
        with Guard(estimator, forward_mode):
            return compute()
    except (NotImplementedError, RuntimeError) as err:
        clear = unsupported_op(estimator, err)
        if clear is None:
            raise
        raise clear from err


def unsupported_op(estimator: Estimator, err: BaseException) -> ValueError | None:
    """The clear error for an op with no forward-mode (or vmap) rule; None for other errors."""
    message = str(err)
    found = next((m for p in _NO_RULE if (m := p.search(message))), None)
    if found:
        what = f"{found.group(1)!r}"
    elif any(marker in message for marker in _CUSTOM_FUNCTION):
        what = "a custom torch.autograd.Function without a jvp rule (or setup_context)"
    else:
        return None
    return ValueError(
        f"{estimator.name!r} differentiates f with torch.func transforms under vmap, but f "
        f"uses {what}, which has no rule for them in torch; use the reverse-mode estimator "
        f"{REVERSE_MODE!r} (same estimate, same index set) or write f without it. "
        f"torch said: {message.splitlines()[0]}"
    )
