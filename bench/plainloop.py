"""The yardstick: a hand-written aiokafka consume-score-produce loop, no framework.

    python -m bench.plainloop --bootstrap HOST:PORT --source T --target T --group G

What a developer would write by hand around the same batch function and the same champions as
the worker: ``getmany``, :func:`hitpred.pipeline.process_releases` (one decode, one frame, one
predict per task, contributions), one ``send_batch`` per partition, wait for the
acknowledgements, commit. One batch at a time on the event loop; nothing overlapped. Dead
letters are produced to ``--dlq`` like the worker does. ``bench.throughput`` runs it on the same
events as the worker and reports the worker's rate as a ratio of this one.
"""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict

import click
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from hitpred import heap
from hitpred.champions import load_models
from hitpred.intake import RawMessage
from hitpred.pipeline import process_releases
from hitpred.scoring import Scorer
from hitpred.settings import Settings, get_settings

#: The workers' own default (HITPRED_BATCH_SIZE unset), so the defaults are what is measured.
DEFAULT_BATCH_SIZE: int = Settings.model_fields["batch_size"].default

__all__ = ["PLAIN_READY_LINE", "build_batches", "main", "send_records"]


PLAIN_READY_LINE = "plain loop ready"


async def build_batches(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes | None, bytes]]
) -> list[tuple[int, BatchBuilder]]:
    """``records`` (key, value) in record batches per partition, placed as Kafka's default
    partitioner places them: (partition, batch) to hand to ``send_batch``."""
    partitions = sorted(await producer.partitions_for(topic))
    choose = DefaultPartitioner()
    grouped: dict[int, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for key, value in records:
        grouped[choose(key, partitions, partitions)].append((key, value))
    batches = []
    for partition, items in grouped.items():
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                batches.append((partition, batch))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        batches.append((partition, batch))
    return batches


async def send_records(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes | None, bytes]]
) -> None:
    """Produce ``records`` (key, value) in one batch per partition and wait for the
    acknowledgements."""
    if not records:
        return
    batches = await build_batches(producer, topic, records)
    sent = [await producer.send_batch(batch, topic, partition=p) for p, batch in batches]
    await asyncio.gather(*sent)


async def _run(
    bootstrap: str, source: str, target: str, dlq: str, group: str, batch_size: int
) -> None:
    settings = get_settings()
    scorer = Scorer(load_models(settings))
    heap.settle()  # as the worker does after loading its models
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        fetch_max_wait_ms=10,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1024 * 1024, acks="all"
    )
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(PLAIN_READY_LINE, flush=True)
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=10, max_records=batch_size)
            if not fetched:
                continue
            batch = [
                RawMessage(r.value, r.key, r.topic, r.partition, r.offset, r.timestamp)
                for records in fetched.values()
                for r in records
            ]
            result = process_releases(scorer, None, batch)
            await send_records(producer, target, [(r.key, r.value) for r in result.records])
            await send_records(
                producer,
                dlq,
                [
                    (d.original_key.encode() if d.original_key else None, d.to_json())
                    for d in result.dead_letters
                ],
            )
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in fetched.items()})
    finally:
        await consumer.stop()
        await producer.stop()


@click.command()
@click.option("--bootstrap", required=True)
@click.option("--source", required=True, help="Releases topic.")
@click.option("--target", required=True, help="Predictions topic.")
@click.option("--dlq", required=True, help="Dead-letter topic.")
@click.option("--group", required=True, help="Consumer group.")
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True)
def main(bootstrap: str, source: str, target: str, dlq: str, group: str, batch_size: int) -> None:
    """Consume, score and produce until SIGTERM."""
    asyncio.run(_run(bootstrap, source, target, dlq, group, batch_size))


if __name__ == "__main__":
    main()
