"""The parts of a prediction built column-wise: the batch latency clock agrees with the
per-event rule event for event, boundaries included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hitpred.predictions import CLOCK_SKEW, MAX_PRODUCER_DELAY, end_to_end, latency_start

SCORED = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC)
US = timedelta(microseconds=1)


def _per_event(
    produced: list[datetime], broker: list[int | None], scored: datetime
) -> tuple[list[float], list[str]]:
    latencies, clocks = [], []
    for p, b in zip(produced, broker, strict=True):
        start, clock = latency_start(p, b, scored)
        latencies.append((scored - start).total_seconds())
        clocks.append(clock)
    return latencies, clocks


def test_the_batch_clock_is_the_per_event_rule_on_every_boundary() -> None:
    received_ms = int((SCORED - timedelta(seconds=2)).timestamp() * 1000) + 7
    received = datetime.fromtimestamp(received_ms / 1000, UTC)
    produced: list[datetime] = []
    broker: list[int | None] = []
    for reference, ms in ((received, received_ms), (SCORED, None), (SCORED, 0)):
        for edge in (reference + CLOCK_SKEW, reference - MAX_PRODUCER_DELAY):
            for nudge in (-US, timedelta(0), US):
                produced.append(edge + nudge)
                broker.append(ms)
    produced += [datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)]
    broker += [-1, received_ms]
    latencies, clocks = end_to_end(produced, broker, SCORED)
    assert (latencies, clocks) == _per_event(produced, broker, SCORED)
    assert set(clocks) == {"produced_at", "broker", "unknown"}


def test_the_batch_clock_is_the_per_event_rule_on_random_events() -> None:
    rng = random.Random(3)
    produced = [SCORED + timedelta(microseconds=rng.randint(-2 * 86_400_000_000, 120_000_000))]
    broker: list[int | None] = [None]
    for _ in range(2000):
        produced.append(
            SCORED + timedelta(microseconds=rng.randint(-2 * 86_400_000_000, 120_000_000))
        )
        broker.append(
            rng.choice([None, int(SCORED.timestamp() * 1000) - rng.randint(-90_000, 200_000)])
        )
    assert end_to_end(produced, broker, SCORED) == _per_event(produced, broker, SCORED)


def test_an_empty_batch_has_no_latencies() -> None:
    assert end_to_end([], [], SCORED) == ([], [])
