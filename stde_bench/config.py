"""Training configuration: the paper's defaults (docs/protocol.md §2), one place for every
option."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from stde_bench.mlp import MLPConfig

MEASURES = ("all", "speed", "error")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training cell depends on apart from problem, estimator and dimension.

    steps: Adam steps (paper: 10,000; 20,000 for gPINN)
    n_residual: residual points per step N_r (paper: 100)
    samples: randomization batch |J| (paper: 100 in Table 3, 16 elsewhere)
    lr: initial learning rate, decayed linearly to 0 over ``steps``
    unbiased: use the two-sample unbiased loss instead of the paper's biased one
    eval_every: steps between test-error evaluations (paper: 1000)
    n_test: test points (paper: 20,000)
    sampler: the problem's residual-point sampler (None: its default)
    restrict: evaluate the sampled estimate on f_J, the network restricted to the step's
        index set J (ours, not the paper's: see ``stde_bench/restrict.py``)
    torch_compile: run a PyTorch training step under ``torch.compile``
    budget_s: wall-clock budget of the cell in seconds; a cell that reaches it stops and
        is recorded as ``timeout`` with the steps done and what it measured (None: none)
    measure: what the cell is for: ``"all"``; ``"speed"`` (speed and memory from timed
        steps, no test evaluation); ``"error"`` (full training for the test error; its
        timings are recorded but reports take speed and memory from other cells)
    checkpoint_every: save the cell's whole training state every this many steps, at its
        budget and at its last step, so that running the cell again resumes it
        (``stde_bench.checkpoint``; None: no periodic checkpoints).  A run option: not in
        ``asdict``, so not in the cell's key or its record's config
    """

    #: fields that say how a cell runs, not what it measures: left out of ``asdict`` (a
    #: cell checkpointed or not is one cell, with one key and one config in its record)
    RUN_OPTIONS: ClassVar[tuple[str, ...]] = ("checkpoint_every",)

    steps: int = 10_000
    n_residual: int = 100
    samples: int = 16
    lr: float = 1e-3
    seed: int = 0
    depth: int = 4
    width: int = 128
    block: int | None = None
    unbiased: bool = False
    eval_every: int = 1000
    n_test: int = 20_000
    sampler: str | None = None
    restrict: bool = False
    torch_compile: bool = False
    budget_s: float | None = None
    measure: str = "all"
    checkpoint_every: int | None = None

    def __post_init__(self) -> None:
        for field in ("steps", "n_residual", "samples", "eval_every", "n_test"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.budget_s is not None and not self.budget_s > 0:
            raise ValueError(f"budget_s must be positive seconds or None, got {self.budget_s!r}")
        every = self.checkpoint_every
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, int) or every < 1
        ):
            raise ValueError(f"checkpoint_every must be a positive int or None, got {every!r}")
        if self.measure not in MEASURES:
            raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {self.measure!r}")
        MLPConfig(depth=self.depth, width=self.width, block=self.block)  # validates

    @property
    def mlp(self) -> MLPConfig:
        return MLPConfig(depth=self.depth, width=self.width, block=self.block)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def asdict(self) -> dict[str, Any]:
        """The fields that make the cell (its key, its record's config): all but
        ``RUN_OPTIONS``."""
        fields = dataclasses.asdict(self)
        return {name: value for name, value in fields.items() if name not in self.RUN_OPTIONS}
