"""The same training step in PyTorch (torch.optim.Adam, linear decay) for the PyTorch
estimators.  Mirrors ``train_jax`` line by line; what differs is the framework: eager
execution, or with ``config.torch_compile`` the loss and its backward under
``torch.compile`` (the sampling draws from the torch.Generator stay eager: graph breaks).

With ``config.restrict`` the estimate is taken on f_J, the model restricted to the step's
index set J (``stde_bench.restrict`` has the math; ``mlp_torch.restrict`` builds f_J for a
batch without a d-sized array per (point, direction)).
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import torch

from estimators.base import Estimator
from problems.base import Problem
from stde_bench import mlp_torch
from stde_bench.config import TrainConfig
from stde_bench.measure import relative_error

NO_COMPILE = "run it without --torch-compile (torch_compile=False)"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_restrict(problem: Problem, estimator: Estimator) -> None:
    """ValueError, saying why and what to do, unless the PyTorch step can be restricted."""
    fix = "run it without --restrict (restrict=False)"
    if problem.operator != "laplacian":
        raise ValueError(
            f"restricted PyTorch steps supply the Laplacian only; {problem.name} needs "
            f"{problem.operator!r}: {fix}"
        )
    if not estimator.exact_with_all_samples or estimator.floor:
        raise ValueError(
            f"{estimator.name!r} is not exact with all |J| coordinates of f_J, so restricted "
            f"it would estimate something else than it does unrestricted; use an index-set "
            f"estimator (sdgd-backward-torch, sdgd-parallel-torch, stde-torch) or {fix}"
        )


def check_compiler(device: torch.device) -> None:
    """ValueError unless torch.compile's CPU backend has the C++ compiler it needs."""
    if device.type == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        raise ValueError(
            "torch.compile's CPU backend (inductor) needs a C++ compiler and none was found "
            f"(g++, c++, clang++): install one, or {NO_COMPILE}"
        )


def materialize_zero_tensors() -> None:
    """Have inductor build forward mode's efficient zero tensors as real zeros.

    Forward-mode AD (stde-torch, hte-torch) puts ``aten._efficientzerotensor`` (a tensor
    without storage) into the backward graph; inductor's CPU kernels read it and crash the
    process (SIGSEGV, pytorch#197067).  As a decomposition to ``torch.zeros`` it is the
    same number with storage.  Process-wide (inductor's decomposition table) and idempotent.
    """
    from torch._inductor.decomposition import decompositions

    def zeros(size, *, dtype=None, layout=None, device=None, pin_memory=None):
        return torch.zeros(size, dtype=dtype, layout=layout, device=device)

    decompositions.setdefault(torch.ops.aten._efficientzerotensor.default, zeros)


class TorchTrainer:
    """Holds the network, the optimizer and a seeded generator for one cell."""

    def __init__(self, problem: Problem, estimator: Estimator, config: TrainConfig) -> None:
        estimator.require(problem.operator)
        if estimator.backend != "torch":
            raise ValueError(f"{estimator.name} is a {estimator.backend} estimator, not PyTorch")
        if problem.backend != "torch":
            raise ValueError(f"problem {problem.name} was built for {problem.backend}, not torch")
        if config.restrict:
            check_restrict(problem, estimator)
        self.problem, self.estimator, self.config = problem, estimator, config
        self.device = default_device()
        if config.torch_compile:
            check_compiler(self.device)
            materialize_zero_tensors()
        self.model = mlp_torch.build(problem.input_dim, config.mlp, seed=config.seed).to(
            self.device
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda k: max(0.0, 1.0 - k / config.steps)
        )
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self._loss = torch.compile(self.loss) if config.torch_compile else self.loss
        self.steps_done = 0
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def u(self, z: torch.Tensor) -> torch.Tensor:
        """u_theta on a batch ``(N, input_dim) -> (N,)``."""
        return self.problem.ansatz(self.model(z), z)

    def restricted_estimate(self, points: torch.Tensor):
        """``estimate(g, x)`` on f_J for the residual at ``points`` ``(N, input_dim)``.

        J = randperm(d)[:samples] is drawn here, as the estimators draw it from the same
        generator; f_J(y) = u(z with the spatial coordinates J replaced by y), y: (N, |J|),
        and the estimator, exact on f_J with all |J| coordinates, gives Delta_J u; the
        estimate is (d / |J|) Delta_J u, the sampled estimate of u for that J.  ``g`` (u or
        ``x -> u(x, t)``) is not called: f_J restricts the same model at z.
        """
        problem, d = self.problem, self.problem.dim
        samples = min(self.estimator.samples, d)
        index = torch.randperm(d, generator=self.generator)[:samples].to(points.device)
        network = mlp_torch.restrict(self.model, points, index)
        rest = problem.restriction_rest(points, index)  # (N,), once: not per direction

        def f_restricted(y: torch.Tensor) -> torch.Tensor:
            return problem.restricted_ansatz(network(y), rest, y)

        def estimate(g, x: torch.Tensor) -> torch.Tensor:
            if tuple(x.shape) != (points.shape[0], d):
                raise ValueError(
                    f"restricted estimate of {problem.name}: expected the spatial points "
                    f"({points.shape[0]}, {d}), got shape {tuple(x.shape)}"
                )
            return d / samples * self.estimator.laplacian(f_restricted, points[:, index])

        return estimate

    def loss(self) -> torch.Tensor:
        problem, config = self.problem, self.config
        points = problem.sample_domain(self.generator, config.n_residual, sampler=config.sampler)
        points = points.to(self.device)

        def estimate(g, x):
            return self.estimator.laplacian(g, x, generator=self.generator)

        def residual():
            if config.restrict:
                return problem.residual(self.u, points, self.restricted_estimate(points))
            return problem.residual(self.u, points, estimate)

        r1 = residual()
        r2 = residual() if config.unbiased else None
        return problem.loss(r1, r2) + problem.extra_loss(self.u, self.generator)

    def compile(self) -> float:
        """Seconds to compile the step: 0 in eager mode; with ``torch_compile`` the first
        call of the compiled loss and its backward (tracing, compilation, one run), on the
        current parameters, after which the gradients are discarded and the generator is
        put back, so that training is the eager one.  With the reason when torch.compile
        cannot compile the step: NotImplementedError where torch.compile does not support
        what the step does (double backward: the loop baseline), else ValueError."""
        if not self.config.torch_compile:
            return 0.0
        state = self.generator.get_state()
        start = time.perf_counter()
        try:
            self._loss().backward()
        except Exception as err:
            # a limitation of torch.compile itself makes the cell impossible (skipped);
            # anything else is a failure of this cell (error)
            impossible = "double backward" in str(err)
            raise (NotImplementedError if impossible else ValueError)(
                self._compile_failure(err)
            ) from err
        self.sync(None)
        seconds = time.perf_counter() - start
        self.optimizer.zero_grad(set_to_none=True)
        self.generator.set_state(state)
        return seconds

    def _compile_failure(self, err: Exception) -> str:
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"
        if "double backward" in reason:
            reason += (
                " (the step differentiates a derivative taken with autograd.grad inside the "
                "compiled region, which AOTAutograd cannot differentiate again)"
            )
        return (
            f"torch.compile could not compile the {self.estimator.name!r} step on "
            f"{self.device.type}: {reason}; {NO_COMPILE}"
        )

    def step(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss()
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        self.steps_done += 1
        return loss.detach()

    def sync(self, out: Any) -> Any:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return out

    def state(self) -> dict[str, Any]:
        """Everything the next steps depend on (``stde_bench.checkpoint``): the state dicts
        of ``model``, ``optimizer`` (Adam's step and moments) and ``schedule``, the
        ``generator``'s state (a uint8 tensor) and ``steps_done``.  The tensors are the
        live ones: serialize them before the next step."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "generator": self.generator.get_state(),
            "steps_done": self.steps_done,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from ``state()`` of a trainer of the same cell (tensors on any device);
        torch raises for a state dict of another network."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.generator.set_state(state["generator"])
        self.steps_done = int(state["steps_done"])

    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def memory_mb(self) -> tuple[float | None, str]:
        from stde_bench.measure import torch_peak_memory_mb

        return torch_peak_memory_mb(self.device)

    @torch.no_grad()
    def predict(self, points: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
        return torch.cat(
            [self.u(points[i : i + chunk].to(self.device)) for i in range(0, len(points), chunk)]
        )

    def evaluate(self, test: tuple[torch.Tensor, torch.Tensor]) -> float:
        points, truth = test
        return relative_error(self.problem.error_metric, self.predict(points).cpu(), truth)
