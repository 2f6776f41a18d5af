"""Batched producing: the ``publish`` stage of the pipeline.

Faust's ``topic.send`` costs an await and a future per event, which caps a worker far below
its throughput target. :class:`BatchPublisher` owns an aiokafka producer, groups a batch by
partition (the same murmur2 partitioner as Kafka's Java client, so keys land where any other
producer would put them) and hands each partition's records to the broker as one batch: one
await per partition batch, then one wait for all deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from mode import Service

__all__ = ["BatchPublisher"]

logger = logging.getLogger(__name__)

Record = tuple[bytes | None, bytes]


class BatchPublisher(Service):
    """Produces batches of (key, value) records; started and stopped with the app."""

    def __init__(self, bootstrap: str, *, linger_ms: int = 5, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()

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

        Raises aiokafka's ``KafkaError`` when a batch cannot be delivered.
        """
        producer = self._producer
        if producer is None:
            raise RuntimeError("BatchPublisher is not started")
        if not records:
            return
        partitions = sorted(await producer.partitions_for(topic))
        by_partition: dict[int, list[Record]] = defaultdict(list)
        choose = self._partitioner
        for key, value in records:
            by_partition[choose(key, partitions, partitions)].append((key, value))
        deliveries: list[asyncio.Future[object]] = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # The batch is full: ship it and start the next one.
                    deliveries.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a {len(value)}-byte record exceeds the batch size")
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*deliveries)
