"""The machine block: hardware and versions beside every table, so that no number is read
without the machine that produced it.

Sources, first that has the field: the cell records' ``machine`` (what the benchmark
process saw: CPU/GPU model, RAM, JAX/jaxlib/PyTorch/folx versions, commit, date), then
asv's ``machine.json`` and the results file's ``params`` (asv's view of the machine).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: (label, cell-record key(s), asv machine.json/params key)
FIELDS = (
    ("CPU", ("cpu",), "cpu"),
    ("CPU cores", ("cpu_count",), "num_cpu"),
    ("GPU", ("gpu",), None),
    ("Memory (RAM)", ("ram_gb",), "ram"),
    ("OS", (), "os"),
    ("Python", ("python",), "python"),
    ("JAX", ("jax",), None),
    ("jaxlib", ("jaxlib",), None),
    ("PyTorch", ("torch",), None),
    ("CUDA", ("cuda", "cuda_version"), None),
    ("folx", ("folx",), None),
)


def _ram(value: Any, key: str) -> str:
    if key == "ram_gb":
        return f"{value} GB"
    try:  # asv stores RAM in kB as a string
        return f"{int(value) / 2**20:.1f} GB"
    except (TypeError, ValueError):
        return str(value)


def _cuda_from_torch(rec: dict[str, Any]) -> str | None:
    """CUDA from PyTorch's build tag (``2.5.1+cu124`` -> 12.4) where no record says it."""
    torch = str(rec.get("torch") or "")
    m = re.search(r"\+cu(\d+)(\d)$", torch)
    if m:
        return f"{m[1]}.{m[2]} (PyTorch build {torch}; JAX's CUDA not recorded)"
    if rec and not rec.get("gpu"):
        return "none (no GPU)"
    return None


def machine_block(
    machine: str,
    commit: str,
    commit_date: pd.Timestamp | None,
    run_date: pd.Timestamp | None,
    profiles: list[str],
    records_machine: dict[str, Any] | None,
    asv_machine: dict[str, Any] | None,
    run_params: dict[str, Any] | None,
    memory_methods: list[str] = (),
) -> list[tuple[str, str]]:
    """(label, value) pairs; a field nobody recorded says so."""
    rec = records_machine or {}
    asv = {**(run_params or {}), **(asv_machine or {})}
    out: list[tuple[str, str]] = [("Machine (asv)", machine)]
    for label, rec_keys, asv_key in FIELDS:
        value = next((rec[k] for k in rec_keys if rec.get(k) not in (None, "")), None)
        key = next((k for k in rec_keys if rec.get(k) not in (None, "")), None)
        if value is None and asv_key and asv.get(asv_key) not in (None, ""):
            value, key = asv[asv_key], asv_key
        if value is None and label == "CUDA":
            value = _cuda_from_torch(rec)
        if value is None and label == "OS":
            continue  # asv knows it only when `asv machine` asked
        if value is None:
            text = "none" if label == "GPU" and rec else "not recorded"
        elif label == "Memory (RAM)":
            text = _ram(value, key)
        else:
            text = str(value)
        out.append((label, text))
    if rec.get("hostname"):
        out.append(("Host", str(rec["hostname"])))
    date = commit_date.strftime("%Y-%m-%d %H:%M UTC") if commit_date is not None else "unknown"
    out.append(("Commit", f"{commit} ({date})"))
    if rec.get("commit") and rec["commit"] != commit:
        out.append(("Commit seen by the cells", str(rec["commit"])))
    ran = run_date.strftime("%Y-%m-%d %H:%M UTC") if run_date is not None else None
    out.append(("Run date", ran or str(rec.get("date") or "unknown")))
    out.append(("Profile", ", ".join(profiles) if profiles else "unknown"))
    if memory_methods:
        out.append(("Memory measured by", "; ".join(memory_methods)))
    return out


def to_markdown(block: list[tuple[str, str]]) -> str:
    lines = ["| Machine | |", "|---|---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in block]
    return "\n".join(lines) + "\n"


def one_line(block: list[tuple[str, str]]) -> str:
    """A short summary for a table's caption: hardware, versions, commit, profile."""
    d = dict(block)
    hw = d.get("GPU") if d.get("GPU") not in ("none", "not recorded", None) else d.get("CPU")
    return (
        f"{d.get('Machine (asv)')}: {hw}, RAM {d.get('Memory (RAM)')}, "
        f"JAX {d.get('JAX')}, PyTorch {d.get('PyTorch')}, CUDA {d.get('CUDA')}; "
        f"commit {str(d.get('Commit', ''))[:8]}, profile {d.get('Profile')}"
    )


def to_latex_comment(block: list[tuple[str, str]]) -> str:
    return "".join(f"% {k}: {v}\n" for k, v in block)
