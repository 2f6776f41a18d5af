"""What the benchmark's contenders cost the machine, read from ``/proc``: peak RSS and CPU
seconds of a process and of every process it started."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_s", "descendants", "peak_rss_mb", "tree_peaks_mb", "tree_total_mb"]


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


def tree_peaks_mb(pid: int) -> list[float | None]:
    """The peak RSS of a worker, then that of every process it started (None: gone)."""
    return [peak_rss_mb(p) for p in (pid, *descendants(pid))]


def tree_total_mb(peaks: list[float | None]) -> float | None:
    """A worker's :func:`tree_peaks_mb` added up: an upper bound on its footprint (pages the
    processes share are counted in each); None once the worker is gone."""
    own, *children = peaks
    return None if own is None else own + sum(m or 0.0 for m in children)


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
