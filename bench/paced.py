"""The bench's releases, and the paced phase that measures latency at a light load."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import click
import numpy as np
import orjson

from hitpred.baseline import synthetic_release_events

__all__ = ["Record", "paced_latency", "records", "restamp"]

Record = tuple[bytes | None, bytes]


def records(n: int, seed: int) -> list[Record]:
    """``n`` descriptors-only releases (key, value) with unique event and track ids."""
    base = synthetic_release_events(min(n, 20_000), seed=seed)
    out: list[Record] = []
    for i in range(n):
        event = dict(base[i % len(base)])
        event["event_id"] = f"bench-{seed}-{i}"
        event["track_id"] = f"{event['track_id']}-{i}"
        out.append((event["track_id"].encode(), orjson.dumps(event)))
    return out


def restamp(batch: list[Record]) -> list[Record]:
    """Set produced_at to now, just before publishing."""
    now = dt.datetime.now(dt.UTC).isoformat()
    return [(k, orjson.dumps({**orjson.loads(v), "produced_at": now})) for k, v in batch]


def paced_latency(
    bootstrap: str, topics: dict[str, str], rate: int, seconds: int, timeout: float
) -> dict[str, float]:
    """Paced releases through one open producer; predictions read by a consumer that
    waits at most 10 ms on the broker. Latency is measured here (wall clock): from the
    moment a release is handed to the producer to the moment its prediction is read."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    paced = records(rate * seconds, seed=2)
    ids = {orjson.loads(v)["event_id"] for _, v in paced}
    produced: dict[str, float] = {}
    arrivals: dict[str, float] = {}
    scored_ms: list[float] = []

    async def read(consumer: AIOKafkaConsumer) -> None:
        while len(arrivals) < len(ids):
            fetched = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for batch in fetched.values():
                for r in batch:
                    prediction = orjson.loads(r.value)
                    if prediction["event_id"] in ids:
                        arrivals.setdefault(prediction["event_id"], now)
                        scored_ms.append(prediction["timings"]["end_to_end_ms"])

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks="all")
        await consumer.start()
        await producer.start()
        try:
            partitions = await producer.partitions_for(topics["predictions"])
            consumer.assign([TopicPartition(topics["predictions"], p) for p in partitions])
            await consumer.seek_to_end()
            reader = asyncio.ensure_future(read(consumer))
            chunk = max(1, rate // 50)  # 50 sends per second
            for start in range(0, len(paced), chunk):
                began = time.perf_counter()
                part = restamp(paced[start : start + chunk])
                stamp = time.time()
                for key, value in part:
                    produced[orjson.loads(value)["event_id"]] = stamp
                    await producer.send(topics["releases"], value, key=key)
                await asyncio.sleep(max(0.0, 1 / 50 - (time.perf_counter() - began)))
            await asyncio.wait_for(reader, timeout)
        finally:
            await consumer.stop()
            await producer.stop()

    asyncio.run(run())
    ms = np.array([(arrivals[i] - produced[i]) * 1000 for i in ids if i in arrivals])
    if len(ms) < len(ids):
        raise click.ClickException(f"only {len(ms)} of {len(ids)} paced predictions arrived")
    p50, p95, p99, top = np.percentile(ms, [50, 95, 99, 100])
    s50, s99 = np.percentile(scored_ms, [50, 99])
    return {
        "rate": rate,
        "seconds": seconds,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": top,
        "scored_p50": s50,
        "scored_p99": s99,
    }
