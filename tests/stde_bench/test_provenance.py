"""Provenance is computed once per sweep and passed down; the code version sees edits."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stde_bench.config import TrainConfig
from stde_bench.provenance import PROVENANCE_ENV, Provenance, code_version

ROOT = Path(__file__).resolve().parents[2]


def test_a_dirty_tree_gets_a_different_code_version(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "estimators").mkdir(parents=True)
    (repo / "estimators" / "a.py").write_text("x = 1\n")
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = code_version(repo)
    assert len(clean) == 8 and "dirty" not in clean
    (repo / "results").mkdir()
    (repo / "results" / "r.jsonl").write_text("{}\n")  # results do not make code dirty
    assert code_version(repo) == clean
    (repo / "estimators" / "a.py").write_text("x = 2\n")
    edited = code_version(repo)
    assert edited.startswith(clean + "-dirty-")
    (repo / "estimators" / "a.py").write_text("x = 3\n")
    assert code_version(repo) not in (clean, edited)  # the hash is of the diff itself
    (repo / "estimators" / "a.py").write_text("x = 1\n")
    (repo / "estimators" / "new.py").write_text("y = 1\n")  # untracked code counts too
    assert code_version(repo).startswith(clean + "-dirty-")


def test_a_cell_takes_its_sweeps_provenance(monkeypatch):
    from stde_bench.cell import base_record

    given = Provenance("abc12345", {"cpu": "given"}, "m")
    monkeypatch.setenv(PROVENANCE_ENV, given.env()[PROVENANCE_ENV])
    record = base_record("allen-cahn-two-body", "stde-jax", 4, TrainConfig())
    assert record.code_version == "abc12345" and record.machine["cpu"] == "given"
    assert "date" in record.machine  # the record's own date


def _logging_stand_in(folder: Path, name: str, log: Path, then: str) -> None:
    """``folder/name``: appends one line to ``log`` per call, then runs ``then``."""
    script = folder / name
    script.write_text(f'#!/bin/sh\necho "$$ $*" >> {log}\n{then}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def _calls(cells: int, tmp_path: Path, *flags: str) -> tuple[int, int]:
    """(git calls, nvidia-smi calls) of a tiny-profile sweep of ``cells`` cells with
    ``flags``, read from stand-ins on PATH that log each call and then do what the real
    tool does."""
    name = f"{cells}{''.join(flags)}"
    folder, log = tmp_path / f"bin{name}", tmp_path / f"calls{name}.log"
    folder.mkdir()
    real_git = shutil.which("git")
    _logging_stand_in(folder, "git", log, f'exec {real_git} "$@"')
    _logging_stand_in(folder, "nvidia-smi", log.with_suffix(".gpu"), "echo 'Stand-in GPU'")
    env = os.environ | {"PATH": f"{folder}:{os.environ['PATH']}", "JAX_PLATFORMS": "cpu"}
    env.pop("STDE_BENCH_MACHINE", None)
    env.pop(PROVENANCE_ENV, None)
    estimators = ["--estimator", "stde-jax", "--estimator", "sdgd-parallel-jax"][: 2 * cells]
    cmd = [sys.executable, "-m", "stde_bench.cli", "sweep", "--profile", "tiny", "--quiet"]
    cmd += ["--grid", "AllenCahnTwoBody", *estimators, *flags]
    cmd += ["--out", str(tmp_path / f"r{name}.jsonl")]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    records = (tmp_path / f"r{name}.jsonl").read_text().splitlines()
    assert len(records) >= 2 * cells  # the tiny grid: two dims and two seeds per estimator
    count = lambda path: len(path.read_text().splitlines()) if path.exists() else 0
    return count(log), count(log.with_suffix(".gpu"))


@pytest.mark.slow  # three real sweeps in subprocesses
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_sweep_asks_git_and_nvidia_smi_once_whatever_its_cells(tmp_path):
    """One set of calls per sweep, not per cell: a sweep of 8 cells makes as many as one of 4,
    and one that redoes other code's cells (which needs the code version) no more."""
    few, many = _calls(1, tmp_path), _calls(2, tmp_path)
    assert few == many, f"git, nvidia-smi calls: {few} for 4 cells, {many} for 8"
    redo = _calls(2, tmp_path, "--redo-other-code")
    assert redo == many, f"git, nvidia-smi calls: {redo} with --redo-other-code, {many} without"
    git, gpu = many
    assert 1 <= git <= 4 and 1 <= gpu <= 2  # code version + HEAD; the name and the block


def test_a_machine_block_names_every_cpu_its_records_ran_on():
    import pandas as pd

    from stde_bench.provenance import describe

    newest = {"cpu": "Intel Xeon", "cpu_count": 2, "jax": "0.1"}
    older = {"cpu": "AMD EPYC", "cpu_count": 2, "jax": "0.1"}
    shown = pd.DataFrame(
        {"code_version": ["a", "b"], "date": pd.to_datetime(["2026-01-01", "2026-01-02"])}
        | {"profile": ["p", "p"], "memory_method": ["peak", "peak"]}
    )
    block = dict(describe("m", newest, {}, shown, [newest, older, older]))
    assert block["CPU"] == "AMD EPYC (2 code versions); Intel Xeon (1 code version, the newest)"
    assert block["CPU cores"] == "2" and block["JAX"] == "0.1"  # the same in both: once
    assert dict(describe("m", newest, {}, shown, [newest]))["CPU"] == "Intel Xeon"
