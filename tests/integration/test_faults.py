"""Faults injected for real on the real broker: a worker killed (SIGKILL) or stopped (SIGTERM)
in the middle of a stream, and one of two workers killed. Each test prints its counts.

At-least-once holds when every event id gets a prediction; duplicates are allowed only after a
crash, bounded by what was in flight, and carry the same prediction_id (consumers drop them).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable

import orjson
import pytest

from hitpred.baseline import synthetic_release_events
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack
from tests.integration.conftest import consume_until, produce

pytestmark = pytest.mark.integration

N_EVENTS = 20_000


def _events(n: int, seed: int) -> tuple[list[tuple[bytes | None, bytes]], set[str]]:
    base = synthetic_release_events(2000, seed=seed)
    records: list[tuple[bytes | None, bytes]] = []
    for i in range(n):
        event = {**base[i % len(base)], "event_id": f"f{seed}-{i}", "track_id": f"t{seed}-{i}"}
        records.append((str(event["track_id"]).encode(), orjson.dumps(event)))
    return records, {f"f{seed}-{i}" for i in range(n)}


def _predicted(s: Settings, wanted: int, timeout: float) -> list[dict[str, object]]:
    seen = consume_until(
        s.kafka_bootstrap or "",
        [s.predictions_topic],
        lambda got: len(got[s.predictions_topic]) >= wanted,
        timeout=timeout,
        settle=3.0,
    )
    return [orjson.loads(v) for _, v in seen[s.predictions_topic]]


class _Trickle:
    """Produces records in chunks from a thread (about 4,000 events/s), so that a fault can be
    injected while the stream is still arriving."""

    def __init__(self, s: Settings, records: list[tuple[bytes | None, bytes]]) -> None:
        self.thread = threading.Thread(target=self._run, args=(s, records), daemon=True)
        self.sent = 0

    def _run(self, s: Settings, records: list[tuple[bytes | None, bytes]]) -> None:
        for start in range(0, len(records), 1000):
            produce(s.kafka_bootstrap or "", s.releases_topic, records[start : start + 1000])
            self.sent += len(records[start : start + 1000])
            time.sleep(0.25)

    def __enter__(self) -> _Trickle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(120)


def _wait_for_some(s: Settings, count: int, timeout: float = 120) -> None:
    _predicted_quick = consume_until(
        s.kafka_bootstrap or "",
        [s.predictions_topic],
        lambda got: len(got[s.predictions_topic]) >= count,
        timeout=timeout,
        settle=0.0,
    )
    assert len(_predicted_quick[s.predictions_topic]) >= count


def _report(name: str, ids: set[str], predictions: list[dict[str, object]]) -> Counter[str]:
    counts = Counter(str(p["event_id"]) for p in predictions)
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    lost = len(ids - set(counts))
    print(
        f"{name}: sent {len(ids)}, predicted {len(set(counts) & ids)}, dead-lettered 0, "
        f"lost {lost}, duplicated {duplicated}"
    )
    return counts


def _same_ids_for_duplicates(predictions: list[dict[str, object]]) -> None:
    by_event: dict[object, set[object]] = {}
    for p in predictions:
        by_event.setdefault(p["event_id"], set()).add(p["prediction_id"])
    assert all(len(ids) == 1 for ids in by_event.values())


def test_sigkill_mid_stream_and_restart_loses_nothing(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"batch_size": 500})
    worker = start_worker(s)
    records, ids = _events(N_EVENTS, seed=61)
    with _Trickle(s, records) as trickle:
        _wait_for_some(s, 3000)
        os.kill(worker.pid or 0, signal.SIGKILL)
        print(f"killed after {trickle.sent} of {N_EVENTS} events were sent")
        start_worker(s)
    predictions = _predicted(s, N_EVENTS, timeout=300)
    counts = _report("SIGKILL + restart", ids, predictions)
    assert ids <= set(counts)
    # Only what was in flight when it died comes twice: at most a few batches per partition.
    duplicated = sum(c - 1 for c in counts.values() if c > 1)
    assert duplicated <= 4 * s.partitions * s.batch_size
    _same_ids_for_duplicates(predictions)


def test_one_of_two_workers_killed_the_other_takes_over(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"batch_size": 500})
    first = start_worker(s)
    second = start_worker(s)
    records, ids = _events(N_EVENTS, seed=62)
    with _Trickle(s, records) as trickle:
        _wait_for_some(s, 3000)
        os.kill(second.pid or 0, signal.SIGKILL)
        print(f"killed one worker after {trickle.sent} of {N_EVENTS} events were sent")
    predictions = _predicted(s, N_EVENTS, timeout=300)
    counts = _report("one of two workers killed", ids, predictions)
    assert ids <= set(counts)
    assert first.alive, first.tail()
    _same_ids_for_duplicates(predictions)


def test_sigterm_finishes_the_batch_in_hand_and_commits_it(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"batch_size": 500})
    worker = start_worker(s)
    records, ids = _events(N_EVENTS, seed=63)
    with _Trickle(s, records) as trickle:
        _wait_for_some(s, 3000)
        began = time.monotonic()
        code = stack.stop_process(worker, timeout=60)
        stopped_in = time.monotonic() - began
        print(f"SIGTERM after {trickle.sent} events sent: exit code {code} in {stopped_in:.1f}s")
        assert code == 0 and stopped_in < s.shutdown_timeout_s + 10
        start_worker(s)
    predictions = _predicted(s, N_EVENTS, timeout=300)
    counts = _report("SIGTERM + restart", ids, predictions)
    assert ids <= set(counts)
    # A clean stop commits what it delivered: nothing comes twice.
    assert sum(c - 1 for c in counts.values() if c > 1) == 0
