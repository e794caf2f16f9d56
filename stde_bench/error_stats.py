r"""What makes a recorded test error honest (STYLE habit 16): pure functions of a cell's
record and of numbers, which the report joins and renders but never computes itself.

**Late median.**  A semilinear cell evaluates one point every 100 steps and the paper's
table keeps the minimum over its checkpoints: the one that passed closest to the reference,
selection rather than accuracy.  With the errors e_1 .. e_n in step order and
k = max(1, ⌈n / 10⌉):   late = median(e_{n−k+1}, ..., e_n).

**Sign interval.**  A relative error e against a reference r_m leaves u = r_m (1 ± e).
Against another reference r the error is one of e_± = |r_m (1 ± e) − r| / |r|; as the median
is monotone in each argument, the late median against r lies in
[late(min(e_+, e_−)), late(max(e_+, e_−))].  A record that keeps u itself
(``value_history``: [[step, u], ...]) gives one number instead.

**Reference accuracy.**  The published value r_p is itself an estimate.  With our value r
and its absolute error ε (a bound of the radial solver, or a multilevel-Picard standard
error), the published value's relative error is at most a = (|r_p − r| + ε) / |r| as far as
we can tell.  An error below a measures the reference, not the network: ``BELOW``.

**Constant mode.**  The relative L2 error of the best u = c (1 − |x|²) on a cell's own test
points (results/diagnostics/constant-mode.json, by ``scripts/constant_mode.py``).  Where it
is at most 3× the paper's error, "agrees" or "better" says nothing: ``TRIVIAL``.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

#: the verdict: ours ÷ paper within a factor AGREE agrees
AGREE, SHORT = 3.0, "not judged (shorter than the paper's schedule)"
BELOW, TRIVIAL = "below reference accuracy", "not informative"
#: an interval judged two ways at its ends (``judge``): the sign its record did not keep
UNDETERMINED = "undetermined: u's side of the reference not recorded"
#: the late median's share of the checkpoints
LATE = 0.1
#: the constant-mode baseline, under the results folder; a seed whose error is not below
#: it ÷ CONSTANT_ONLY (within 5%) learned no more than the constant mode
CONSTANT_MODE, CONSTANT_ONLY = Path("diagnostics") / "constant-mode.json", 1.05
#: a record's statistics beside ``error_min`` and ``error_final`` (``record_stats``)
STATS = ["error_late", "error_late_ours", "error_late_ours_hi", "error_constant", "constant_only"]
#: what each error statistic is, as a report's section title says it (an error kind, e.g.
#: "L2 relative error", fills the {}); ``error_late_ours_hi`` is shown with its lower end
TITLES = {
    "error_min": "{} (min over checkpoints, the paper's statistic; mean ± std over seeds)",
    "error_final": "{} at the last checkpoint (mean ± std over seeds)",
    "error_late": "{} against the published reference, median of the last 10% of checkpoints "
    "(mean ± std over seeds)",
    "error_late_ours": "{} against our reference, median of the last 10% of checkpoints: "
    "[lower, upper] over the sign of u − reference, which the record does not keep (mean)",
    "error_constant": "Trivial baseline: L2 relative error of the best constant-mode network "
    "u = c (1 − |x|²) on each cell's test points (mean ± std over seeds)",
}
#: what a verdict on each statistic means, as a report's notes say it
NOTES = dict(
    error_late_ours="Verdict: our median of the last 10% of checkpoints against our reference "
    "÷ the paper's error (its minimum over checkpoints, a selection), judged at both ends of "
    "its [lower, upper] interval: where the two ends disagree, undetermined (a record with "
    "its u history gives one value; without a reference of ours, against the published "
    "one); below reference accuracy where either error is below "
    "the published value's own error (|published − ours| + our error) / |ours|; neither is "
    "counted as agreeing.",
    error_late="Verdict: our median of the last 10% of checkpoints against the published "
    "reference (the one the paper's errors are measured against) ÷ the paper's error (its "
    "minimum over checkpoints, a selection); below reference accuracy where either is below "
    "the published value's own error (|published − ours| + our error) / |ours| (below), never "
    "counted as agreeing.",
    reference="Reference values u(0, T) of {0}: ours by `scripts/reference_values.py` (each "
    "value's command and convergence: results/diagnostics/reference-values-{0}.txt), the "
    "published one (docs/protocol.md §1.2); our records measured against the published one.",
    error_constant=f"Trivial baseline: results/{CONSTANT_MODE.as_posix()} (`scripts/"
    "constant_mode.py --write`); not informative where it is within 3× of the paper's error, "
    "never counted as agreeing.",
    constant_only="not below the best constant-mode network's error (or within 5% of it): the "
    "network learned no more than the constant mode",
)


def late_median(errors, fraction: float = LATE) -> float:
    """The median of the last ⌈fraction · n⌉ (at least one) of ``errors`` (step order)."""
    e = np.asarray(errors, dtype=float)
    k = max(1, math.ceil(round(fraction * e.size, 9)))
    return float(np.median(e[-k:])) if e.size else math.nan


def sign_interval(errors, measured: float, reference: float) -> tuple[np.ndarray, np.ndarray]:
    """Per error e against ``measured``: min and max over the sign of |r_m (1 ± e) − r| / |r|."""
    e = np.asarray(errors, dtype=float)
    both = np.abs(measured * (1.0 + np.stack([e, -e])) - reference) / abs(reference)
    return both.min(0), both.max(0)


def reference_accuracy(published: float, ours: float, error: float) -> float:
    """a = (|r_p − r| + ε) / |r|: the published value's relative error as far as ours tells."""
    return (abs(published - ours) + error) / abs(ours)


class Reference(NamedTuple):
    """A semilinear problem's u(0, T) in its own units (Sine-Gordon: d w); ours NaN where we
    have no value of our own at this d."""

    published: float
    #: the published number as printed (Sine-Gordon: w, not d w)
    printed: float
    ours: float
    #: absolute: a bound ("bound") or a standard error ("standard error")
    error: float
    kind: str
    source: str

    @property
    def accuracy(self) -> float:
        return reference_accuracy(self.published, self.ours, self.error)

    def note(self, dim: str) -> str:
        """Ours ± its error beside the published value, their distance in that error."""
        pub = f"published {self.printed:.7g}"
        pub += f" (× d: {self.published:.7g})" * (self.printed != self.published)
        if not np.isfinite(self.ours):
            return f"Reference u(0, T) at d={dim}: {pub}; none of ours, so its accuracy unknown."
        units = (self.published - self.ours) / self.error
        return (
            f"Reference u(0, T) at d={dim}: ours {self.ours:.7g} ± {self.error:.1E} ({self.kind}; "
            f"{self.source}), {pub}: {units:+,.1f} {self.kind}s apart; the published value's "
            f"accuracy {self.accuracy:.1E} relative."
        )


@functools.cache
def reference(problem: str, dim: int) -> Reference | None:
    """The reference values of a problem measured at one point against a reference value
    (``published_reference_value``, problems/semilinear.py); None for any other problem."""
    import problems

    try:
        p = problems.get(problem, int(dim))
    except ValueError:
        return None
    if not hasattr(p, "published_reference_value"):
        return None
    error = getattr(p, "reference_error", None)
    ours, error = (p.reference_value, error) if error is not None else (math.nan, math.nan)
    published = getattr(p, "published_reference_u", p.published_reference_value)
    kind = "bound" if getattr(p, "radial", True) else "standard error"
    source = getattr(p, "reference_source", "")
    return Reference(published, p.published_reference_value, ours, error, kind, source)


def record_stats(record: Any, constant: dict[tuple, float]) -> dict[str, float]:
    """``STATS`` of one record with an error history: ``error_constant`` (the baseline of
    its (problem, d, seed, test points) in ``constant``, else NaN), ``constant_only`` (1
    where ``error_min`` ≥ it ÷ ``CONSTANT_ONLY``, else 0; NaN without it) and, for a problem
    with a reference value, ``error_late`` against the published value and
    ``error_late_ours`` … ``error_late_ours_hi`` against ours.  A record without
    ``value_history`` measured against its ``reference_value`` field if it has one, else the
    published value (every record before that field); where that is not the published
    value, ``error_late`` is the upper end of its sign interval."""
    history = sorted(record.error_history or [])
    if not history:
        return {}
    c = record.config
    base = constant.get((record.problem, record.dim, c.get("seed"), c.get("n_test")), math.nan)
    out = {"error_constant": base, "constant_only": math.nan}
    if np.isfinite(base) and record.error_min:
        out["constant_only"] = float(record.error_min >= base / CONSTANT_ONLY)
    ref = reference(record.problem, record.dim)
    if ref is None:
        return out
    values = sorted(getattr(record, "value_history", None) or [])
    if values:
        u = np.array([v for _, v in values])
        published = np.abs(u - ref.published) / abs(ref.published)
        lo = hi = np.abs(u - ref.ours) / abs(ref.ours)
    else:
        errors, measured = [e for _, e in history], getattr(record, "reference_value", None)
        published = sign_interval(errors, measured or ref.published, ref.published)[1]
        lo, hi = sign_interval(errors, measured or ref.published, ref.ours)
    late = dict(error_late=published, error_late_ours=lo, error_late_ours_hi=hi)
    return out | {k: late_median(v) for k, v in late.items()}


def read_constant_mode(results: str | Path) -> dict[tuple[str, int, int, int], float]:
    """(problem, d, seed, test points) -> the constant-mode error; {} without the file."""
    path = Path(results) / CONSTANT_MODE
    if not path.is_file():
        return {}
    cells = json.loads(path.read_text())["cells"]
    return {(c["problem"], c["dim"], c["seed"], c["n_test"]): c["error"] for c in cells}


def classify(ours, paper, short, accuracy=math.nan, constant=math.nan) -> np.ndarray:
    """A verdict per cell, the first that holds: ``SHORT`` (trained shorter than the
    paper); ``BELOW`` (ours or the paper's error below ``accuracy``); "worse" (ours > 3×
    the paper's); ``TRIVIAL`` (``constant`` ≤ 3× the paper's); "better" (ours < the
    paper's ÷ 3); "agrees".  NaN ``accuracy`` or ``constant``: that test does not apply."""
    ours, paper, short, accuracy, constant = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (ours, paper, short, accuracy, constant))
    )
    cases = [short > 0, (ours < accuracy) | (paper < accuracy), ours > AGREE * paper]
    cases += [constant <= AGREE * paper, ours < paper / AGREE]
    return np.select(cases, [SHORT, BELOW, "worse", TRIVIAL, "better"], "agrees")


#: the verdict counts of a table, where no cell was judged and where some were
SUMMARY = (
    "no error cell of ours trained to the paper's schedule beside its {printed} yet.",
    "{agree} of {n} error cells agree with the paper within 3× ({better} of {n} agree within 3× "
    "or are better; {worse} worse{more}); the paper prints {printed}.",
)
STATISTIC = {
    "error_late": "by the median of the last 10% of checkpoints: ",
    "error_late_ours": "by the median of the last 10% of checkpoints against our reference: ",
}


def summarize(verdicts, printed: int, metric: str = "error_min") -> str:
    """The counts of ``classify``'s verdicts (``SHORT``: not judged, not counted); ``BELOW``
    and ``TRIVIAL`` count in n but not as agreeing; ``metric``: the verdict's statistic."""
    kinds = dict(agree="agrees", better="better", worse="worse", below=BELOW, trivial=TRIVIAL)
    kinds |= dict(undetermined=UNDETERMINED)
    counts = {k: int((np.asarray(verdicts) == x).sum()) for k, x in kinds.items()}
    n = sum(counts.values())
    more = "".join(
        f"; {counts[k]} {kinds[k]}" for k in ("below", "trivial", "undetermined") if counts[k]
    )
    counts |= dict(better=counts["agree"] + counts["better"], n=n, printed=printed, more=more)
    return STATISTIC.get(metric, "") + SUMMARY[bool(n)].format(**counts)


def error_notes(dims: dict[str, list[int]], metric: str, constant: bool, label=str) -> list[str]:
    """A table's notes on its errors: what its verdict's statistic (``metric``) means, the
    reference values of each problem at its ``dims`` (``label``: how a d is written) and,
    with ``constant``, where the constant-mode baseline comes from."""
    out = [NOTES[m] for m in [metric] if m in NOTES]
    for problem, ds in dims.items():
        refs = {d: reference(problem, d) for d in ds}
        out += [NOTES["reference"].format(problem)] * any(r and r.error > 0 for r in refs.values())
        out += [r.note(label(d)) for d, r in refs.items() if r]
    return out + [NOTES["error_constant"]] * constant
