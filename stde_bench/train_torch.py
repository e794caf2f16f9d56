"""The same training step in PyTorch (torch.optim.Adam, linear decay) for the PyTorch
estimator (the paper's original SDGD baseline).  Mirrors ``train_jax`` line by line;
what differs is the framework: eager execution, no compilation."""

from __future__ import annotations

from typing import Any

import torch

from estimators.base import Estimator
from problems.base import Problem
from stde_bench import mlp_torch
from stde_bench.config import TrainConfig
from stde_bench.measure import relative_error


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchTrainer:
    """Holds the network, the optimizer and a seeded generator for one cell."""

    def __init__(self, problem: Problem, estimator: Estimator, config: TrainConfig) -> None:
        estimator.require(problem.operator)
        if estimator.backend != "torch":
            raise ValueError(f"{estimator.name} is a {estimator.backend} estimator, not PyTorch")
        if problem.backend != "torch":
            raise ValueError(f"problem {problem.name} was built for {problem.backend}, not torch")
        self.problem, self.estimator, self.config = problem, estimator, config
        self.device = default_device()
        self.model = mlp_torch.build(problem.input_dim, config.mlp, seed=config.seed).to(
            self.device
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda k: max(0.0, 1.0 - k / config.steps)
        )
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.steps_done = 0
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def u(self, z: torch.Tensor) -> torch.Tensor:
        """u_theta on a batch ``(N, input_dim) -> (N,)``."""
        return self.problem.ansatz(self.model(z), z)

    def loss(self) -> torch.Tensor:
        problem, config = self.problem, self.config
        points = problem.sample_domain(self.generator, config.n_residual, sampler=config.sampler)
        points = points.to(self.device).requires_grad_(True)

        def estimate(g, x):
            return self.estimator.laplacian(g, x, generator=self.generator)

        r1 = problem.residual(self.u, points, estimate)
        r2 = problem.residual(self.u, points, estimate) if config.unbiased else None
        return problem.loss(r1, r2) + problem.extra_loss(self.u, self.generator)

    def compile(self) -> float:
        """Eager PyTorch compiles nothing: 0 seconds, recorded as such."""
        return 0.0

    def step(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss()
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        self.steps_done += 1
        return loss.detach()

    def sync(self, out: Any) -> Any:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return out

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
