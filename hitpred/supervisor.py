"""Worker processes under supervision: several per machine, restarted when one dies.

A worker process scores on one core (Python's GIL), so a machine with more cores runs several
(``HITPRED_WORKER_PROCESSES``, ``hitpred worker --processes N``): each is an ordinary member of
the consumer groups, so partitions are shared among them, each partition is still consumed in
order by one process, and every process commits only what it delivered. Process *i* serves
its metrics on ``HITPRED_METRICS_PORT + i``.

:class:`Supervisor` restarts a process that exits on its own, after a back-off that doubles
from 1 s up to 60 s (reset once a process stayed up for a minute), and says so in one line.
Each process appends to its own log file, which outlives it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hitpred.settings import Settings
from hitpred.stack import WORKER_READY_LINE, ManagedProcess

__all__ = ["Supervisor", "worker_argv"]

logger = logging.getLogger(__name__)

#: A process that stays up this long is healthy again: its back-off starts over.
HEALTHY_AFTER_S = 60.0
MAX_BACKOFF_S = 60.0


def worker_argv(loglevel: str = "info") -> list[str]:
    """The command of one worker process."""
    return [sys.executable, "-m", "streams", "worker", "--without-web", "--loglevel", loglevel]


@dataclass
class _Slot:
    index: int
    process: ManagedProcess
    started_at: float = field(default_factory=time.monotonic)
    backoff_s: float = 1.0
    restart_at: float | None = None
    restarts: int = 0
    #: Size of the (appended) log when this process started: readiness is read after it.
    log_offset: int = 0


class Supervisor:
    """Starts ``count`` worker processes and keeps them running until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        argv: list[str] | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a supervisor runs at least one worker process")
        self.settings = settings
        self.count = count
        self.log_dir = log_dir
        self.env = dict(env or {})
        self.argv = argv or worker_argv()
        self.notify = notify or logger.warning
        self.slots: list[_Slot] = []

    def _process(self, index: int) -> ManagedProcess:
        # Each process knows how many share the machine, so they divide its cores between
        # their scoring processes (HITPRED_SCORING_PROCESSES unset).
        env = {**os.environ, **self.env, "HITPRED_WORKER_PROCESSES": str(self.count)}
        port = self.settings.metrics_port
        if port:
            env["HITPRED_METRICS_PORT"] = str(port + index)
        return ManagedProcess(
            name=f"worker-{index}",
            argv=self.argv,
            log_path=self.log_dir / f"worker-{index}.log",
            env=env,
        )

    def start(self) -> Supervisor:
        """Start every process (not waiting for them to be ready)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            process = self._process(index)
            offset = _size(process.log_path)
            process.start()
            self.slots.append(_Slot(index, process, log_offset=offset))
        return self

    @property
    def processes(self) -> list[ManagedProcess]:
        return [slot.process for slot in self.slots]

    def ready(self) -> bool:
        """Whether every process has logged that it is ready."""
        for slot in self.slots:
            try:
                with open(slot.process.log_path, "rb") as log:
                    log.seek(slot.log_offset)
                    if WORKER_READY_LINE.encode() not in log.read():
                        return False
            except OSError:
                return False
        return True

    def check(self) -> None:
        """Restart processes that died (call it periodically)."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.process.alive:
                if now - slot.started_at > HEALTHY_AFTER_S:
                    slot.backoff_s = 1.0
                continue
            if slot.restart_at is None:
                code = slot.process.returncode
                slot.restart_at = now + slot.backoff_s
                self.notify(
                    f"worker {slot.index} exited with code {code}; restarting in "
                    f"{slot.backoff_s:.0f}s (log: {slot.process.log_path})"
                )
                slot.backoff_s = min(MAX_BACKOFF_S, slot.backoff_s * 2)
            elif now >= slot.restart_at:
                slot.process = self._process(slot.index)
                slot.log_offset = _size(slot.process.log_path)
                slot.process.start()
                slot.started_at = now
                slot.restart_at = None
                slot.restarts += 1
                self.notify(f"worker {slot.index} restarted (restart #{slot.restarts})")

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM every process (they finish and commit their batch), then wait."""
        grace = timeout if timeout is not None else self.settings.shutdown_timeout_s + 10.0
        for slot in self.slots:
            slot.process.stop(grace)
        self.slots.clear()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
