"""The worker supervisor, on stand-in processes (a tiny Python script instead of a worker)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from hitpred.settings import Settings
from hitpred.stack import WORKER_READY_LINE
from hitpred.supervisor import Supervisor

# Prints the ready line and its metrics port, then runs until terminated.
SCRIPT = (
    "import os, sys, time; "
    f"print({WORKER_READY_LINE!r}, os.environ.get('HITPRED_METRICS_PORT'), flush=True); "
    "time.sleep(600)"
)


def _wait(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_processes_get_their_own_metrics_port_and_log(tmp_path: Path) -> None:
    settings = Settings(metrics_port=9500, state_dir=tmp_path)
    supervisor = Supervisor(
        settings, 3, log_dir=tmp_path / "logs", argv=[sys.executable, "-c", SCRIPT]
    )
    try:
        supervisor.start()
        assert _wait(supervisor.ready)
        ports = sorted(p.log_path.read_text().split()[-1] for p in supervisor.processes)
        assert ports == ["9500", "9501", "9502"]
    finally:
        supervisor.stop(timeout=5)
    assert not any(p.alive for p in supervisor.processes)


def test_a_dead_process_is_restarted_with_backoff_and_its_log_kept(tmp_path: Path) -> None:
    settings = Settings(metrics_port=0, state_dir=tmp_path)
    lines: list[str] = []
    supervisor = Supervisor(
        settings,
        2,
        log_dir=tmp_path / "logs",
        argv=[sys.executable, "-c", SCRIPT],
        notify=lines.append,
    )
    try:
        supervisor.start()
        assert _wait(supervisor.ready)
        victim = supervisor.slots[1].process
        first_pid = victim.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        assert _wait(lambda: not victim.alive)
        supervisor.check()  # notices the death, schedules the restart after 1 s
        assert "worker 1 exited with code -9; restarting in 1s" in lines[0]
        assert _wait(lambda: (supervisor.check(), supervisor.slots[1].restarts == 1)[1])
        assert supervisor.slots[1].process.pid != first_pid
        assert supervisor.slots[0].process.alive and supervisor.slots[0].restarts == 0
        assert _wait(supervisor.ready)
        # The log of the dead process is appended to, not replaced.
        log = supervisor.slots[1].process.log_path.read_text()
        assert log.count(WORKER_READY_LINE) == 2
        # A second death waits twice as long.
        os.kill(supervisor.slots[1].process.pid or 0, signal.SIGKILL)
        assert _wait(lambda: not supervisor.slots[1].process.alive)
        supervisor.check()
        assert "restarting in 2s" in lines[-1]
    finally:
        supervisor.stop(timeout=5)


def test_at_least_one_process() -> None:
    import pytest

    with pytest.raises(ValueError):
        Supervisor(Settings(), 0, log_dir=Path("/nonexistent"))
