"""End-to-end throughput and latency of HitPred workers, against a hand-written loop.

    python -m bench [--events 50000] [--partitions 4] [--workers 1,2] [--json out.json]

On the embedded stack (tansu, Redis or Valkey), with the defaults (no registry: the baseline
champions, all tasks, hit contributions), descriptors-only synthetic releases:

1. ``plain``: :mod:`bench.plainloop`, an aiokafka consume-score-produce loop around the same
   batch function and models, drains a backlog of ``--events`` releases.
2. ``workers=N`` for each N of ``--workers``: N worker processes (``python -m streams worker``,
   one consumer group, started as ``hitpred worker --processes N`` starts them: they divide
   the cores among their scoring processes unless ``--scoring-processes`` says how many) drain
   the same backlog on their own topics. Peak RSS per worker: its own plus that of every
   process it started, from ``/proc``.
3. Latency (first worker count only): releases published at a paced ``--latency-rate`` to the
   idle worker(s); latency = produced_at -> the prediction read by this process's consumer.

Each contender has its own topics and group, and runs alone (never two at once). Throughput is
unique predictions per second between the arrival of the 10th percentile and the last one, so
start-up and the first rebalance of several workers do not count; the full span is reported
too. Prints one line per contender and the JSON (``--json`` also writes it to a file).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
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
from hitpred.stack import ManagedProcess, Stack, wait_worker_ready

__all__ = ["main"]

Record = tuple[bytes | None, bytes]


def _records(n: int, seed: int) -> list[Record]:
    base = synthetic_release_events(min(n, 20_000), seed=seed)
    out: list[Record] = []
    for i in range(n):
        event = dict(base[i % len(base)])
        event["event_id"] = f"bench-{seed}-{i}"
        event["track_id"] = f"{event['track_id']}-{i}"
        out.append((event["track_id"].encode(), orjson.dumps(event)))
    return out


def _restamp(records: list[Record]) -> list[Record]:
    """Set produced_at to now, just before publishing."""
    now = dt.datetime.now(dt.UTC).isoformat()
    return [(k, orjson.dumps({**orjson.loads(v), "produced_at": now})) for k, v in records]


async def _drain(bootstrap: str, topic: str, ids: set[str], timeout: float) -> dict[str, float]:
    """Read ``topic`` until every id in ``ids`` has a prediction: arrival time per id (wall
    clock, first arrival; duplicates are counted under the key ``"#duplicates"``)."""
    arrivals: dict[str, float] = {}
    duplicates = 0
    async for _, _, value in collect(bootstrap, [topic], timeout=timeout):
        now = time.time()
        event_id = orjson.loads(value)["event_id"]
        if event_id in arrivals:
            duplicates += 1
            continue
        if event_id in ids:
            arrivals[event_id] = now
        if len(arrivals) >= len(ids):
            break
    arrivals["#duplicates"] = float(duplicates)
    return arrivals


def _rates(arrivals: dict[str, float], n: int) -> dict[str, float]:
    times = np.sort(np.array([t for k, t in arrivals.items() if not k.startswith("#")]))
    if len(times) < n or n < 10:
        raise click.ClickException(f"only {len(times)} of {n} predictions arrived")
    start = int(0.1 * n)
    return {
        "events_per_s": (n - 1 - start) / (times[-1] - times[start]),
        "events_per_s_full_span": (n - 1) / (times[-1] - times[0]),
        "duplicates": arrivals["#duplicates"],
    }


def _descendants(pid: int) -> list[int]:
    """Every process started by ``pid``, recursively (scoring processes, their tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _tree_peak_rss_mb(pid: int | None) -> float | None:
    """The peak RSS of a worker plus that of every process it started (an upper bound on the
    worker's footprint: pages the processes share are counted in each)."""
    own = _peak_rss_mb(pid)
    if own is None or pid is None:
        return own
    return own + sum(_peak_rss_mb(child) or 0.0 for child in _descendants(pid))


def _peak_rss_mb(pid: int | None) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


class _Bench:
    def __init__(
        self,
        stack: Stack,
        tag: str,
        partitions: int,
        batch_size: int,
        scoring_processes: int | None = None,
    ) -> None:
        self.stack = stack
        self.tag = tag
        self.partitions = partitions
        self.batch_size = batch_size
        self.scoring_processes = scoring_processes
        self.workdir = stack.workdir

    def topics(self, name: str) -> dict[str, str]:
        topics = {
            k: f"bench-{self.tag}-{name}.{k}"
            for k in ("releases", "enriched", "predictions", "dlq")
        }
        self.stack.create_topics(list(topics.values()), partitions=self.partitions)
        return topics

    def preload(self, topic: str, backlog: list[Record]) -> None:
        asyncio.run(publish_messages(self.stack.bootstrap, topic, _restamp(backlog)))

    def plain(self, backlog: list[Record], ids: set[str], timeout: float) -> dict[str, object]:
        t = self.topics("plain")
        self.preload(t["releases"], backlog)
        loop = ManagedProcess(
            name="plain loop",
            argv=[
                *(sys.executable, "-m", "bench.plainloop", "--bootstrap", self.stack.bootstrap),
                *("--source", t["releases"], "--target", t["predictions"], "--dlq", t["dlq"]),
                *("--group", f"bench-{self.tag}-plain", "--batch-size", str(self.batch_size)),
            ],
            log_path=self.workdir / "plain.log",
            env={**os.environ, **self.stack.env(), "HITPRED_STATE_DIR": str(self.workdir)},
        )
        loop.start()
        try:
            arrivals = asyncio.run(_drain(self.stack.bootstrap, t["predictions"], ids, timeout))
            result: dict[str, object] = dict(_rates(arrivals, len(ids)))
            result["peak_rss_mb"] = _peak_rss_mb(loop.pid)
        finally:
            loop.stop()
        return result

    def workers(
        self,
        n: int,
        backlog: list[Record],
        ids: set[str],
        timeout: float,
        latency: tuple[int, int] | None,
    ) -> dict[str, object]:
        t = self.topics(f"w{n}")
        env = {
            "HITPRED_APP_ID": f"bench-{self.tag}-w{n}",
            "HITPRED_RELEASES_TOPIC": t["releases"],
            "HITPRED_ENRICHED_TOPIC": t["enriched"],
            "HITPRED_PREDICTIONS_TOPIC": t["predictions"],
            "HITPRED_DLQ_TOPIC": t["dlq"],
            "HITPRED_PARTITIONS": str(self.partitions),
            "HITPRED_BATCH_SIZE": str(self.batch_size),
            "HITPRED_STATE_DIR": str(self.workdir),
            "HITPRED_METRICS_PORT": "0",
            "HITPRED_REBALANCE_TIMEOUT_S": "2",
            # As `hitpred worker --processes N` starts them: the N processes on this host
            # divide its cores among their scoring processes.
            "HITPRED_WORKER_PROCESSES": str(n),
        }
        if self.scoring_processes is not None:
            env["HITPRED_SCORING_PROCESSES"] = str(self.scoring_processes)
        self.preload(t["releases"], backlog)
        started = [
            self.stack.start_worker(env=env, log_path=self.workdir / f"w{n}-{i}.log")
            for i in range(n)
        ]
        try:
            for worker in started:
                wait_worker_ready(worker, timeout=180)
            arrivals = asyncio.run(_drain(self.stack.bootstrap, t["predictions"], ids, timeout))
            result: dict[str, object] = dict(_rates(arrivals, len(ids)))
            if latency is not None:
                result["latency_ms"] = self._latency(t, *latency, timeout)
            result["peak_rss_mb"] = [_tree_peak_rss_mb(w.pid) for w in started]
            result["processes"] = [1 + len(_descendants(w.pid)) for w in started if w.pid]
            result["alive"] = all(w.alive for w in started)
        finally:
            for worker in started:
                self.stack.stop_process(worker)
        return result

    def _latency(
        self, topics: dict[str, str], rate: int, seconds: int, timeout: float
    ) -> dict[str, float]:
        """Paced releases through one open producer; predictions read by a consumer that
        waits at most 10 ms on the broker. Latency is measured here (wall clock): from the
        moment a release is handed to the producer to the moment its prediction is read."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        paced = _records(rate * seconds, seed=2)
        ids = {orjson.loads(v)["event_id"] for _, v in paced}
        produced: dict[str, float] = {}
        arrivals: dict[str, float] = {}
        scored_ms: list[float] = []
        bootstrap = self.stack.bootstrap

        async def read(consumer: AIOKafkaConsumer) -> None:
            while len(arrivals) < len(ids):
                fetched = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for records in fetched.values():
                    for r in records:
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
                    part = _restamp(paced[start : start + chunk])
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


@click.command()
@click.option("--events", default=50_000, show_default=True, help="Backlog size.")
@click.option("--partitions", default=4, show_default=True)
@click.option("--batch-size", default=1000, show_default=True)
@click.option("--workers", default="1", show_default=True, help="Worker counts, e.g. 1,2.")
@click.option("--plain/--no-plain", default=True, show_default=True, help="Run the plain loop.")
@click.option("--latency-rate", default=1000, show_default=True, help="Paced phase, events/s.")
@click.option("--latency-seconds", default=10, show_default=True, help="Paced phase length.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--timeout", default=900.0, show_default=True)
@click.option(
    "--scoring-processes",
    type=int,
    default=None,
    help="HITPRED_SCORING_PROCESSES for every worker [default: unset, the workers' own rule].",
)
def main(
    events: int,
    partitions: int,
    batch_size: int,
    workers: str,
    plain: bool,
    latency_rate: int,
    latency_seconds: int,
    json_path: Path | None,
    timeout: float,
    scoring_processes: int | None,
) -> None:
    """Measure workers' end-to-end throughput and latency against a hand-written loop."""
    counts = [int(c) for c in workers.split(",") if c.strip()]
    tag = uuid.uuid4().hex[:8]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"hitpred-bench-{tag}"
    report: dict[str, object] = {
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        "embedded tansu (memory), one host",
        "events": events,
        "partitions": partitions,
        "batch_size": batch_size,
        "scoring_processes": "default" if scoring_processes is None else scoring_processes,
    }
    backlog = _records(events, seed=1)
    ids = {orjson.loads(v)["event_id"] for _, v in backlog}
    settings = Settings(state_dir=workdir, metrics_port=0)
    with Stack(settings, workdir=workdir) as stack:
        bench = _Bench(stack, tag, partitions, batch_size, scoring_processes)
        if plain:
            click.echo("plain aiokafka loop...", err=True)
            report["plain"] = bench.plain(backlog, ids, timeout)
        for i, n in enumerate(counts):
            click.echo(f"{n} worker(s)...", err=True)
            latency = (latency_rate, latency_seconds) if i == 0 and latency_rate else None
            report[f"workers={n}"] = bench.workers(n, backlog, ids, timeout, latency)
    _print(report, counts)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=float))


def _print(report: dict[str, object], counts: list[int]) -> None:
    click.echo(f"command:  {report['command']}  ({report['date']}, {report['machine']})")
    plain = report.get("plain")
    base = plain["events_per_s"] if isinstance(plain, dict) else None
    if isinstance(plain, dict):
        click.echo(f"plain aiokafka loop: {plain['events_per_s']:,.0f} events/s")
    one = report.get(f"workers={counts[0]}") if counts else None
    for n in counts:
        r = report[f"workers={n}"]
        assert isinstance(r, dict)
        parts = [f"{n} worker(s): {r['events_per_s']:,.0f} events/s"]
        if base:
            parts.append(f"{r['events_per_s'] / base:.2f}x the plain loop")
        if isinstance(one, dict) and n != counts[0]:
            parts.append(f"{r['events_per_s'] / one['events_per_s']:.2f}x {counts[0]} worker(s)")
        rss = ", ".join(f"{m:,.0f}" for m in r["peak_rss_mb"] if m is not None)
        processes = "+".join(str(p) for p in r.get("processes", []))
        parts.append(f"peak RSS {rss} MB ({processes} processes); duplicates {r['duplicates']:.0f}")
        click.echo("; ".join(parts))
        lat = r.get("latency_ms")
        if isinstance(lat, dict):
            click.echo(
                f"  latency at {lat['rate']:,} events/s for {lat['seconds']}s (produced_at -> "
                f"read by a consumer): p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, "
                f"p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms (produced_at -> scored_at: "
                f"p50 {lat['scored_p50']:.0f} ms, p99 {lat['scored_p99']:.0f} ms)"
            )
    click.echo(json.dumps(report, default=float))


if __name__ == "__main__":
    main()
