"""``stde-bench machine``: asv's machine file with the GPU model in the name, RAM rounded."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from asv.machine import Machine

from stde_bench import asv_machine, cli

GPU = "NVIDIA H100 80GB HBM3"


def put_on_path(monkeypatch, folder: Path, script: str | None) -> None:
    """PATH = only ``folder``, with a fake ``nvidia-smi`` running ``script`` (or none)."""
    if script is not None:
        exe = folder / "nvidia-smi"
        exe.write_text("#!/bin/sh\n" + script)
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(folder))


def test_cpu_machine(tmp_path, monkeypatch, capsys):
    put_on_path(monkeypatch, tmp_path, None)
    path = tmp_path / "asv-machine.json"
    assert cli.main(["machine", "--path", str(path)]) == 0
    name = capsys.readouterr().out.strip()
    assert name.startswith("cpu-") and "nvidia" not in name
    assert name.endswith(f"-{os.cpu_count()}core-{asv_machine.ram_gib()}gib")
    entry = json.loads(path.read_text())[name]
    assert entry["machine"] == name and entry["ram"] == f"{asv_machine.ram_gib()} GiB"
    assert entry["num_cpu"] == str(os.cpu_count())


def test_gpu_model_in_the_name_and_asv_reads_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "asv-machine.json"
    other = {"machine": "another-box", "os": "Linux", "arch": "", "cpu": "", "num_cpu": "1"}
    path.write_text(json.dumps({"another-box": other, "version": 1}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    put_on_path(monkeypatch, bin_dir, f"printf '{GPU}\\n{GPU}\\n'\n")  # two GPUs
    assert cli.main(["machine", "--path", str(path)]) == 0
    name = capsys.readouterr().out.strip()
    assert name == f"{asv_machine.slug(GPU)}-x2-{asv_machine.ram_gib()}gib"
    assert "h100" in name and "cpu" not in name
    # asv itself loads the entry, and the machine already in the file is kept
    loaded = Machine.load(machine_name=name, _path=str(path))
    assert loaded.machine == name and loaded.ram == f"{asv_machine.ram_gib()} GiB"
    assert Machine.load(machine_name="another-box", _path=str(path)).machine == "another-box"


def test_a_failing_nvidia_smi_is_an_error_not_a_cpu_name(tmp_path, monkeypatch, capsys):
    put_on_path(monkeypatch, tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9\n")
    assert cli.main(["machine", "--path", str(tmp_path / "m.json")]) == 2
    assert "NVIDIA-SMI has failed" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_ram_is_rounded_so_the_name_survives_small_changes():
    """MemTotal moves by megabytes between kernels and boots: the name must not."""
    gib_kb = 2**20  # 1 GiB in kB
    meminfo = lambda kb: f"MemTotal:       {kb} kB\nMemFree:   1 kB\n"
    base = 24 * gib_kb
    for drift_mb in (-300, -1, 0, 1, 300):
        assert asv_machine.ram_gib(meminfo(base + drift_mb * 1024)) == base // gib_kb
    with pytest.raises(ValueError, match="MemTotal"):
        asv_machine.ram_gib("MemFree: 1 kB\n")


def test_cpu_model_words_without_marketing_noise():
    name = asv_machine.machine_name([], "Intel(R) Xeon(R) CPU @ 2.20GHz", 8, 31)
    assert name == "cpu-intel-xeon-8core-31gib"
    name = asv_machine.machine_name([], "AMD EPYC 7763 64-Core Processor", 2, 24)
    assert name == "cpu-amd-epyc-7763-2core-24gib"
