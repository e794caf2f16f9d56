"""Random smooth test functions, the same numbers in JAX and in PyTorch.

Every function is written once against an array namespace ``xp`` (``jax.numpy`` or
``torch``) and maps ``(..., d) -> (...)``: one point ``(d,)`` to a scalar for the JAX
estimators, a batch ``(N, d)`` to ``(N,)`` for the PyTorch one.  Coefficients come from a
NumPy seed, so both backends see identical weights (float64).

- ``mlp``:           tanh MLP, PyTorch-like init U(-g/sqrt(fan_in), g/sqrt(fan_in)), gain g=2
                     so that the derivatives are not negligible; dense Hessian.
- ``two-body``:      the docs/protocol.md §1.1 two-body solution (1 - |x|^2) sum c_i sin(x_i +
                     cos(x_{i+1}) + x_{i+1} cos(x_i)), coupling neighbours.
- ``gaussian-bump``: exp(-x^T A x / 2) cos(b . x) with a dense SPD A: every pair coupled.
- ``rational``:      1 / (1 + |C x|^2 / 2) + (w . x)^3 / 6, dense coupling through a quotient.

All use only primitives with ``jax.experimental.jet`` rules (no products over axes).
"""

from __future__ import annotations

import numpy as np

FUNCTIONS = ("mlp", "two-body", "gaussian-bump", "rational")


def mlp_params(dim: int, seed: int = 0, widths=(16, 16), gain: float = 2.0):
    """[(W, b), ...] as NumPy float64, W of shape (fan_in, fan_out), scalar output."""
    rng = np.random.default_rng(seed)
    sizes = [dim, *widths, 1]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = gain / np.sqrt(fan_in)
        params.append(
            (rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out))
        )
    return params


def mlp_apply(params, x, xp):
    """tanh MLP: (..., d) -> (...)."""
    h = x
    for w, b in params[:-1]:
        h = xp.tanh(h @ w + b)
    w, b = params[-1]
    return (h @ w + b)[..., 0]


def _coefficients(name: str, dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1000)
    if name == "two-body":
        return {"c": rng.standard_normal(dim - 1)}
    if name == "gaussian-bump":
        m = rng.standard_normal((dim, dim)) / np.sqrt(dim)
        return {"a": m @ m.T + 0.5 * np.eye(dim), "b": rng.standard_normal(dim)}
    if name == "rational":
        return {
            "c": rng.standard_normal((dim, dim)) / np.sqrt(dim),
            "w": rng.standard_normal(dim) / np.sqrt(dim),
        }
    raise ValueError(f"unknown test function {name!r}; known: {', '.join(FUNCTIONS)}")


def _apply(name: str, k: dict, x, xp):
    if name == "two-body":
        a, b = x[..., :-1], x[..., 1:]
        terms = k["c"] * xp.sin(a + xp.cos(b) + b * xp.cos(a))
        return (1.0 - (x * x).sum(-1)) * terms.sum(-1)
    if name == "gaussian-bump":
        return xp.exp(-0.5 * ((x @ k["a"]) * x).sum(-1)) * xp.cos(x @ k["b"])
    if name == "rational":
        y = x @ k["c"]
        s = x @ k["w"]
        return 1.0 / (1.0 + 0.5 * (y * y).sum(-1)) + s * s * s / 6.0
    raise ValueError(f"unknown test function {name!r}; known: {', '.join(FUNCTIONS)}")


def _namespace(backend: str):
    if backend == "jax":
        import jax.numpy as jnp

        return jnp, jnp.asarray
    if backend == "torch":
        import torch

        return torch, lambda a: torch.as_tensor(a, dtype=torch.float64)
    raise ValueError(f"backend must be 'jax' or 'torch', got {backend!r}")


def make(name: str, dim: int, seed: int = 0, backend: str = "jax"):
    """The test function ``name`` in dimension ``dim``: ``(..., d) -> (...)``."""
    xp, asarray = _namespace(backend)
    if name == "mlp":
        params = [(asarray(w), asarray(b)) for w, b in mlp_params(dim, seed)]
        return lambda x: mlp_apply(params, x, xp)
    k = {key: asarray(value) for key, value in _coefficients(name, dim, seed).items()}
    return lambda x: _apply(name, k, x, xp)


def points(dim: int, n: int, seed: int = 0) -> np.ndarray:
    """n points (float64) spread inside the ball of radius 0.9: (n, dim)."""
    rng = np.random.default_rng(seed + 2000)
    z = rng.standard_normal((n, dim))
    radius = 0.9 * rng.uniform(0.2, 1.0, (n, 1))
    return radius * z / np.linalg.norm(z, axis=1, keepdims=True)


def derivative_tensors(f, x, order: int):
    """[f(x), D f(x), ..., D^order f(x)] by nested ``jax.jacfwd`` in one jit: the
    independent nested-autodiff reference of the jet tests."""
    import jax

    def tensors(y):
        out, g = [f(y)], f
        for _ in range(order):
            g = jax.jacfwd(g)
            out.append(g(y))
        return out

    return jax.jit(tensors)(x)
