"""One compiled training step in JAX + optax, identical for every estimator but the
derivative estimate (docs/protocol.md §2):

    sample N_r points -> residual R(z) = problem.residual(u_theta, z, estimate) per point
    -> loss = mean R^2 (or the unbiased mean R1 R2) + problem.extra_loss
    -> grad w.r.t. theta -> Adam with a learning rate decaying linearly to 0.

All points of a step share one estimator key, hence one sampled index set J.  With
``config.restrict`` the estimate is taken on f_J, the model restricted to J
(``stde_bench.restrict``); the unrestricted step is the paper's.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from estimators.base import Estimator
from problems.base import Problem
from stde_bench import mlp_jax, restrict
from stde_bench.config import TrainConfig
from stde_bench.measure import relative_error


def bind_estimate(problem: Problem, estimator: Estimator, key: jax.Array):
    """``estimate(g, x)``: the problem's derivative quantity of ``g`` at ``x`` from the
    estimator, with the step's key (and the problem's multi-indices for ``partials``)."""
    supply = estimator.quantity(problem.operator)
    if problem.operator == "partials":
        alphas = problem.alphas
        return lambda g, x: supply(g, x, alphas, key)
    return lambda g, x: supply(g, x, key)


def model_fn(problem: Problem, params):
    """u_theta(z) = problem.ansatz(NN_theta(z), z) for one point z."""
    return lambda z: problem.ansatz(mlp_jax.apply(params, z), z)


class JaxTrainer:
    """Holds parameters, optimizer state and the jitted step for one cell."""

    def __init__(self, problem: Problem, estimator: Estimator, config: TrainConfig) -> None:
        estimator.require(problem.operator)
        if estimator.backend != "jax":
            raise ValueError(f"{estimator.name} is a {estimator.backend} estimator, not JAX")
        if config.restrict:
            restrict.check(problem, estimator)
        self.problem, self.estimator, self.config = problem, estimator, config
        key = jax.random.key(config.seed)
        self.key, init_key = jax.random.split(key)
        self.params = mlp_jax.init(init_key, problem.input_dim, config.mlp)
        self.optimizer = optax.adam(optax.linear_schedule(config.lr, 0.0, config.steps))
        self.opt_state = self.optimizer.init(self.params)
        self._step = jax.jit(self._step_fn, donate_argnums=(0, 1))
        self._compiled = None
        self.steps_done = 0

    def loss(self, params, key: jax.Array) -> jax.Array:
        problem, config = self.problem, self.config
        k_pts, k_est, k_est2, k_extra = jax.random.split(key, 4)
        points = problem.sample_domain(k_pts, config.n_residual, sampler=config.sampler)
        u = model_fn(problem, params)

        def residuals(k):
            if config.restrict:
                at = restrict.bind(problem, self.estimator, params, k)

                def residual(z):
                    u_z, estimate = at(u, z)
                    return problem.residual(u_z, z, estimate)

                return jax.vmap(residual)(points)
            estimate = bind_estimate(problem, self.estimator, k)
            return jax.vmap(lambda z: problem.residual(u, z, estimate))(points)

        r2 = residuals(k_est2) if config.unbiased else None
        return problem.loss(residuals(k_est), r2) + problem.extra_loss(u, k_extra)

    def _step_fn(self, params, opt_state, key):
        loss, grads = jax.value_and_grad(self.loss)(params, key)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def compile(self) -> float:
        """Lower and compile the step ahead of time; returns the compile seconds."""
        start = time.perf_counter()
        self._compiled = self._step.lower(self.params, self.opt_state, self.key).compile()
        return time.perf_counter() - start

    def step(self) -> jax.Array:
        """One training step (asynchronous: the caller synchronizes)."""
        if self._compiled is None:
            self.compile()
        self.key, sub = jax.random.split(self.key)
        self.params, self.opt_state, loss = self._compiled(self.params, self.opt_state, sub)
        self.steps_done += 1
        return loss

    @staticmethod
    def sync(out: Any) -> Any:
        return jax.block_until_ready(out)

    def state(self) -> dict[str, np.ndarray]:
        """Everything the next steps depend on, as host arrays (``stde_bench.checkpoint``):
        ``leaf_<i>``, the leaves of ``(params, opt_state)`` in tree order (weights, biases,
        Adam's count and moments, the schedule's count); ``key``, the key's data (uint32,
        ``jax.random.key_data``); ``steps_done`` (int64 scalar).  The arrays may share
        the device buffers: write them before the next step, which donates those."""
        leaves = jax.tree_util.tree_leaves((self.params, self.opt_state))
        state = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
        state["key"] = np.asarray(jax.random.key_data(self.key))
        state["steps_done"] = np.asarray(self.steps_done, dtype=np.int64)
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Continue from ``state()`` of a trainer of the same cell; ValueError when its
        leaves are not this trainer's (another network or optimizer)."""
        leaves, tree = jax.tree_util.tree_flatten((self.params, self.opt_state))
        names = [f"leaf_{i}" for i in range(len(leaves))]
        if {name for name in state if name.startswith("leaf_")} != set(names):
            raise ValueError(f"its parameters and Adam state are not {len(leaves)} arrays")
        for name, leaf in zip(names, leaves, strict=True):
            if (state[name].shape, state[name].dtype) != (leaf.shape, leaf.dtype):
                raise ValueError(
                    f"{name} is {state[name].dtype}{list(state[name].shape)}, this trainer's "
                    f"{leaf.dtype}{list(leaf.shape)}"
                )
        self.params, self.opt_state = jax.tree_util.tree_unflatten(
            tree, [jnp.asarray(state[name]) for name in names]
        )
        impl = jax.random.key_impl(self.key)
        self.key = jax.random.wrap_key_data(jnp.asarray(state["key"]), impl=impl)
        self.steps_done = int(state["steps_done"])

    def n_params(self) -> int:
        return mlp_jax.count(self.params)

    def memory_mb(self) -> tuple[float | None, str]:
        from stde_bench.measure import jax_peak_memory_mb

        return jax_peak_memory_mb(self._compiled)

    def predict(self, points: jax.Array, chunk: int = 2048) -> jax.Array:
        """u_theta at test points ``(M, input_dim) -> (M,)``, in chunks."""
        u = jax.jit(jax.vmap(model_fn(self.problem, self.params)))
        return jnp.concatenate([u(points[i : i + chunk]) for i in range(0, len(points), chunk)])

    def evaluate(self, test: tuple[jax.Array, jax.Array]) -> float:
        points, truth = test
        return relative_error(self.problem.error_metric, self.predict(points), truth)
