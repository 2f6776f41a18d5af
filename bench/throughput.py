"""End-to-end throughput of one HitPred worker on the embedded broker.

    python -m bench [--events 100000] [--partitions 4] [--batch-size 1000]

1. Starts the embedded stack (tansu, Redis or Valkey) and creates fresh topics.
2. Pre-loads ``--events`` synthetic releases into the releases topic (a backlog), so the
   figure is the worker's own rate, not the publisher's.
3. Starts a worker (``python -m streams worker``) and reads the predictions topic until every
   event came out; throughput = events / (last prediction - first prediction seen).
4. Latency: a second, paced phase publishes ``--latency-rate`` events/s for a few seconds to the
   idle worker and reports produced_at -> scored_at percentiles (a backlog would measure
   queueing, not the pipeline).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import click
import numpy as np
import orjson

from hitpred.baseline import synthetic_release_events
from hitpred.cli.events import collect, publish_messages
from hitpred.settings import Settings
from hitpred.stack import Stack, wait_worker_ready

__all__ = ["main"]


def _records(n: int, seed: int) -> list[tuple[bytes | None, bytes]]:
    base = synthetic_release_events(min(n, 20_000), seed=seed)
    out: list[tuple[bytes | None, bytes]] = []
    for i in range(n):
        event = dict(base[i % len(base)])
        event["event_id"] = f"bench-{seed}-{i}"
        event["track_id"] = f"{event['track_id']}-{i}"
        out.append((event["track_id"].encode(), orjson.dumps(event)))
    return out


def _restamp(records: list[tuple[bytes | None, bytes]]) -> list[tuple[bytes | None, bytes]]:
    """Set produced_at to now, just before publishing."""
    now = time.time()
    out = []
    for key, value in records:
        event = orjson.loads(value)
        event["produced_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + (
            f".{int(now % 1 * 1e6):06d}+00:00"
        )
        out.append((key, orjson.dumps(event)))
    return out


async def _drain(
    bootstrap: str, topic: str, n: int, timeout: float
) -> tuple[list[float], dict[str, float]]:
    """Arrival times of the first ``n`` predictions, and end-to-end latency (ms) per event id."""
    arrivals: list[float] = []
    latencies: dict[str, float] = {}
    async for _, _, value in collect(bootstrap, [topic], timeout=timeout):
        arrivals.append(time.perf_counter())
        prediction = orjson.loads(value)
        latencies[prediction["event_id"]] = prediction["timings"]["end_to_end_ms"]
        if len(arrivals) >= n:
            break
    return arrivals, latencies


async def _paced(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]], rate: int
) -> None:
    chunk = max(1, rate // 20)  # 20 sends per second
    for start in range(0, len(records), chunk):
        began = time.perf_counter()
        await publish_messages(bootstrap, topic, _restamp(records[start : start + chunk]))
        await asyncio.sleep(max(0.0, 1 / 20 - (time.perf_counter() - began)))


@click.command()
@click.option("--events", default=100_000, show_default=True, help="Backlog size.")
@click.option("--partitions", default=4, show_default=True)
@click.option("--batch-size", default=1000, show_default=True)
@click.option(
    "--engine",
    type=click.Choice(["agents", "batch"]),
    default="agents",
    show_default=True,
    help="Faust agents, or batch-consuming services (HITPRED_ENGINE).",
)
@click.option("--latency-rate", default=1000, show_default=True, help="Paced phase, events/s.")
@click.option("--latency-seconds", default=5, show_default=True, help="Paced phase length.")
@click.option("--timeout", default=600.0, show_default=True)
def main(
    events: int,
    partitions: int,
    batch_size: int,
    engine: str,
    latency_rate: int,
    latency_seconds: int,
    timeout: float,
) -> None:
    """Measure one worker's end-to-end throughput and latency on the embedded broker."""
    command = " ".join(["python -m bench", *sys.argv[1:]])
    tag = uuid.uuid4().hex[:8]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"hitpred-bench-{tag}"
    settings = Settings(
        app_id=f"bench-{tag}",
        releases_topic=f"bench-{tag}.releases",
        enriched_topic=f"bench-{tag}.enriched",
        predictions_topic=f"bench-{tag}.predictions",
        dlq_topic=f"bench-{tag}.dlq",
        partitions=partitions,
        batch_size=batch_size,
        state_dir=workdir,
        metrics_port=0,
        rebalance_timeout_s=2.0,
    )
    env = {
        "HITPRED_APP_ID": settings.app_id,
        "HITPRED_RELEASES_TOPIC": settings.releases_topic,
        "HITPRED_ENRICHED_TOPIC": settings.enriched_topic,
        "HITPRED_PREDICTIONS_TOPIC": settings.predictions_topic,
        "HITPRED_DLQ_TOPIC": settings.dlq_topic,
        "HITPRED_PARTITIONS": str(partitions),
        "HITPRED_BATCH_SIZE": str(batch_size),
        "HITPRED_STATE_DIR": str(workdir),
        "HITPRED_METRICS_PORT": "0",
        "HITPRED_REBALANCE_TIMEOUT_S": "2",
        "HITPRED_ENGINE": engine,
    }
    with Stack(settings) as stack:
        stack.create_topics()
        backlog = _restamp(_records(events, seed=1))
        click.echo(f"pre-loading {events:,} events into {partitions} partitions...")
        started = time.perf_counter()
        asyncio.run(publish_messages(stack.bootstrap, settings.releases_topic, backlog))
        click.echo(f"  published at {events / (time.perf_counter() - started):,.0f} events/s")
        worker = stack.start_worker(env=env, log_path=workdir / "worker.log")
        wait_worker_ready(worker, timeout=120)
        click.echo("worker ready; draining the backlog...")
        arrivals, _ = asyncio.run(
            _drain(stack.bootstrap, settings.predictions_topic, events, timeout)
        )
        if len(arrivals) < events:
            raise click.ClickException(f"only {len(arrivals)} of {events} predictions arrived")
        span = arrivals[-1] - arrivals[0]
        throughput = (events - 1) / span if span > 0 else float("nan")

        n_paced = latency_rate * latency_seconds
        paced = _records(n_paced, seed=2)

        async def paced_phase() -> tuple[list[float], dict[str, float]]:
            reader = asyncio.ensure_future(
                _drain(stack.bootstrap, settings.predictions_topic, events + n_paced, timeout)
            )
            await _paced(stack.bootstrap, settings.releases_topic, paced, latency_rate)
            return await reader

        _, latencies = asyncio.run(paced_phase())
        # Partitions are read in any order: pick the paced events by id, not by position.
        paced_ms = np.array([ms for eid, ms in latencies.items() if eid.startswith("bench-2-")])
        alive = worker.alive
    p50, p95, p99 = np.percentile(paced_ms, [50, 95, 99]) if len(paced_ms) else (np.nan,) * 3
    click.echo("")
    click.echo(f"command:    {command}")
    click.echo(
        f"machine:    {os.cpu_count()} cores; one worker, embedded tansu, {partitions} partitions"
    )
    click.echo(
        f"throughput: {throughput:,.0f} events/s end to end ({events:,} events backlog, "
        f"releases -> enrich -> enriched topic -> score -> predictions)"
    )
    click.echo(
        f"latency:    p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms "
        f"at {latency_rate:,} events/s for {latency_seconds}s (produced_at -> scored_at)"
    )
    click.echo(f"worker alive at the end: {alive}")


if __name__ == "__main__":
    main()
