"""The paper's published numbers (``stde_bench/data/stde_tables.csv``, see ``PAPER.md``)
in the same tidy form as our results.

One row per printed cell: ``table, problem, method, samples (|J|, <NA> where none), dim,
metric, value (NaN for OOM), std, printed, printed_std (the value and ± as printed),
status ("ok" or "oom"), unit, note, block, net``.
``block`` (Table 10's weight-sharing block, 1 = none) and ``net`` (Table 11's network,
``base`` = 4 layers of width 128) come from the note column.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import pandas as pd

#: what each paper table is about (the numbers themselves come only from the CSV)
TABLE_TITLES = {
    3: "Two-body Allen-Cahn (inseparable, exact solution); also main-text Tables 1 and 2",
    4: "Two-body Poisson (inseparable)",
    5: "Two-body Sine-Gordon (inseparable)",
    6: "Three-body Allen-Cahn, Poisson and Sine-Gordon (inseparable)",
    7: "Semilinear heat equation",
    8: "Semilinear Allen-Cahn equation",
    9: "Semilinear Sine-Gordon equation",
    10: "Weight sharing: STDE on two-body Allen-Cahn with input blocks of size B",
    11: "High-order low-dimensional PDEs (2D KdV, 2D KP, 1D g-KdV)",
    12: "Gradient-enhanced PINN (gPINN) on two-body Allen-Cahn and Sine-Gordon",
}
#: the paper's hardware (App. H), shown beside every paper value
PAPER_HARDWARE = "NVIDIA A100 40 GB, CUDA 12.2, JAX 0.4.23 (paper App. H); 5 seeds"
#: the paper's method ids that are not estimators of ours
PAPER_ONLY_METHODS = {"none": "no gPINN loss (paper baseline)"}

_BLOCK = re.compile(r"block=(\d+)")
_NET = re.compile(r"net=(\w+)")


def paper_csv_path():
    return resources.files("stde_bench") / "data" / "stde_tables.csv"


@lru_cache(maxsize=1)
def _load() -> pd.DataFrame:
    with resources.as_file(paper_csv_path()) as path:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    oom = raw["value"].str.upper() == "OOM"
    note = raw["note"].fillna("")
    frame = pd.DataFrame(
        {
            "table": raw["table"].astype(int),
            "problem": raw["problem"],
            "method": raw["method"],
            "samples": pd.to_numeric(raw["batch"].replace("", None)).astype("Int64"),
            "dim": raw["dim"].astype(int),
            "metric": raw["metric"],
            "value": pd.to_numeric(raw["value"].where(~oom, None), errors="coerce"),
            "std": pd.to_numeric(raw["std"].replace("", None), errors="coerce"),
            "printed": raw["value"],
            "printed_std": raw["std"].fillna(""),
            "status": oom.map({True: "oom", False: "ok"}),
            "unit": raw["unit"],
            "note": note,
            "block": note.str.extract(_BLOCK, expand=False).fillna("1").astype(int),
            "net": note.str.extract(_NET, expand=False).fillna("base"),
        }
    )
    return frame


def load_paper() -> pd.DataFrame:
    """A copy of the paper's cells (tidy, see the module docstring)."""
    return _load().copy()


def net_label(depth: int | None, width: int | None) -> str:
    """Table 11's network label for an MLP of ``depth`` layers and ``width`` units."""
    depth = 4 if depth is None else int(depth)
    width = 128 if width is None else int(width)
    if (depth, width) == (4, 128):
        return "base"
    if width == 128:
        return f"L{depth}"
    if depth == 4:
        return f"h{width}"
    return f"L{depth}h{width}"
