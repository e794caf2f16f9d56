"""One benchmark cell (problem x estimator x dimension x config): train, time, measure.

``run_cell`` never raises for an outcome a sweep must record: an estimator that cannot
supply the problem's operator or a dimension the problem cannot take is ``skipped``,
running out of memory is ``oom``; each comes back as a record with the reason.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from stde_bench.config import TrainConfig
from stde_bench.measure import machine_info, median_rate, time_steps
from stde_bench.records import SCHEMA

OOM_MARKERS = ("RESOURCE_EXHAUSTED", "out of memory", "OutOfMemoryError", "MemoryError")


def is_oom(err: BaseException | str) -> bool:
    """Whether an exception (or its text) is an out-of-memory."""
    text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return isinstance(err, MemoryError) or any(m in text for m in OOM_MARKERS)


def build(problem_name: str, estimator_name: str, dim: int, config: TrainConfig):
    """Problem, estimator and trainer for a cell (ValueError if the cell is impossible)."""
    import estimators
    import problems

    estimator = estimators.get(estimator_name, samples=config.samples)
    problem = problems.get(problem_name, dim, seed=config.seed, backend=estimator.backend)
    estimator.require(problem.operator)
    if estimator.backend == "torch":
        from stde_bench.train_torch import TorchTrainer

        return problem, estimator, TorchTrainer(problem, estimator, config)
    from stde_bench.train_jax import JaxTrainer

    return problem, estimator, JaxTrainer(problem, estimator, config)


def base_record(problem: str, estimator: str, dim: int, config: TrainConfig) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "problem": problem,
        "estimator": estimator,
        "dim": dim,
        "config": config.asdict(),
        "machine": machine_info(),
    }


def run_cell(
    problem_name: str,
    estimator_name: str,
    dim: int,
    config: TrainConfig,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one cell for ``config.steps`` steps and measure it; returns the record.

    Speed: median it/s over timed windows between evaluations (each window ends with a
    device synchronization; compilation and the first, warm-up step excluded), plus the
    overall rate including evaluations (what the paper's progress bar showed).
    Memory: see ``stde_bench.measure`` (labelled by method).
    Error: the test error every ``eval_every`` steps and at the end; final and minimum.
    Unknown problem or estimator names and bad options raise ValueError.
    """
    import estimators
    import problems

    problems.REGISTRY.factory(problem_name)  # unknown names are user errors, not outcomes
    estimators.get(estimator_name, samples=config.samples)
    record = base_record(problem_name, estimator_name, dim, config)
    started = time.perf_counter()
    try:
        problem, estimator, trainer = build(problem_name, estimator_name, dim, config)
    except ValueError as err:
        return record | {"status": "skipped", "reason": str(err)}
    record |= {
        "backend": estimator.backend,
        "operator": problem.operator,
        "stochastic": estimator.stochastic,
        "error_metric": problem.error_metric,
    }
    try:
        record |= _train(problem, trainer, config, progress)
        record["status"], record["reason"] = "ok", ""
    except Exception as err:  # recorded, never a crashed sweep
        status = "oom" if is_oom(err) else "error"
        record |= {"status": status, "reason": f"{type(err).__name__}: {err}"[:2000]}
        if status == "error":
            record["traceback"] = traceback.format_exc()[-4000:]
    record["duration_s"] = time.perf_counter() - started
    return record


def _train(problem, trainer, config: TrainConfig, progress: bool) -> dict[str, Any]:
    from tqdm import tqdm

    test = problem.test_set(config.n_test)
    compile_s = trainer.compile()
    bar = tqdm(
        total=config.steps,
        unit="it",
        desc=f"{problem.name} {trainer.estimator.name} d={problem.dim}",
        disable=not progress,
        mininterval=1.0,
    )
    trainer.sync(trainer.step())  # warm-up step: first execution, not timed
    bar.update(1)
    windows: list[tuple[int, float]] = []
    history: list[tuple[int, float]] = []
    loss = None
    loop_start = time.perf_counter()
    while trainer.steps_done < config.steps:
        done = trainer.steps_done
        n = min(config.eval_every - done % config.eval_every, config.steps - done)
        seconds, last = time_steps(trainer.step, n, trainer.sync)
        loss = float(last)
        windows.append((n, seconds))
        bar.update(n)
        bar.set_postfix(loss=f"{loss:.3e}", refresh=False)
        if trainer.steps_done % config.eval_every == 0 or trainer.steps_done == config.steps:
            history.append((trainer.steps_done, trainer.evaluate(test)))
    loop_seconds = time.perf_counter() - loop_start
    bar.close()
    memory_mb, memory_method = trainer.memory_mb()
    errors = [e for _, e in history]
    return {
        "it_per_s": median_rate(windows) if windows else None,
        "it_per_s_method": "median over timed windows between evaluations, synchronized",
        "it_per_s_overall": (config.steps - 1) / loop_seconds if windows else None,
        "timed_windows": windows,
        "compile_s": compile_s,
        "memory_mb": memory_mb,
        "memory_method": memory_method,
        "error_final": errors[-1] if errors else None,
        "error_min": min(errors) if errors else None,
        "error_history": history,
        "final_loss": loss,
        "n_params": trainer.n_params(),
    }
