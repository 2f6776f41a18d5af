"""A worker's scoring processes on the real broker: a scoring process killed mid-stream costs
nothing (its batch is scored by the worker, new processes start), and a worker told to use
none scores in its own process. Each test prints its counts."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack
from tests.integration.test_faults import (
    _events,
    _predicted,
    _report,
    _same_ids_for_duplicates,
    _Trickle,
    _wait_for_some,
)

pytestmark = pytest.mark.integration


def _scoring_processes(worker: ManagedProcess) -> list[int]:
    """The worker's scoring processes (its spawned children, not multiprocessing's tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{worker.pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append(int(child))
    return found


def _wait_for_scoring_processes(worker: ManagedProcess, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _scoring_processes(worker)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no scoring process under the worker; log:\n{worker.tail(40)}")


def test_a_scoring_process_killed_mid_stream_loses_nothing(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"batch_size": 500, "scoring_processes": 1})
    worker = start_worker(s)
    (child,) = _wait_for_scoring_processes(worker)
    records, ids = _events(12_000, seed=71)
    with _Trickle(s, records) as trickle:
        _wait_for_some(s, 2000)
        os.kill(child, signal.SIGKILL)
        print(f"scoring process killed after {trickle.sent} of {len(records)} events were sent")
    predictions = _predicted(s, len(records), timeout=300)
    counts = _report("scoring process SIGKILL", ids, predictions)
    assert ids <= set(counts)
    _same_ids_for_duplicates(predictions)
    assert worker.alive, worker.tail(40)
    log = worker.tail(400)
    assert "a scoring process died" in log
    replacement = _wait_for_scoring_processes(worker)
    assert replacement != [child]


def test_a_worker_without_scoring_processes_scores_in_its_own(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"scoring_processes": 0})
    worker = start_worker(s)
    records, ids = _events(3000, seed=72)
    with _Trickle(s, records):
        pass
    predictions = _predicted(s, len(records), timeout=120)
    counts = _report("no scoring process", ids, predictions)
    assert ids == set(counts)
    assert sum(counts.values()) == len(ids)
    assert _scoring_processes(worker) == []
