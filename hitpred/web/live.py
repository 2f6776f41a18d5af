"""The live page's feed: predictions and dead letters as the stream writes them.

:class:`LiveFeed` runs one aiokafka consumer inside the server (no consumer group: it assigns
itself every partition of the predictions and dead-letter topics and starts at their end, so it
never takes partitions from a worker nor commits offsets) and keeps what the page shows:

- counts of predictions and dead letters since the server started, dead letters per stage;
- throughput: predictions per second over the last :data:`RATE_WINDOW_S` seconds;
- end-to-end latency percentiles (the predictions' ``timings.end_to_end_ms``) over the last
  :data:`LATENCY_SAMPLES` predictions;
- the latest :data:`LATEST` predictions, summarised.

:meth:`LiveFeed.snapshot` is what the server-sent events carry, once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from typing import Any

import numpy as np
import orjson

__all__ = ["LATENCY_SAMPLES", "LATEST", "RATE_WINDOW_S", "LiveFeed", "summarise"]

logger = logging.getLogger(__name__)

RATE_WINDOW_S = 10.0
LATENCY_SAMPLES = 2000
LATEST = 15
_RETRY_S = 2.0


def summarise(prediction: dict[str, Any]) -> dict[str, Any]:
    """The fields of a prediction the live table shows."""
    hit = prediction.get("hit") or {}
    popularity = prediction.get("popularity") or {}
    genre = prediction.get("genre") or {}
    timings = prediction.get("timings") or {}
    return {
        "event_id": prediction.get("event_id"),
        "track_id": prediction.get("track_id"),
        "hit_probability": hit.get("probability"),
        "popularity": popularity.get("popularity"),
        "tier": popularity.get("tier"),
        "genre": genre.get("genre"),
        "end_to_end_ms": timings.get("end_to_end_ms"),
        "scored_at": prediction.get("scored_at"),
    }


class LiveFeed:
    """Reads the predictions and dead-letter topics and keeps rolling statistics."""

    def __init__(self, bootstrap: str, predictions_topic: str, dlq_topic: str) -> None:
        self.bootstrap = bootstrap
        self.predictions_topic = predictions_topic
        self.dlq_topic = dlq_topic
        self.connected = False
        self.error: str | None = None
        self.predictions = 0
        self.dead_letters = 0
        self.dead_by_stage: Counter[str] = Counter()
        self._arrivals: deque[tuple[float, int]] = deque()
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._latest: deque[dict[str, Any]] = deque(maxlen=LATEST)
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start consuming in the background (retrying until the broker answers)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hitpred-live-feed")

    async def stop(self) -> None:
        """Stop consuming."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected = False

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker down or topics missing: say so, retry
                self.connected = False
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                logger.warning("live feed: %s; retrying in %.0fs", self.error, _RETRY_S)
                await asyncio.sleep(_RETRY_S)

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            await consumer.topics()
            assigned: list[TopicPartition] = []
            for topic in (self.predictions_topic, self.dlq_topic):
                partitions = consumer.partitions_for_topic(topic) or set()
                if not partitions:
                    raise LookupError(f"topic {topic} does not exist (yet)")
                assigned.extend(TopicPartition(topic, p) for p in sorted(partitions))
            consumer.assign(assigned)
            await consumer.seek_to_end(*assigned)
            self.connected = True
            self.error = None
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batches.items():
                    self.observe(tp.topic, [r.value for r in records if r.value])
        finally:
            self.connected = False
            await consumer.stop()

    # -- statistics -----------------------------------------------------------------------

    def observe(self, topic: str, values: list[bytes]) -> None:
        """Account for messages read from ``topic``."""
        if not values:
            return
        if topic == self.dlq_topic:
            for value in values:
                letter = _json(value)
                self.dead_letters += 1
                self.dead_by_stage[str(letter.get("stage", "unknown"))] += 1
            return
        now = time.monotonic()
        self._arrivals.append((now, len(values)))
        for value in values:
            prediction = _json(value)
            self.predictions += 1
            latency = (prediction.get("timings") or {}).get("end_to_end_ms")
            if isinstance(latency, int | float):
                self._latencies.append(float(latency))
            self._latest.appendleft(summarise(prediction))

    def throughput(self) -> float:
        """Predictions per second over the last :data:`RATE_WINDOW_S` seconds."""
        horizon = time.monotonic() - RATE_WINDOW_S
        while self._arrivals and self._arrivals[0][0] < horizon:
            self._arrivals.popleft()
        return sum(n for _, n in self._arrivals) / RATE_WINDOW_S

    def snapshot(self) -> dict[str, Any]:
        """What the live page shows, as one JSON-able document."""
        percentiles: dict[str, float | None] = {"p50": None, "p95": None, "p99": None}
        if self._latencies:
            values = np.percentile(np.fromiter(self._latencies, dtype="float64"), [50, 95, 99])
            percentiles = dict(zip(percentiles, (round(float(v), 1) for v in values), strict=True))
        return {
            "connected": self.connected,
            "error": self.error,
            "predictions": self.predictions,
            "dead_letters": self.dead_letters,
            "dead_letters_by_stage": dict(self.dead_by_stage),
            "throughput_per_s": round(self.throughput(), 2),
            "latency_ms": percentiles,
            "latency_samples": len(self._latencies),
            "latest": list(self._latest),
            "topics": {"predictions": self.predictions_topic, "dead_letters": self.dlq_topic},
        }


def _json(value: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
