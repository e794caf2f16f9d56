"""Each finished piece of a sweep log (scripts/repro-piece.sh) with its planned ETA and its
wall time, and the totals: ``python scripts/sweep_log_eta.py results/sweeps/X.txt``."""

from __future__ import annotations

import re
import sys


def pieces(lines: list[str]) -> list[tuple[str, float, float]]:
    """``(command, eta_s, wall_s)`` for every piece that logged a plan and an end."""
    out, command, eta = [], "", None
    for line in lines:
        if " start: " in line:
            command, eta = line.split(" start: ", 1)[1], None
        elif line.strip().startswith("plan:") and (m := re.search(r"\((\d+) min\)", line)):
            eta = int(m.group(1)) * 60.0
        elif (m := re.search(r" end \(exit \d+\): (\d+) s wall", line)) and eta is not None:
            out.append((command, eta, float(m.group(1))))
            eta = None
    return out


if __name__ == "__main__":
    done = pieces(open(sys.argv[1]).read().splitlines())
    for command, eta, wall in done:
        print(f"{wall / eta:5.2f}x  ETA {eta / 60:4.0f} min  wall {wall / 60:5.1f} min  {command}")
    eta, wall = sum(p[1] for p in done), sum(p[2] for p in done)
    print(
        f"{len(done)} pieces: ETA {eta / 60:.0f} min, wall {wall / 60:.0f} min ({wall / eta:.2f}x)"
    )
