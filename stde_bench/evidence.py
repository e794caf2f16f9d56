"""Evidence beside a verdict: how a trained cell's test error moved, and what longer runs
of the same seed (``results/diagnostics/``, never a table cell) reached."""

from __future__ import annotations

from pathlib import Path

from stde_bench.records import CellRecord, read_record, read_records, rel_path


def error_trend(record: CellRecord) -> str:
    """How a trained cell's test error moved (evidence beside a verdict), e.g. ``seed 0:
    5.48e-03 at step 1,000 ... 5.35e-03 at 9,000, 4.71e-03 at 10,000: still falling``."""
    history = [(int(s), float(e)) for s, e in record.error_history or []]
    if len(history) < 3:
        return ""
    (s0, e0), (sp, ep), (sn, en) = history[0], history[-2], history[-1]
    s_min, e_min = min(history, key=lambda h: h[1])
    if en < 0.95 * ep:
        how = "still falling when training stopped"
    elif en > 2 * e_min:
        how = f"rose after its minimum {e_min:.2e} at step {s_min:,}"
    else:  # flat since the first checkpoint from which every later one is within 5%
        flat = next(
            s
            for k, (s, _) in enumerate(history)
            if all(abs(e - en) <= 0.05 * en for _, e in history[k:])
        )
        how = f"flat (within 5%) from step {flat:,}"
    seed = record.config.get("seed")
    return f"seed {seed}: {e0:.2e} at step {s0:,} ... {ep:.2e} at {sp:,}, {en:.2e} at {sn:,}: {how}"


#: a trained cell's identity across runs of different length: (problem, method, d, |J|,
#: restricted, seed)
RunKey = tuple[str, str, int, int, bool, int]


def run_key(record: CellRecord) -> RunKey:
    c = record.config
    samples, restrict, seed = int(c.get("samples") or 0), bool(c.get("restrict")), c.get("seed")
    return record.problem, record.estimator, int(record.dim), samples, restrict, int(seed or 0)


def longer_runs(root: Path) -> dict[RunKey, tuple[int, str]]:
    """Evidence from ``root/diagnostics`` (one-off runs, never in a table): for each cell
    trained there, its steps and e.g. ``trained 20,000 steps (results/diagnostics/x.json, ...):
    3.10e-03 at step 10,000, 2.22e-04 at 20,000 (its minimum)``; the longest run wins."""
    folder, out = root / "diagnostics", {}
    for path in sorted(folder.glob("*.json*")) if folder.is_dir() else []:
        try:
            records = read_records(path)[0] if path.suffix == ".jsonl" else [read_record(path)]
        except (OSError, ValueError, TypeError):
            continue  # evidence only: an unreadable file is no evidence
        for r in records:
            history = {int(s): float(e) for s, e in r.error_history or []}
            steps = int(r.config.get("steps") or 0)
            if r.status != "ok" or len(history) < 2 or steps <= out.get(run_key(r), (0,))[0]:
                continue
            (s_min, e_min), last = min(history.items(), key=lambda h: h[1]), max(history)
            mid = [s for s in history if s <= last // 2]
            at = f"{history[max(mid)]:.2e} at step {max(mid):,}, " if mid else ""
            low = " (its minimum)" if s_min == last else f", minimum {e_min:.2e} at {s_min:,}"
            text = f"{at}{history[last]:.2e} at {last:,}{low}"
            where = f"{rel_path(path, root)}, learning rate decaying to 0 over all {steps:,}"
            out[run_key(r)] = steps, f"trained {steps:,} steps ({where}): {text}"
    return out


def longer(record: CellRecord, longer: dict[RunKey, tuple[int, str]]) -> str:
    steps, text = longer.get(run_key(record), (0, ""))
    return f"; the same seed {text}" if steps > int(record.config.get("steps") or 0) else ""
