r"""backward-jax: every mixed partial by nested reverse mode (the baseline of Table 11).

For a multi-index ``alpha`` of order k, write its coordinates as a sorted sequence
``c_1 <= ... <= c_k`` (``alpha_c`` copies of ``c``); then

    d^alpha f(x) = e_{c_k} . grad( x -> e_{c_{k-1}} . grad( ... grad f ... ) )(x),

k nested ``jax.grad`` calls (reverse-over-reverse-...).  Derivative functions are shared
between multi-indices with a common prefix within one call (a trie of closures); XLA
may share more by common-subexpression elimination.  Deterministic; ``key`` is ignored.

Cost: a k-th order partial costs a k-times nested reverse pass, O(2^k) times the forward
cost and memory growing with the nesting depth (docs/protocol.md §3.4's motivation for jets).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators import register
from estimators._checks import jax_point
from estimators.base import Estimator
from estimators.partial import multi_index


def nested_grad_partials(f, x: jax.Array, alphas) -> jax.Array:
    """``[d^alpha f(x) for alpha in alphas]`` by nested ``jax.grad``; order 0 is f(x)."""
    dim = x.shape[0]
    cache = {(): f}

    def derivative(sequence: tuple[int, ...]):
        if sequence not in cache:
            inner, c = derivative(sequence[:-1]), sequence[-1]
            cache[sequence] = lambda y: jax.grad(inner)(y)[c]
        return cache[sequence]

    values = []
    for alpha in alphas:
        alpha = multi_index(alpha, dim)
        sequence = tuple(c for c, a in enumerate(alpha) for _ in range(a))
        values.append(derivative(sequence)(x))
    if not values:
        raise ValueError("partials needs at least one multi-index")
    return jnp.stack(values)


@register("backward-jax")
class BackwardJax(Estimator):
    """Exact mixed partials by nested jax.grad (reverse mode), deterministic."""

    backend = "jax"
    operators = frozenset({"partials"})
    stochastic = False

    def partials(self, f, x, alphas, key=None):
        return nested_grad_partials(f, jax_point(self, x, "partials"), alphas)
