"""asv's machine file (``~/.asv-machine.json``), written so that one machine keeps one history.

asv files results under a machine *name* and records no GPU, and its default machine
info holds the kernel release and the RAM to the kilobyte, which change with a kernel
update or a firmware reservation.  ``stde-bench machine`` writes an entry whose name is
made of the hardware only:

    <gpu model>-x<count>-<RAM>gib          e.g. nvidia-h100-80gb-hbm3-x1-126gib
    cpu-<cpu model>-<cores>core-<RAM>gib   e.g. cpu-amd-epyc-2core-24gib

(GPU models from ``nvidia-smi`` where it is on PATH; RAM = MemTotal rounded to whole GiB)
and whose ``os`` field is the distribution without the kernel release.  Other machines
already in the file are kept.  Then ``asv run --machine <name>`` files results there.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

ASV_MACHINE_FILE = Path("~/.asv-machine.json")
ASV_MACHINE_API_VERSION = 1  # asv.machine.MachineCollection.api_version
_CPU_NOISE = r"\((r|tm)\)|\bcpu\b|\bprocessor\b|\b\d+-core\b|@.*$"


def slug(text: str) -> str:
    """Words in lower case joined by ``-``: ``"NVIDIA H100 80GB"`` -> ``nvidia-h100-80gb``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def gpu_models(query: str = "name") -> list[str]:
    """One line per GPU from ``nvidia-smi --query-gpu=<query>`` (default: the model name;
    empty where nvidia-smi is not on PATH).

    A ``nvidia-smi`` that is present but fails is a ValueError: naming a GPU machine as
    a CPU one would mix two histories.
    """
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", None) or err
        raise ValueError(
            f"{exe} is on PATH but failed ({detail}); fix the driver, or take nvidia-smi "
            "off PATH to name this machine by its CPU"
        ) from None
    return [line.strip() for line in out.splitlines() if line.strip()]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib(meminfo: str | None = None) -> int:
    """Physical memory (``MemTotal`` of ``/proc/meminfo``) rounded to whole GiB.

    MemTotal moves by megabytes between kernels and boots; whole GiB do not.
    """
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            return round(pages / 2**30)
    match = re.search(r"^MemTotal:\s*(\d+)\s*kB", meminfo, re.MULTILINE)
    if match is None:
        raise ValueError("no MemTotal line in /proc/meminfo")
    return round(int(match.group(1)) * 1024 / 2**30)


def machine_name(gpus: list[str], cpu: str, num_cpu: int, ram: int) -> str:
    """The name from the hardware: GPU models and counts, else CPU model and cores; RAM."""
    if gpus:
        accelerators = "-".join(f"{slug(m)}-x{n}" for m, n in Counter(gpus).items())
        return f"{accelerators}-{ram}gib"
    cpu_words = slug(re.sub(_CPU_NOISE, " ", cpu, flags=re.IGNORECASE)) or "unknown"
    return f"cpu-{cpu_words}-{num_cpu}core-{ram}gib"


def default_machine() -> str:
    """The machine of records and asv results: ``$STDE_BENCH_MACHINE``, else the name
    from the hardware (``machine_name``).  The one default of the CLI, the benchmarks and
    the Makefile (``stde-bench machine --name``)."""
    return os.environ.get("STDE_BENCH_MACHINE") or machine_info()["machine"]


def machine_info() -> dict[str, str]:
    """asv's machine fields for this machine, ``machine`` being ``machine_name(...)``."""
    cpu, num_cpu, ram = cpu_model(), os.cpu_count() or 1, ram_gib()
    try:
        distribution = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        distribution = ""
    system = f"{platform.system()} ({distribution})" if distribution else platform.system()
    return {
        "machine": machine_name(gpu_models(), cpu, num_cpu, ram),
        "os": system,  # no kernel release: an update must not start a new history
        "arch": platform.machine(),
        "cpu": cpu,
        "num_cpu": str(num_cpu),
        "ram": f"{ram} GiB",
    }


def write_machine_file(path: Path | str | None = None) -> str:
    """Add (or replace) this machine's entry in asv's machine file; returns its name.

    ``path``: default ``~/.asv-machine.json`` (asv's).  Other entries are kept.
    """
    path = Path(path or ASV_MACHINE_FILE).expanduser()
    entries: dict = {}
    if path.exists():
        try:
            entries = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not JSON ({err}); move it aside and run again") from None
    info = machine_info()
    entries[info["machine"]] = info
    entries["version"] = ASV_MACHINE_API_VERSION
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entries, indent=4, sort_keys=True) + "\n")
    tmp.replace(path)
    return info["machine"]
