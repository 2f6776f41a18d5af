"""Batched producing: the ``publish`` stage of the pipeline.

Faust's ``topic.send`` costs an await and a future per event, which caps a worker far below
its throughput target. :class:`BatchPublisher` owns an aiokafka producer, groups a batch by
partition (the same murmur2 partitioner as Kafka's Java client, computed for the whole batch
in :mod:`streams.partition`, so keys land where any other producer would put them) and hands
each partition's records to the broker as one batch: one await per partition batch, then one
wait for all deliveries.

A broker that is down or moving (a connection refused, a request or delivery timed out, a
leader changing) is waited out: the partitions not acknowledged are sent again with back-off
(0.5 s doubling to 10 s) until the broker takes them, so a broker restart pauses the stage
instead of failing its batch. Only a permanent refusal (a record too large, a topic not
authorised) is raised, for the caller to dead-letter.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from mode import Service

from streams.partition import partitions_for

__all__ = ["BatchPublisher"]

logger = logging.getLogger(__name__)

Record = tuple[bytes | None, bytes]

#: Back-off between two attempts to deliver what a broker outage left unacknowledged.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


def transient(exc: BaseException) -> bool:
    """Whether a Kafka error means "not now" (broker down, moving, slow) rather than "never"."""
    return isinstance(exc, KafkaTimeoutError) or (isinstance(exc, KafkaError) and exc.retriable)


class BatchPublisher(Service):
    """Produces batches of (key, value) records; started and stopped with the app."""

    def __init__(self, bootstrap: str, *, linger_ms: int = 5, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            linger_ms=self.linger_ms,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            acks="all",
        )
        await self._producer.start()

    async def on_stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, topic: str, records: Sequence[Record]) -> None:
        """Produce ``records`` to ``topic`` and wait until the broker acknowledged them all.

        Waits out a broker outage (see the module's docstring); raises aiokafka's
        ``KafkaError`` when the broker refuses a batch for good.
        """
        producer = self._producer
        if producer is None:
            raise RuntimeError("BatchPublisher is not started")
        if not records:
            return
        pending: dict[int, list[Record]] | None = None
        delay = RETRY_FIRST_S
        while True:
            try:
                if pending is None:
                    pending = await self._by_partition(producer, topic, records)
                pending = await self._send(producer, topic, pending)
            except KafkaError as exc:
                if not transient(exc):
                    raise
                error: KafkaError = exc
            else:
                if not pending:
                    return
                error = KafkaTimeoutError("some partitions were not acknowledged")
            waiting = sum(len(v) for v in pending.values()) if pending else len(records)
            logger.warning(
                "broker unavailable (%r): %d records for %s not acknowledged; again in %.1fs",
                error,
                waiting,
                topic,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(2 * delay, RETRY_MAX_S)

    @staticmethod
    async def _by_partition(
        producer: AIOKafkaProducer, topic: str, records: Sequence[Record]
    ) -> dict[int, list[Record]]:
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[Record]] = defaultdict(list)
        chosen = partitions_for([key for key, _ in records], partitions)
        for partition, record in zip(chosen, records, strict=True):
            by_partition[partition].append(record)
        return by_partition

    @staticmethod
    async def _send(
        producer: AIOKafkaProducer, topic: str, by_partition: dict[int, list[Record]]
    ) -> dict[int, list[Record]]:
        """Send each partition's records; returns those of the partitions a transient error
        left unacknowledged (in order: a partition is always sent again whole)."""
        deliveries: dict[int, list[asyncio.Future[object]]] = defaultdict(list)
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # The batch is full: ship it and start the next one.
                    sent = await producer.send_batch(batch, topic, partition=partition)
                    deliveries[partition].append(sent)
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a {len(value)}-byte record exceeds the batch size")
            sent = await producer.send_batch(batch, topic, partition=partition)
            deliveries[partition].append(sent)
        failed: dict[int, list[Record]] = {}
        for partition, futures in deliveries.items():
            for outcome in await asyncio.gather(*futures, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    if not transient(outcome):
                        raise outcome
                    failed[partition] = by_partition[partition]
        return failed
