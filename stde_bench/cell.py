"""One benchmark cell (problem x estimator x dimension x config): train, time, measure.

``run_cell`` never raises for an outcome a sweep must record: an estimator that cannot
supply the problem's operator or a dimension the problem cannot take is ``skipped``,
running out of memory is ``oom``; each comes back as a record with the reason.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import traceback
from typing import Any

from stde_bench.checkpoint import DEFAULT_DIR, Checkpoint, Progress
from stde_bench.config import TrainConfig
from stde_bench.measure import median_rate, time_steps
from stde_bench.provenance import Provenance
from stde_bench.records import CellRecord

#: set by a sweep for a cell's process started ahead of its turn (``sweep.overlaps``)
TURN_ENV = "STDE_BENCH_WAIT_FOR_TURN"
#: where a cell a sweep runs writes its progress after each timed window (``report_progress``)
PROGRESS_ENV = "STDE_BENCH_PROGRESS"
OOM_MARKERS = ("RESOURCE_EXHAUSTED", "out of memory", "OutOfMemoryError", "MemoryError")
#: the estimator whose step is the network's own, with no derivative (``paired_floor``): the
#: registry's one ``Estimator.floor``, named here so the report reads it without JAX
#: (tests/stde_bench/test_cell.py holds the two together)
FLOOR = "primal-jax"


def is_oom(err: BaseException | str) -> bool:
    """Whether an exception (or its text) is an out-of-memory."""
    text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return isinstance(err, MemoryError) or any(m in text for m in OOM_MARKERS)


def wait_for_turn() -> None:
    """In a process a sweep started ahead (``$STDE_BENCH_WAIT_FOR_TURN`` set): block until
    the sweep writes ``go`` on stdin, which it does once the cell before has exited, so
    this cell's device work (backend, compilation, steps) never overlaps another cell's.
    A sweep that ends first closes stdin: the cell exits without running."""
    if os.environ.get(TURN_ENV) and sys.stdin.readline().strip() != "go":
        raise SystemExit("stde-bench: the sweep ended before this cell's turn")


def report_progress(steps: int, total: int, it_per_s: float) -> None:
    """For the sweep that runs this cell (``$STDE_BENCH_PROGRESS`` names the file): one
    line, ``steps/total steps, it/s, minutes left``, replaced atomically."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        left = (total - steps) / it_per_s / 60 if it_per_s > 0 else float("nan")
        with open(path + ".tmp", "w") as fh:
            fh.write(f"{steps}/{total} steps, {it_per_s:.3g} it/s, {left:.0f} min left")
        os.replace(path + ".tmp", path)


def build(problem_name: str, estimator_name: str, dim: int, config: TrainConfig, estimator=None):
    """Problem, estimator (``estimator`` if already built) and trainer for a cell
    (ValueError if the cell is impossible)."""
    import estimators
    import problems

    estimator = estimator or estimators.get(estimator_name, samples=config.samples)
    problem = problems.get(problem_name, dim, seed=config.seed, backend=estimator.backend)
    estimator.require(problem.operator)
    if estimator.backend == "torch":
        from stde_bench.train_torch import TorchTrainer

        return problem, estimator, TorchTrainer(problem, estimator, config)
    from stde_bench.train_jax import JaxTrainer

    return problem, estimator, JaxTrainer(problem, estimator, config)


def stochastic_of(estimator: str) -> bool | None:
    """Whether the registered estimator samples (its class says; None: not registered), so
    a record says it even where the cell never builds its estimator."""
    import estimators

    try:
        return estimators.REGISTRY.factory(estimator).stochastic
    except ValueError:
        return None


def base_record(
    problem: str,
    estimator: str,
    dim: int,
    config: TrainConfig,
    status: str = "skipped",
    provenance: Provenance | None = None,
    **where,
) -> CellRecord:
    """The record of a cell before it runs: the cell, the machine block and code version of
    ``provenance`` (default ``Provenance.current()``: a sweep's, else computed here) and
    ``where`` (``asv_machine``, ``profile``, ``grid``)."""
    provenance = provenance or Provenance.current()
    return CellRecord(
        problem=problem,
        estimator=estimator,
        dim=dim,
        config=config.asdict(),
        status=status,
        code_version=provenance.code_version,
        machine=provenance.stamped(),
        stochastic=stochastic_of(estimator),
        **where,
    )


def run_cell(
    problem_name: str,
    estimator_name: str,
    dim: int,
    config: TrainConfig,
    *,
    progress: bool = True,
    paired_floor: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    **where: Any,
) -> CellRecord:
    """Train one cell for ``config.steps`` steps and measure it; returns the record.

    Speed: median it/s over timed windows (at least ``MIN_WINDOWS``, each ending with a
    device synchronization; compilation and the first, warm-up step excluded), plus the
    overall rate including evaluations (what the paper's progress bar showed).  Memory: see
    ``stde_bench.measure`` (labelled by method).  Error: the test error every
    ``eval_every`` steps and at the end, final and minimum (none when ``config.measure``
    is ``"speed"``).  A cell that reaches ``config.budget_s`` stops (its last window is
    shortened to end there, give or take a step) and is recorded as ``timeout`` with what
    it measured so far.

    ``paired_floor`` (speed cells): the floor (``FLOOR``: the same problem, dimension and
    config, unrestricted, with no derivative) is built in the same process and a window
    of as many of its steps is timed after each of the cell's windows, which are then
    about ``PAIRED_WINDOW_SECONDS`` long, so that the ratio of the two rates is taken
    under the same state of the machine, window by window (``it_per_s_over_floor``: the
    median over windows of floor seconds ÷ cell seconds).  A shared CPU's speed drifts by
    10-20% over minutes; a ratio of two cells a sweep ran minutes apart carries that
    drift, a paired one does not.

    Checkpoints (``stde_bench.checkpoint``, in ``checkpoint_dir``, default ``DEFAULT_DIR``):
    with ``config.checkpoint_every`` the cell saves its whole training state every that
    many steps, when it reaches its budget and at its last step; windows end there as they
    end at evaluations.  A cell whose checkpoint exists resumes from it: the next step is
    the untimed warm-up of this process, the record carries the windows and errors of
    every process (``resumed``, ``segments``, ``window_segments``), ``duration_s`` adds the
    earlier processes' seconds up to their last checkpoint.  Training resumed is bitwise
    training run through; only a fresh cell's first step is never evaluated or saved.  The
    checkpoint stays: whoever stores the record removes it (``checkpoint.discard``) once
    the cell is ``ok``; after a ``timeout`` it is what the next run continues from.
    Unknown problem or estimator names and bad options raise ValueError.
    """
    import estimators
    import problems

    problems.REGISTRY.factory(problem_name)  # unknown names are user errors, not outcomes
    estimator = estimators.get(estimator_name, samples=config.samples)  # built once, here
    if paired_floor and config.measure != "speed":
        raise ValueError(
            f"--paired-floor (paired_floor) times the floor beside a speed cell; this cell "
            f"has measure={config.measure!r}: use measure='speed' (--measure speed) or drop it"
        )
    record = base_record(problem_name, estimator_name, dim, config, **where)
    wait_for_turn()  # imports and the machine block above overlap the cell before
    started = time.perf_counter()
    try:
        problem, estimator, trainer = build(problem_name, estimator_name, dim, config, estimator)
    except ValueError as err:
        return record.replace(status="skipped", reason=str(err))
    record = record.replace(
        setup_s=time.perf_counter() - started,
        backend=estimator.backend,
        operator=problem.operator,
        stochastic=estimator.stochastic,
        error_metric=problem.error_metric,
    )
    try:
        floor = None
        if paired_floor and not estimator.floor:
            floor = build(problem_name, FLOOR, dim, config.replace(restrict=False))[2]
        checkpoint = Checkpoint(checkpoint_dir or DEFAULT_DIR, record.key, estimator.backend)
        record = _train(problem, trainer, config, progress, record, started, floor, checkpoint)
    except Exception as err:  # recorded, never a crashed sweep
        # NotImplementedError: the estimator cannot do this function (a primitive with no
        # jet rule, found while tracing): the cell is impossible, not broken
        status = "skipped" if isinstance(err, NotImplementedError) else "error"
        status = "oom" if is_oom(err) else status
        trace = traceback.format_exc()[-4000:] if status == "error" else None
        reason = f"{type(err).__name__}: {err}"[:2000]
        record = record.replace(status=status, reason=reason, traceback=trace)
    earlier = sum(segment["duration_s"] or 0.0 for segment in record.segments[:-1])
    return record.replace(duration_s=earlier + time.perf_counter() - started)


#: a timed window is at most this many steps and about this many seconds, so a budget is
#: checked often even when one step takes seconds (10^6 dimensions on a CPU)
WINDOW_STEPS = 100
WINDOW_SECONDS = 10.0
#: the timed steps are split into at least this many windows, so that the median drops a
#: slow one (docs/findings.md#high-d-timing-windows)
MIN_WINDOWS = 3
#: with a paired floor, windows of about this many seconds (one step at least): a shared
#: CPU's speed swings within seconds, so the pairs are taken close together and many, and
#: their median drops the bursts (docs/findings.md#paired-floor)
PAIRED_WINDOW_SECONDS = 1.0


def _train(
    problem,
    trainer,
    config: TrainConfig,
    progress: bool,
    record: CellRecord,
    started: float,
    floor=None,
    checkpoint: Checkpoint | None = None,
) -> CellRecord:
    from tqdm import tqdm

    evaluate = config.measure != "speed"
    test = problem.test_set(config.n_test) if evaluate else None
    # the checkpoint's trainer state is loaded before compiling: the step compiles for it
    so_far = checkpoint.restore(trainer) if checkpoint is not None else None
    resumed = so_far is not None
    so_far = so_far or Progress(record.key)
    every = config.checkpoint_every
    saving = checkpoint is not None and (every is not None or resumed)
    segment = len(so_far.segments)
    so_far.segments.append(
        {
            "pid": os.getpid(),
            "hostname": record.machine.get("hostname"),
            "code_version": record.code_version,
            "date": record.machine.get("date"),
            "first_step": trainer.steps_done,
            "checkpoint_every": every,
            "compile_s": None,
            "first_step_s": None,
            "duration_s": None,
        }
    )
    windows, floor_windows, history = so_far.windows, so_far.floor_windows, so_far.history
    compile_s = trainer.compile()
    so_far.segments[segment]["compile_s"] = compile_s
    bar = tqdm(
        total=config.steps,
        initial=trainer.steps_done,
        unit="it",
        desc=f"{problem.name} {trainer.estimator.name} d={problem.dim}",
        disable=not progress,
        mininterval=1.0,
    )
    loss, over_budget, warmup_s = so_far.loss, False, None
    earlier_loop_s, earlier_loop_steps = so_far.loop_s, so_far.loop_steps
    loop_start, loop_first = time.perf_counter(), trainer.steps_done

    def tally() -> None:
        """The totals so far: the timed loops of every process, this one's seconds."""
        now = time.perf_counter()
        so_far.loop_s = earlier_loop_s + now - loop_start
        so_far.loop_steps = earlier_loop_steps + trainer.steps_done - loop_first
        so_far.segments[segment]["duration_s"] = now - started
        so_far.steps_done, so_far.loss = trainer.steps_done, loss

    def measure_error(done: int) -> None:
        """The test error at step ``done``; on a one-point test set also u there (its side
        of the reference, which the error alone does not tell)."""
        history.append((done, trainer.evaluate(test)))
        if len(test[1]) == 1:
            so_far.values.append((done, float(trainer.predict(test[0])[0])))

    def boundary(stop: bool) -> None:
        """After a window: evaluate every ``eval_every`` steps and at the end, save every
        ``checkpoint_every`` steps, at the end and where it stops at its budget (the error
        there is taken after the save, so the checkpoint holds the run-through history)."""
        done = trainer.steps_done
        end = done == config.steps
        on_eval = evaluate and (done % config.eval_every == 0 or end)
        if on_eval:
            measure_error(done)
        if saving and (end or stop or (every is not None and done % every == 0)):
            tally()
            checkpoint.save(trainer, so_far)
        if evaluate and stop and not on_eval:  # evaluated where it stops
            measure_error(done)

    if trainer.steps_done < config.steps:
        warmup_s, last = time_steps(trainer.step, 1, trainer.sync)  # first execution, not timed
        so_far.segments[segment]["first_step_s"] = warmup_s
        loss = float(last)
        bar.update(1)
        loop_start, loop_first = time.perf_counter(), trainer.steps_done
        if resumed:  # the next step of the run through, where it may be a boundary
            boundary(stop=False)
    if floor is not None:  # compiled and warmed up before any window is timed
        floor.compile()
        time_steps(floor.step, 1, floor.sync)
    step_s = warmup_s
    loop_start = time.perf_counter()
    most = max(1, (config.steps - 1) // MIN_WINDOWS)  # so at least MIN_WINDOWS windows
    while trainer.steps_done < config.steps and not over_budget:
        done = trainer.steps_done
        cap = max(1, min(WINDOW_STEPS, most, int(WINDOW_SECONDS / step_s)))
        if floor is not None:
            cap = max(1, min(cap, int(PAIRED_WINDOW_SECONDS / step_s)))
        if config.budget_s is not None:  # end the window at the budget, not a window later
            left = config.budget_s - (time.perf_counter() - started)
            cap = max(1, min(cap, int(left / step_s)))
        n = min(config.eval_every - done % config.eval_every, config.steps - done, cap)
        if every is not None:  # windows end at checkpoints as at evaluations
            n = min(n, every - done % every)
        seconds, last = time_steps(trainer.step, n, trainer.sync)
        step_s = seconds / n
        loss = float(last)
        windows.append((n, seconds))
        so_far.window_segments.append(segment)
        if floor is not None:
            floor_windows.append((n, time_steps(floor.step, n, floor.sync)[0]))
        bar.update(n)
        bar.set_postfix(loss=f"{loss:.3e}", refresh=False)
        report_progress(trainer.steps_done, config.steps, 1.0 / step_s)
        over_budget = config.budget_s is not None and (
            time.perf_counter() - started >= config.budget_s
        )
        boundary(stop=over_budget and trainer.steps_done < config.steps)
    tally()
    bar.close()
    memory_mb, memory_method = trainer.memory_mb()
    errors = [e for _, e in history]
    timed_out = trainer.steps_done < config.steps
    continues = (
        f"; checkpointed: running the cell again continues from step {trainer.steps_done}"
        if saving
        else ""
    )
    return record.replace(
        status="timeout" if timed_out else "ok",
        reason=(
            f"budget of {config.budget_s:g} s reached after {trainer.steps_done} of "
            f"{config.steps} steps (measurements so far kept){continues}"
            if timed_out
            else ""
        ),
        it_per_s=median_rate(windows) if windows else None,
        it_per_s_method="median over timed windows, synchronized",
        it_per_s_overall=so_far.loop_steps / so_far.loop_s if windows else None,
        timed_windows=windows,
        floor_it_per_s=median_rate(floor_windows) if floor_windows else None,
        floor_windows=floor_windows,
        it_per_s_over_floor=(
            statistics.median(f / s for (_, s), (_, f) in zip(windows, floor_windows, strict=True))
            if floor_windows
            else None
        ),
        compile_s=compile_s,
        first_step_s=warmup_s,
        memory_mb=memory_mb,
        memory_method=memory_method,
        error_final=errors[-1] if errors else None,
        error_min=min(errors) if errors else None,
        error_history=history,
        value_history=so_far.values,
        reference_value=float(test[1][0]) if evaluate and len(test[1]) == 1 else None,
        final_loss=loss,
        n_params=trainer.n_params(),
        steps_done=trainer.steps_done,
        resumed=len(so_far.segments) - 1,
        segments=so_far.segments,
        window_segments=so_far.window_segments,
    )
