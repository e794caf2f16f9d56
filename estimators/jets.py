r"""Taylor mode in one place: the jet call, its series helpers, one plan type, one executor.

Jet convention (``jax.experimental.jet``, derivative coefficients)
------------------------------------------------------------------
A K-jet with the tangents ``(v_1, ..., v_K)`` (``v_s`` "in slot s") pushes the input curve

    x(t) = x + sum_{s=1..K} v_s t^s / s!                                                (1)

through ``f`` and returns ``y_0 = f(x)`` and ``y_k = d^k/dt^k f(x(t)) |_{t=0}``, k = 1..K.
By Faa di Bruno, ``y_k`` is a sum over the set partitions ``{B_1, ..., B_r}`` of
``{1, ..., k}``:

    y_k = sum_{partitions} D^r f(x)[v_{|B_1|}, ..., v_{|B_r|}].                          (2)

With one tangent in slot 1, ``(v, 0, ..., 0)``, only the partition into singletons is left:
``y_k`` is the k-th directional derivative, in multi-index notation

    y_k(v) = d^k/dt^k f(x + t v) |_0 = D^k f(x)[v, ..., v] = sum_{|m| = k} k!/m! v^m d^m f(x),  (3)

used by hte-jax and stde-jax (``directional_derivative``) and by the Griewank-Utke-Walther
interpolation (``estimators.partial``).  Tangents in several slots give the read-offs of
``estimators.taylor``, which groups (2) by block sizes.

Plans
-----
Every exact partial in this project is a fixed linear combination of jet outputs:

    q_row = sum_{jets J} sum_{k = 0..K_J} w_{row, J, k} y_k(J)      (or f(x) for value rows).

A ``JetPlan`` is that combination as data: its ``SlotJet`` s say which integer directions
go in which slots and which outputs ``(row, k, w)`` each jet contributes.  The two planners
(GUW interpolation in ``estimators.partial``, slot read-offs in ``estimators.taylor``)
produce plans and only plans; ``run_plan`` is the one executor: jets of equal order are
pushed together under ``vmap`` and their outputs contracted with the weights.

Missing jet rules
-----------------
``jet`` propagates a primitive through its rule in the dict ``jet_rules``; for a primitive
without one (``sort``, ``tan``, ``cumlogsumexp``, ... in jax 0.10) it raises a bare
``KeyError``.  Every jet here goes through one call (``_jet``), which turns that into a
``MissingJetRuleError`` naming the primitive.  ``taylor_mode`` marks an estimator class as
jet-based (``uses_jets = True``) and makes the error also name the estimator and the
estimators that supply the same quantity without jets.

Rules added here, registered once on ``import estimators`` (idempotent; a rule JAX ships
itself is never replaced):

- ``reduce_prod`` (``jnp.prod``): the product over ``axes`` as a balanced tree of pairwise
  products, each pushed by jet's own rule for ``mul``, the Cauchy product of Taylor
  coefficients ``(u w)_k = sum_{j=0..k} u_j w_{k-j}``.  No division, so zero entries are
  exact (the log-derivative ``sum u'/u`` is not); O(n K^2) work, depth log2(n).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import jet
from jax.experimental.jet import jet_rules
from jax.extend.core import Primitive

__all__ = [
    "JetPlan",
    "MissingJetRuleError",
    "SlotJet",
    "directional_derivative",
    "names_missing_rules",
    "register_jet_rules",
    "run_plan",
    "slot_jet",
    "taylor_mode",
    "taylor_series",
]


# --- missing rules ----------------------------------------------------------------------
class MissingJetRuleError(ValueError, NotImplementedError):
    """``jax.experimental.jet`` has no rule for a primitive of the function.

    Both a ``ValueError`` (like every error about an estimator's input: the CLI prints it)
    and a ``NotImplementedError`` (asv's "skipped").  ``who`` and ``operator``, when given,
    name the caller and the quantity, and the message lists the JAX estimators that supply
    that quantity without jets.
    """

    def __init__(self, primitive: str, who: str | None = None, operator: str | None = None):
        self.primitive, self.who, self.operator = primitive, who, operator
        message = (
            f"Taylor mode (jax.experimental.jet) cannot propagate the primitive "
            f"{primitive!r}: jet has no rule for it"
        )
        if who is not None:
            message = f"{who} cannot compute {operator!r} of this function. " + message
        if operator is not None:
            from estimators._checks import without_jets  # late: it imports the registry

            message += (
                f". JAX estimators that supply {operator!r} without jets: {without_jets(operator)}"
            )
        message += (
            f". Otherwise write the function without {primitive!r}, or register a rule "
            "for it in jax.experimental.jet.jet_rules (estimators/jets.py does so for "
            "reduce_prod)."
        )
        super().__init__(message)


def _jet(f: Callable, x: jax.Array, tangents: Sequence[jax.Array]):
    """``jet.jet(f, (x,), (tangents,))``, a missing rule raised as MissingJetRuleError."""
    try:
        return jet.jet(f, (x,), (tuple(tangents),))
    except KeyError as err:  # jet's ``jet_rules[primitive]`` lookup
        primitive = err.args[0] if err.args else None
        if isinstance(primitive, Primitive) and primitive not in jet_rules:
            raise MissingJetRuleError(primitive.name) from err
        raise


def _renamed(err: MissingJetRuleError, who: str, operator: str) -> MissingJetRuleError:
    return MissingJetRuleError(err.primitive, who, operator)


def names_missing_rules(who: str, operator: str) -> Callable:
    """Decorator for a public jet-based function: a missing rule names ``who``/``operator``."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except MissingJetRuleError as err:
                raise _renamed(err, who, operator) from err.__cause__

        return wrapper

    return decorate


def taylor_mode(cls: type) -> type:
    """Class decorator for a jet-based estimator: sets ``uses_jets = True`` and wraps the
    method of every operator it supplies so that a missing jet rule names the estimator,
    the operator and the estimators that supply it without jets."""

    def wrap(method: Callable, operator: str) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except MissingJetRuleError as err:
                raise _renamed(err, repr(self.name), operator) from err.__cause__

        return wrapper

    cls.uses_jets = True
    for operator in cls.operators:
        attribute = operator.replace("-", "_")
        setattr(cls, attribute, wrap(getattr(cls, attribute), operator))
    return cls


# --- the series helpers -----------------------------------------------------------------
def taylor_series(f: Callable, x: jax.Array, tangents: Sequence[jax.Array]) -> jax.Array:
    """``[f(x), y_1, ..., y_K]``, shape ``(K + 1,)``, of the K-jet (1) with
    ``tangents[s - 1]`` (shape ``(d,)``) in slot ``s``; ``f: (d,) -> scalar``."""
    primal, outputs = _jet(f, x, tangents)
    return jnp.stack([primal, *outputs])


def slot_jet(f: Callable, x: jax.Array, tangents: Mapping[int, jax.Array], order: int):
    """``[f(x), y_1, ..., y_order]`` for the jet with ``tangents[s]`` in slot ``s`` and
    zeros in the other slots."""
    zeros = jnp.zeros_like(x)
    return taylor_series(f, x, [tangents.get(s, zeros) for s in range(1, order + 1)])


def directional_derivative(f: Callable, x: jax.Array, v: jax.Array, order: int) -> jax.Array:
    """``D^order f(x)[v, ..., v]`` (3): the last output of the jet ``(v, 0, ..., 0)``."""
    zeros = jnp.zeros_like(x)
    _, outputs = _jet(f, x, (v,) + (zeros,) * (order - 1))
    return outputs[-1]


# --- plans and their executor -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SlotJet:
    """One jet of a plan.

    order:     K: the jet pushes ``(v_1, ..., v_K)`` and gives ``y_0 = f(x), ..., y_K``
    tangents:  ``((s, v_s), ...)``: the integer direction ``v_s`` (one int per coordinate)
               in slot ``s``; the other slots are zero
    readouts:  ``((row, k, w), ...)``: the jet adds ``w * y_k`` to quantity ``row``
    """

    order: int
    tangents: tuple[tuple[int, tuple[int, ...]], ...]
    readouts: tuple[tuple[int, int, Fraction], ...]


@dataclasses.dataclass(frozen=True)
class JetPlan:
    """``rows`` quantities as fixed combinations of jet outputs (see the module doc).

    jets:        the jets to push, with what each contributes
    value_rows:  rows that are ``f(x)`` itself (order-0 multi-indices)
    """

    rows: int
    jets: tuple[SlotJet, ...]
    value_rows: tuple[int, ...] = ()

    @property
    def n_jets(self) -> int:
        return len(self.jets)

    @property
    def cost(self) -> int:
        """Series terms propagated, ``sum (K + 1)`` over the jets."""
        return sum(j.order + 1 for j in self.jets)

    @property
    def groups(self) -> tuple[tuple[int, tuple[SlotJet, ...]], ...]:
        """``((order, jets), ...)`` by increasing order: what ``run_plan`` vmaps together."""
        orders = sorted({j.order for j in self.jets})
        return tuple((k, tuple(j for j in self.jets if j.order == k)) for k in orders)

    def renumbered(self, rows: Sequence[int]) -> tuple[SlotJet, ...]:
        """The jets with quantity ``r`` read into row ``rows[r]`` (to merge plans)."""
        return tuple(
            dataclasses.replace(j, readouts=tuple((rows[r], k, w) for r, k, w in j.readouts))
            for j in self.jets
        )


def run_plan(f: Callable, x: jax.Array, plan: JetPlan) -> jax.Array:
    """The plan's quantities at ``x``, shape ``(plan.rows,)``; ``f: (d,) -> scalar``.

    Per order K: the series of the m jets, ``(m, K, d)``, pushed under ``vmap`` to
    ``(m, K + 1)`` outputs, contracted with the weights ``(rows, m, K + 1)``.
    """
    dim = x.shape[0]
    out = jnp.zeros((plan.rows,), dtype=x.dtype)
    for order, jets in plan.groups:
        series = np.zeros((len(jets), order, dim))
        weights = np.zeros((plan.rows, len(jets), order + 1))
        for col, planned in enumerate(jets):
            for slot, direction in planned.tangents:
                series[col, slot - 1] = direction
            for row, k, w in planned.readouts:
                weights[row, col, k] += float(w)
        outputs = jax.vmap(lambda s: taylor_series(f, x, tuple(s)))(
            jnp.asarray(series, dtype=x.dtype)
        )
        out = out + jnp.einsum("rmk,mk->r", jnp.asarray(weights, dtype=x.dtype), outputs)
    if plan.value_rows:
        out = out.at[jnp.asarray(plan.value_rows)].set(f(x))
    return out


# --- rules jax.experimental.jet lacks ----------------------------------------------------
def _product_over(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``prod(x, axes)`` by pairwise products (a balanced tree), from primitives with rules."""
    kept = [a for a in range(x.ndim) if a not in axes]
    shape = tuple(x.shape[a] for a in kept)
    n = math.prod(x.shape[a] for a in axes)
    x = lax.reshape(lax.transpose(x, (*kept, *axes)), (*shape, n))
    last = len(shape)
    if n == 0:  # the empty product
        return lax.full(shape, 1, x.dtype)
    while n > 1:
        if n % 2:  # pad with the factor 1
            x = lax.concatenate([x, lax.full((*shape, 1), 1, x.dtype)], last)
            n += 1
        half = n // 2
        x = lax.mul(
            lax.slice_in_dim(x, 0, half, axis=last), lax.slice_in_dim(x, half, n, axis=last)
        )
        n = half
    return lax.reshape(x, shape)


def _reduce_prod_rule(primals_in, series_in, *, axes, **_: Any):
    # series_in are Taylor coefficients (jet rules see factorial_scaled=False series)
    product = functools.partial(_product_over, axes=tuple(axes))
    return jet.jet(product, primals_in, series_in, factorial_scaled=False)


_RULES = {lax.reduce_prod_p: _reduce_prod_rule}


def register_jet_rules() -> None:
    """Add the rules above to ``jet_rules``; idempotent, and JAX's own rules win."""
    for primitive, rule in _RULES.items():
        jet_rules.setdefault(primitive, rule)


register_jet_rules()  # the one place: this module is imported by ``import estimators``
