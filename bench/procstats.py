"""What the benchmark's contenders cost the machine, read from ``/proc``: peak RSS and CPU
seconds of a process and of every process it started."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_s", "descendants", "peak_rss_mb", "tree_peak_rss_mb"]


def descendants(pid: int) -> list[int]:
    """Every process started by ``pid``, recursively (scoring processes, their tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def tree_peak_rss_mb(pid: int | None) -> float | None:
    """The peak RSS of a worker plus that of every process it started (an upper bound on the
    worker's footprint: pages the processes share are counted in each)."""
    own = peak_rss_mb(pid)
    if own is None or pid is None:
        return own
    return own + sum(peak_rss_mb(child) or 0.0 for child in descendants(pid))


def peak_rss_mb(pid: int | None) -> float | None:
    """The peak RSS (VmHWM) of ``pid`` in MB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` and every process they started."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in {p for root in pids for p in (root, *descendants(root))}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total
