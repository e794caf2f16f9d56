"""The paper's protocol as data (``stde_bench/data/paper_protocol.json``, beside its
printed numbers in ``stde_tables.csv``) and what a cell of ours does differently."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

#: the paper's protocol per problem and its number of seeds
_PAPER = json.loads(resources.files("stde_bench").joinpath("data/paper_protocol.json").read_text())
PROTOCOL, PAPER_SEEDS = _PAPER["problems"], _PAPER["seeds"]
#: our problem itself differs from the released code's (docs/protocol.md, departures)
PROBLEM_DIFFERS = dict.fromkeys(
    ("allen-cahn-three-body", "poisson-three-body", "sine-gordon-three-body"),
    "forcing: exact Δu* (the released code's is not)",
)


def differs(r) -> str:
    """What our cell's setup does differently from the paper's protocol."""
    ours = json.loads(r.config) if isinstance(r.config, str) and r.config[:1] == "{" else {}
    paper, seeds = PROTOCOL.get(r.problem, {}), int(r.seeds)
    out = [f"{seeds} seed{'s' * (seeds > 1)} (paper {PAPER_SEEDS})"] if seeds < PAPER_SEEDS else []
    names = {"steps": "steps", "n_test": "test points", "n_residual": "N_r", "width": "width"}
    for key, name in (names | {"depth": "depth"}).items():
        if key in ours and key in paper and ours[key] != paper[key]:
            out.append(f"{name} {ours[key]:,} (paper {paper[key]:,})")
    if np.isfinite(r.steps_done) and np.isfinite(r.steps) and r.steps_done < r.steps:
        out.append(f"stopped at step {int(r.steps_done):,} (budget)")
    out += ["the paper does not state |J|"] * bool(r.adopted)
    if r.problem in PROBLEM_DIFFERS:
        out.append(PROBLEM_DIFFERS[r.problem])
    out += [f"{r.ours_status}: {r.reason}"] * (r.ours_status != "ok")
    return "; ".join(out) or "nothing recorded"
