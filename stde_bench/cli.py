"""The ``stde-bench`` command: the user's front door.

stde-bench list                         registered problems and estimators
stde-bench run --problem P --estimator E --dim D [...]   one cell, now, with a JSON record
stde-bench sweep [--profile smoke] [--grid G ...] [--estimator E ...] [--problem P ...]
                                                        many cells, fresh process each, resumable
stde-bench sweep --executor gpus|slurm [--executor-config FILE]   one cell per GPU, or a
                                                        Slurm job array (stde_bench.executors)
stde-bench records merge [--out FILE]   fold a Slurm sweep's task records into its records file
stde-bench quality --problem P --estimator E --dim D --samples J   estimator bias / std
stde-bench report [--results results/] [--out reports/NAME]        tables and plots
stde-bench machine [--path ~/.asv-machine.json]   asv's machine file; prints the name
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

from stde_bench.config import TrainConfig
from stde_bench.records import CellRecord

CONFIG_FLAGS = {  # flag -> (TrainConfig field, type, help)
    "--steps": ("steps", int, "Adam steps (paper: 10,000; 20,000 for gPINN)"),
    "--samples": ("samples", int, "|J|, the sampled coordinates per step (paper: 100 or 16)"),
    "--seed": ("seed", int, "seed of the network, the problem's coefficients and sampling"),
    "--n-residual": ("n_residual", int, "residual points per step N_r (paper: 100)"),
    "--eval-every": ("eval_every", int, "steps between test-error evaluations (paper: 1000)"),
    "--n-test": ("n_test", int, "test points (paper: 20,000)"),
    "--lr": ("lr", float, "initial learning rate, decayed linearly to 0 (paper: 1e-3)"),
    "--depth": ("depth", int, "MLP depth (paper: 4)"),
    "--width": ("width", int, "MLP width (paper: 128)"),
    "--block": ("block", int, "weight sharing: input blocks of this size (Table 10)"),
    "--sampler": ("sampler", str, "the problem's residual-point sampler (default: its own)"),
    "--budget-s": ("budget_s", float, "wall-clock budget in seconds; then: timeout, kept"),
    "--measure": ("measure", str, "all, speed (timed steps only) or error (full training)"),
}
#: sweep flag -> (the slurm executor's config key, type, what it sets): each overrides its
#: key in --executor-config
SLURM_FLAGS = {
    "--slurm-partition": ("partition", str, "the tasks' partition"),
    "--slurm-account": ("account", str, "the account charged"),
    "--slurm-gres": ("gres", str, "each task's generic resources, e.g. gpu:1"),
    "--slurm-cpus-per-task": ("cpus_per_task", int, "each task's CPUs"),
    "--slurm-array-parallelism": ("array_parallelism", int, "how many tasks run at once"),
}


def _cmd_list(args: argparse.Namespace) -> int:
    import estimators
    import problems

    print("problems:")
    for name in problems.names():  # built-ins, then plugins (entry points)
        try:
            factory = problems.REGISTRY.factory(name)
        except ValueError as err:  # a broken plugin: named, the others still listed
            print(f"  {name:<30} BROKEN: {err}")
            continue
        print(f"  {name:<30} operator={factory.operator}")
    print("estimators:")
    for name in estimators.names():
        try:
            e = estimators.REGISTRY.factory(name)
        except ValueError as err:
            print(f"  {name:<30} BROKEN: {err}")
            continue
        kind = "stochastic" if e.stochastic else "exact"
        print(f"  {name:<30} {e.backend:<6} {kind:<11} {', '.join(sorted(e.operators))}")
    return 0


def _config_from(args: argparse.Namespace) -> TrainConfig:
    base = json.loads(args.config_json) if args.config_json else {}
    config = TrainConfig(**base)
    changes = {
        f: getattr(args, f) for f, _, _ in CONFIG_FLAGS.values() if getattr(args, f) is not None
    }
    for flag in ("unbiased", "restrict", "torch_compile"):
        if getattr(args, flag):
            changes[flag] = True
    return config.replace(**changes)


def _summary(record: CellRecord) -> str:
    if record.status not in ("ok", "timeout"):
        return f"{record.status.upper()}: {record.reason}"
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
    line = (
        f"it/s {fmt(record.it_per_s, '.2f')} | compile {fmt(record.compile_s, '.1f')} s | "
        f"memory {fmt(record.memory_mb, '.0f')} MB ({record.memory_method}) | "
        f"{record.error_metric} final {fmt(record.error_final, '.3e')} "
        f"min {fmt(record.error_min, '.3e')}"
    )
    if record.it_per_s_over_floor is not None:
        line += f" | {record.it_per_s_over_floor:.2f}x the floor's it/s (paired)"
    return line if record.status == "ok" else f"TIMEOUT: {record.reason}\n{line}"


def _cmd_run(args: argparse.Namespace) -> int:
    from stde_bench.cell import run_cell
    from stde_bench.provenance import Provenance
    from stde_bench.records import write_json_atomic
    from stde_bench.sweep import die_with_sweep

    die_with_sweep()

    config = _config_from(args)
    if args.checkpoint_every is not None:
        config = config.replace(checkpoint_every=args.checkpoint_every)
    provenance = Provenance.current()  # a sweep's, else computed here
    record = run_cell(
        args.problem,
        args.estimator,
        args.dim,
        config,
        progress=not args.quiet,
        paired_floor=args.paired_floor,
        checkpoint_dir=args.checkpoint_dir,
        provenance=provenance,
        asv_machine=provenance.asv_machine,
        profile=args.profile,
        grid=args.grid,
    )
    path = args.json or Path("runs") / f"{record.key}.json"
    write_json_atomic(path, record)
    if record.status == "ok" and not args.keep_checkpoint:  # the record is written: done
        from stde_bench.checkpoint import DEFAULT_DIR, discard

        discard(args.checkpoint_dir or DEFAULT_DIR, record.key)
    if record.status == "skipped":
        print(f"stde-bench: cannot run this cell: {record.reason}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(_summary(record))
        print(f"record: {path}")
    return 0 if record.status == "ok" else 1


def _cmd_sweep(args: argparse.Namespace) -> int:
    from stde_bench.asv_machine import default_machine
    from stde_bench.executors import make_executor, read_config
    from stde_bench.plan import (
        eta_clock,
        format_plan,
        machine_history,
        other_hardware,
        plan,
        wall_s,
    )
    from stde_bench.profiles import get_profile
    from stde_bench.provenance import Provenance
    from stde_bench.records import RecordStore, records_file
    from stde_bench.sweep import Interrupted, grid_cells, overlaps

    profile = get_profile(args.profile)
    grids = [profile.grid(g) for g in args.grid] if args.grid else list(profile.grids)
    cells = [cell for g in grids for cell in grid_cells(g, profile)]
    for field, wanted in (("estimator", args.estimator), ("problem", args.problem)):
        if wanted:
            known = {getattr(c, field) for c in cells}
            if unknown := set(wanted) - known:
                raise SystemExit(
                    f"stde-bench sweep: no cell of the chosen grids has {field} "
                    f"{', '.join(sorted(unknown))}; they have: {', '.join(sorted(known))}"
                )
            cells = [c for c in cells if getattr(c, field) in wanted]
    if args.checkpoint_every is not None:  # a run option: the cells' keys are unchanged
        every = args.checkpoint_every
        cells = [
            dataclasses.replace(c, config=c.config.replace(checkpoint_every=every)) for c in cells
        ]
    if args.checkpoint_dir is not None:
        cells = [dataclasses.replace(c, checkpoint_dir=args.checkpoint_dir) for c in cells]
    flags = {key: getattr(args, f"slurm_{key}") for key, _, _ in SLURM_FLAGS.values()}
    executor_config = read_config(args.executor_config)
    executor_config |= {key: value for key, value in flags.items() if value is not None}
    executor = make_executor(args.executor, executor_config)
    machine = args.machine or default_machine()
    cells_dir = Path("results") / "cells"
    out = args.out or records_file(cells_dir, machine, profile.name)
    store = RecordStore(out)
    history = machine_history(cells_dir, machine) + list(store.records.values())
    # one provenance (one set of git and nvidia-smi calls) for the plan and every cell
    provenance = Provenance.current(machine)
    if warning := other_hardware(history, provenance.machine):
        print(f"stde-bench sweep: machine {machine}: {warning}", file=sys.stderr)
    code = provenance.code_version if args.redo_other_code else None
    # the planned machine's cores: its records', else this machine's
    cores = history[-1].machine.get("cpu_count") if history else None
    overlap = overlaps(profile.device, cores) and not args.no_overlap
    slots = executor.slots
    planned = plan(cells, store, history, profile.device, code, overlap=overlap, slots=slots)
    if args.dry_run:
        print(format_plan(planned, profile, overlap, slots))
        return 0
    ahead = int(overlaps(profile.device) and not args.no_overlap)
    todo = [p for p in planned if not p.done and not p.cell.skip_reason]
    eta = wall_s(todo, slots)
    print(
        f"{profile.name} on {machine}: {len(todo)} of {len(cells)} cells to run, "
        f"ETA {eta / 60:.0f} min (until about {eta_clock(eta)}); records: {out}",
        flush=True,
    )
    # SIGTERM (`kill`, a scheduler's stop) ends the sweep as Ctrl-C does: running cells
    # stopped, finished ones kept, the resume line printed; exit 128 + the signal's number
    caught: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        caught.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        executor.run(
            cells,
            store,
            timeout=args.timeout,
            progress=not args.quiet,
            asv_machine=machine,
            code=code,
            ahead=ahead,
            provenance=provenance,
        )
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return 128 + (caught[0] if caught else signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    counts: dict[str, int] = {}
    for rec in store.records.values():
        counts[rec.status] = counts.get(rec.status, 0) + 1
    print(f"{len(store)} cells in {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _cmd_records(args: argparse.Namespace) -> int:
    from stde_bench.records import RecordStore, task_record_path

    folders = sorted((Path("results") / "cells").glob("*.jsonl.d"))
    paths = [args.out] if args.out else [f.with_name(f.name.removesuffix(".d")) for f in folders]
    if not paths:
        print("no task records under results/cells (a Slurm sweep writes <records>.d/)")
    for path in paths:
        if not task_record_path(path, "").parent.is_dir():
            print(f"{path}: no task records ({task_record_path(path, '').parent} is absent)")
            continue
        store = RecordStore(path)
        merged = store.merge()
        print(f"{path}: {merged} task records merged; {len(store)} cells")
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    from stde_bench.quality import measure_quality

    result = measure_quality(
        args.problem, args.estimator, args.dim, args.samples, n_draws=args.draws, seed=args.seed
    )
    print(json.dumps(result, indent=2))
    return 0


def _cmd_machine(args: argparse.Namespace) -> int:
    from stde_bench.asv_machine import default_machine, write_machine_file

    # the name, for `asv run --machine NAME` (--name: only the name, nothing written)
    print(default_machine() if args.name else write_machine_file(args.path))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from stde_bench.report import main as report_main

    return report_main(args)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="stde-bench", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered problems and estimators").set_defaults(func=_cmd_list)

    run = sub.add_parser("run", help="train and measure one cell")
    run.add_argument("--problem", required=True, help="a problem id (`stde-bench list`)")
    run.add_argument(
        "--estimator", required=True, help="an estimator id (`stde-bench list`) or module:attr"
    )
    run.add_argument("--dim", required=True, type=int, help="the dimension d")
    for flag, (field, typ, text) in CONFIG_FLAGS.items():
        run.add_argument(flag, dest=field, type=typ, default=None, help=text)
    run.add_argument("--unbiased", action="store_true", help="two-sample unbiased loss")
    run.add_argument(
        "--restrict", action="store_true", help="estimate on f_J, the network restricted to J"
    )
    run.add_argument(
        "--torch-compile", action="store_true", help="PyTorch step under torch.compile"
    )
    run.add_argument(
        "--paired-floor",
        action="store_true",
        help="speed cells: time the floor (primal-jax) in this process, a window after each",
    )
    run.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="save the cell's training state every N steps, at its budget and at its end; "
        "running the same cell again resumes from its checkpoint (exactly)",
    )
    run.add_argument(
        "--checkpoint-dir",
        type=Path,
        metavar="DIR",
        help="where the cell's checkpoint is kept and looked for (default results/checkpoints)",
    )
    run.add_argument(
        "--keep-checkpoint",
        action="store_true",
        help="keep the checkpoint after an ok record (its caller removes it: a sweep does "
        "once the record is stored)",
    )
    run.add_argument("--config-json", help="a TrainConfig as JSON (flags override it)")
    run.add_argument("--json", type=Path, help="record path (default runs/<cell>.json)")
    run.add_argument("--profile", help="the profile the cell belongs to (recorded)")
    run.add_argument("--grid", help="the grid the cell belongs to (recorded)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)

    sw = sub.add_parser("sweep", help="run a profile's cells, each in a fresh process")
    sw.add_argument(
        "--profile", default=None, help="smoke (default), repro-cpu, gpu-quick, paper, tiny"
    )
    sw.add_argument("--grid", action="append", help="only these grids (repeatable)")
    sw.add_argument("--estimator", action="append", help="only these estimators (repeatable)")
    sw.add_argument("--problem", action="append", help="only these problems (repeatable)")
    sw.add_argument(
        "--machine",
        help="machine name in the records (default $STDE_BENCH_MACHINE, else from the hardware: "
        "stde-bench machine --name)",
    )
    sw.add_argument(
        "--redo-other-code",
        action="store_true",
        help="run again the cells whose record is from another code version (re-measure "
        "after a change; older records stay, the report shows the newest)",
    )
    sw.add_argument(
        "--out",
        type=Path,
        help="records file (.jsonl; default results/cells/<machine>-<profile>.jsonl); resumed",
    )
    sw.add_argument(
        "--timeout", type=float, default=None, help="kill a cell after this many seconds"
    )
    sw.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="each cell saves its training state every N steps, at its budget and at its "
        "end; a cell killed or timed out resumes from it when run again",
    )
    sw.add_argument(
        "--checkpoint-dir",
        type=Path,
        metavar="DIR",
        help="where the cells' checkpoints are kept (default results/checkpoints)",
    )
    sw.add_argument(
        "--dry-run", action="store_true", help="print the cells, what each measures, the ETA"
    )
    sw.add_argument(
        "--no-overlap",
        action="store_true",
        help="on a GPU profile, start each cell's process only after the last one ended "
        "(default: the next one starts meanwhile and waits for its turn; see README)",
    )
    from stde_bench.executors import EXECUTORS

    sw.add_argument(
        "--executor",
        choices=list(EXECUTORS),
        default="local",
        help="where the cells run: local, one at a time (default); gpus, one cell per GPU of "
        "this machine, each process pinned with CUDA_VISIBLE_DEVICES; slurm, a submitit job "
        "array, one task per cell (docs/gpu.md)",
    )
    sw.add_argument(
        "--executor-config",
        type=Path,
        metavar="FILE",
        help="YAML mapping of the executor's parameters: gpus: [0, 1]; or partition, account, "
        "gres, cpus_per_task, array_parallelism, timeout_min, wait, cluster ... "
        "(stde_bench/executors.py)",
    )
    for flag, (key, typ, what) in SLURM_FLAGS.items():
        sw.add_argument(
            flag,
            dest=f"slurm_{key}",
            type=typ,
            metavar="N" if typ is int else key.upper(),
            help=f"--executor slurm: {what} (overrides {key} in --executor-config)",
        )
    sw.add_argument("--quiet", action="store_true", help="no progress bars")
    sw.set_defaults(func=_cmd_sweep)

    rec = sub.add_parser("records", help="maintain records files")
    rec_sub = rec.add_subparsers(dest="action", required=True, help="merge")
    merge = rec_sub.add_parser(
        "merge",
        help="fold the record files a Slurm sweep's tasks wrote (<records>.d/) into the "
        "records file, under its lock, and remove them",
    )
    merge.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="the records file (.jsonl) whose task records to fold in (default: every one "
        "under results/cells with a .d folder)",
    )
    merge.set_defaults(func=_cmd_records)

    q = sub.add_parser("quality", help="relative bias and std of an estimator, no training")
    q.add_argument("--problem", required=True, help="a problem id (`stde-bench list`)")
    q.add_argument("--estimator", required=True, help="a stochastic estimator id")
    q.add_argument("--dim", required=True, type=int, help="the dimension d")
    q.add_argument("--samples", required=True, type=int, help="|J|, the sampled coordinates")
    q.add_argument("--draws", type=int, default=32, help="independent estimates per point")
    q.add_argument("--seed", type=int, default=0, help="seed of the problem and the draws")
    q.set_defaults(func=_cmd_quality)

    ma = sub.add_parser("machine", help="write asv's machine file (GPU model in the name)")
    ma.add_argument("--path", type=Path, help="machine file (default ~/.asv-machine.json)")
    ma.add_argument(
        "--name",
        action="store_true",
        help="only print the default machine name ($STDE_BENCH_MACHINE, else the hardware's)",
    )
    ma.set_defaults(func=_cmd_machine)

    rep = sub.add_parser("report", help="render tables and plots from recorded results")
    rep.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default results)"
    )
    rep.add_argument("--machine", action="append", help="only these machines (repeatable)")
    rep.add_argument(
        "--commit",
        help="only code versions starting with this prefix (default: each cell's newest)",
    )
    rep.add_argument("--out", type=Path, help="output folder (default reports/<machine>)")
    rep.set_defaults(func=_cmd_report)
    return ap


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stde_core.xla import configure_xla_cpu

    configure_xla_cpu()
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"stde-bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stde-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
