"""The broker killed and restarted while a worker runs: the worker reconnects by itself and goes
on scoring, without a restart of its own.

The embedded broker (tansu) keeps its data in memory: a restart loses every topic, the records
not yet consumed and the group's committed offsets, so this test recreates the topics (as the
topic-init job would) and checks that every release sent after the restart is scored by the
same worker process; what the broker lost with its memory is counted and printed, not
asserted. What cannot be shown here: no loss across a broker restart, which needs durable
storage (Kafka's log; tansu's S3 storage on moto's S3 server kept records across a restart of
an idle broker, but after a restart under this test's load it served no records at all, so it
is not used), and a real cluster's leader fail-over (one broker here).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hitpred.settings import Settings
from hitpred.stack import (
    ManagedProcess,
    Stack,
    ensure_topics,
    free_port,
    tansu_binary,
    wait_for_port,
)
from tests.integration.conftest import produce
from tests.integration.test_faults import _events, _predicted, _same_ids_for_duplicates

pytestmark = pytest.mark.integration

N_EVENTS = 6_000


def _broker(port: int, log_path: Path) -> ManagedProcess:
    url = f"tcp://127.0.0.1:{port}"
    broker = ManagedProcess(
        name="tansu",
        argv=[
            *(str(tansu_binary()), "broker", "--listener-url", url),
            *("--advertised-listener-url", url, "--storage-engine", "memory://tansu/"),
        ],
        log_path=log_path,
    )
    broker.start()
    wait_for_port("127.0.0.1", port, timeout=30)
    return broker


def _produce_through(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    """Produce, retrying a chunk while the broker is away (as a producer app would)."""
    for start in range(0, len(records), 1000):
        deadline = time.monotonic() + 120
        while True:
            try:
                produce(bootstrap, topic, records[start : start + 1000])
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


def test_broker_killed_and_restarted_the_worker_reconnects_by_itself(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
    tmp_path: Path,
) -> None:
    port = free_port()
    broker = _broker(port, tmp_path / "tansu.log")
    try:
        s = isolated_settings.model_copy(
            update={"kafka_bootstrap": f"127.0.0.1:{port}", "batch_size": 500}
        )
        topics = [s.releases_topic, s.enriched_topic, s.predictions_topic, s.dlq_topic]
        ensure_topics(s.kafka_bootstrap or "", topics, s.partitions)
        worker = start_worker(s)
        records, ids = _events(N_EVENTS, seed=65)
        half = N_EVENTS // 2
        before = {f"f65-{i}" for i in range(half)}  # _events numbers them in order
        after = ids - before
        _produce_through(s.kafka_bootstrap or "", s.releases_topic, records[:half])
        _predicted(s, 500, timeout=120)  # the worker is mid-stream
        os.kill(broker.pid or 0, signal.SIGKILL)
        print("broker killed")
        time.sleep(6)  # longer than a session time-out: the worker meets a dead broker
        broker = _broker(port, tmp_path / "tansu.log")
        ensure_topics(s.kafka_bootstrap or "", topics, s.partitions)  # memory storage: gone
        print("broker restarted, topics recreated")
        _produce_through(s.kafka_bootstrap or "", s.releases_topic, records[half:])
        predictions = _predicted(s, len(after), timeout=300)
        predicted = {str(p["event_id"]) for p in predictions}
        print(
            f"broker killed and restarted: sent {len(after)} after the restart, predicted "
            f"{len(predicted & after)}, lost {len(after - predicted)}; of the {len(before)} sent "
            f"before it, {len(before & predicted)} have a prediction on the restarted broker "
            "(the rest went with its memory storage)"
        )
        assert after <= predicted
        assert worker.alive, worker.tail()  # the same process reconnected: no restart
        _same_ids_for_duplicates(predictions)
    finally:
        broker.stop()
