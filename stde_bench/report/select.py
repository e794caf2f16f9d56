"""Which measurements a report shows (``select``) and one row per cell (``aggregate``)."""

from __future__ import annotations

import math

import pandas as pd

from stde_bench.report.load import CELL, ERRORS, STATS


def select(frame: pd.DataFrame, commit: str | None = None) -> pd.DataFrame:
    """Our rows a report shows: for every cell, the config of its newest measurement (an
    error: the longest training first, so a short run never hides a converged one), and
    each seed's newest row of that config; ``commit`` keeps the code versions starting
    with it.  asv's values derived from records present are not shown twice, and asv's
    values of cells without records only where no record measured the cell."""
    ours = frame[(frame.source == "ours") & ~frame.derived]
    ours = ours[ours.code_version.str.startswith(commit or "")].fillna({"config": "asv"})
    at = ours.set_index(["machine", "problem", "method", "dim", "metric"]).index
    bare = (ours.origin == "asv") & (ours.kind == "training")
    ours = ours[~(bare & at.isin(at[ours.origin == "record"]))]
    trained = ours.steps.where(ours.metric.isin(ERRORS + STATS)).fillna(0).astype(float)
    ours = ours.assign(_rank=trained).sort_values(["_rank", "date"], na_position="first")
    chosen = ours.drop_duplicates(CELL, keep="last")[CELL + ["config"]]
    shown = ours.reset_index().merge(chosen, on=CELL + ["config"]).set_index("index")
    return frame.loc[shown.drop_duplicates(CELL + ["seed"], keep="last").index]


def aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the mean over seeds, the std (ddof = 0, as the paper; asv's where one
    row stands for all seeds), the seeds, the worst status, its reasons, the code versions."""
    if rows.empty:
        return rows.assign(seeds=0, versions="")
    g = rows.groupby(CELL, sort=False)
    first = "source grid profile config memory_method file printed table".split()
    out = g.agg(dict(value="mean", std="first", seed="nunique", steps="max", steps_done="min"))
    out = out.join(g[first].first()).rename(columns={"seed": "seeds"})
    out["status"] = g.status.agg(lambda s: next((x for x in s if x != "ok"), "ok"))
    out["reason"] = g.reason.agg(lambda s: "; ".join(dict.fromkeys(x for x in s.dropna() if x)))
    out["versions"] = g.code_version.agg(lambda s: ", ".join(sorted(set(s))))
    out["trend"] = g.trend.agg(lambda s: "; ".join(x for x in s.dropna() if x))
    spread = g.value.agg(lambda v: v.std(ddof=0) if v.count() > 1 else math.nan)
    return out.assign(std=spread.where(spread.notna(), out["std"])).reset_index()
