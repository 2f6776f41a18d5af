"""End-to-end throughput and latency of HitPred workers, against a hand-written loop.

    python -m bench [--events 50000] [--partitions 4] [--workers 1,2] [--rounds 3]
                    [--json out.json]

On the embedded stack (tansu, Redis or Valkey), with the defaults (no registry: the baseline
champions, all tasks, hit contributions), descriptors-only synthetic releases:

1. ``plain``: :mod:`bench.plainloop`, an aiokafka consume-score-produce loop around the same
   batch function and models, drains a burst of ``--events`` releases.
2. ``workers=N`` for each N of ``--workers``: N worker processes (``python -m streams worker``,
   one consumer group, started as ``hitpred worker --processes N`` starts them: they divide
   the cores among their scoring processes unless ``--scoring-processes`` says how many) drain
   the same burst on their own topics. Peak RSS per worker: its own plus that of every
   process it started, from ``/proc``.
3. Latency (first worker count only): releases published at a paced ``--latency-rate`` to the
   idle worker(s); latency = produced_at -> the prediction read by this process's consumer.

``--cores-per-worker K`` gives each worker (and the plain loop) K cores of its own (CPU
affinity, inherited by its scoring processes), as if each ran on a K-core machine: with it,
``workers=2 / workers=1`` measures how throughput scales with workers, which the shared default
cannot once one worker fills the machine.

Each contender has its own topics and group, and runs alone (never two at once). The burst is
published only once every process of the contender is ready and its consumer group is stable
with all of them in it: a backlog waiting before the start would be drained by whichever worker
loads its models first, while the others still load (its partitions done before theirs start),
which measures start-up skew rather than throughput. Throughput is unique predictions per
second by the predictions' own record timestamps (when each worker produced them, not when
this process read them), between the 10th percentile and the last one; the full span is
reported too, and how long the burst took to publish (it must be well below the drain).
``--rounds N`` runs every contender N times in turn, each round on its own topics; ratios are
worked out within a round and summarised over the rounds by their median (see
:mod:`bench.report`). Prints one line per contender and round, the medians, and the JSON
(``--json`` also writes it to a file): ``runs`` holds each round's results, ``summary`` the
medians, minima and maxima.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import orjson
from aiokafka.admin import AIOKafkaAdminClient

from bench.paced import Record, paced_latency, records, restamp
from bench.plainloop import DEFAULT_BATCH_SIZE, PLAIN_READY_LINE, build_batches
from bench.procstats import cpu_s, peak_rss_mb, tree_peaks_mb, tree_total_mb
from bench.report import print_report, summarise
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack, wait_logged, wait_worker_ready

__all__ = ["main"]


async def _burst(
    bootstrap: str,
    topics: dict[str, str],
    group: tuple[str, int],
    backlog: list[Record],
    ids: set[str],
    timeout: float,
    mark: Callable[[float], None],
) -> tuple[dict[str, float], float]:
    """Publish ``backlog`` to the releases topic at once, as soon as ``group`` (name, members)
    is stable, and read the predictions until every id in ``ids`` has one.

    This process competes as little as it can with the contender for CPU while it drains:
    the record batches are built before the burst, and the predictions are read only once the
    contender has committed every release (it commits after its outputs are acknowledged).
    Returns the record timestamp (s, when the contender produced it) of each id's first
    prediction (duplicates counted under ``"#duplicates"``) and the seconds the burst took to
    be acknowledged. ``mark(-1)`` is called just before the burst, ``mark(+1)`` once the
    contender has committed every release.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1024 * 1024, acks="all"
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=500
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    stamps: dict[str, float] = {}
    duplicates = 0
    await producer.start()
    await consumer.start()
    await admin.start()
    try:
        partitions = sorted(await producer.partitions_for(topics["predictions"]))
        assigned = [TopicPartition(topics["predictions"], p) for p in partitions]
        sources = [TopicPartition(topics["releases"], p) for p in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        batches = await build_batches(producer, topics["releases"], restamp(backlog))
        await _wait_group(admin, *group)
        mark(-1.0)
        began = time.perf_counter()
        sent = [await producer.send_batch(b, topics["releases"], partition=p) for p, b in batches]
        await asyncio.gather(*sent)
        published_s = time.perf_counter() - began
        deadline = time.monotonic() + timeout
        # While the contender drains, only ask how far it has committed (a small request every
        # 50 ms): reading and parsing the predictions as they came took ~20% of a core that the
        # contender then lacked. It commits a batch only once its predictions are acknowledged,
        # and the rates come from the records' own timestamps, so nothing is lost by reading
        # them afterwards. (tansu's end offsets lag the records, so they cannot be counted.)
        while time.monotonic() < deadline:
            if await _committed(admin, group[0], sources) >= len(backlog):
                break
            await asyncio.sleep(0.05)
        # Its work is done: the read-out below, and the idle contender's polling meanwhile,
        # are not counted in its CPU.
        mark(+1.0)
        while time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=500)
            if not fetched and len(stamps) == len(ids):
                break  # every prediction, and every duplicate, is read
            for timestamp, value in ((r.timestamp, r.value) for rs in fetched.values() for r in rs):
                event_id = orjson.loads(value)["event_id"]
                if event_id in stamps:
                    duplicates += 1
                elif event_id in ids:
                    stamps[event_id] = timestamp / 1000
    finally:
        await producer.stop()
        await consumer.stop()
        await admin.close()
    stamps["#duplicates"] = float(duplicates)
    return stamps, published_s


async def _committed(admin: AIOKafkaAdminClient, group: str, partitions: list[Any]) -> int:
    """How many records of ``partitions`` (new, so their offsets start at 0) ``group`` has
    committed (named: tansu's answer for all of a group's partitions is not readable)."""
    offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    return sum(max(0, meta.offset) for meta in offsets.values())


async def _wait_group(
    admin: AIOKafkaAdminClient, group: str, members: int, timeout: float = 60.0
) -> None:
    """Until ``group`` is stable with ``members`` members (every worker has its partitions)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        (response,) = await admin.describe_consumer_groups([group])
        # (error_code, group, state, protocol_type, protocol, members, ...)
        described = response.groups[0]
        seen = (described[2], len(described[5]))
        if seen == ("Stable", members):
            return
        await asyncio.sleep(0.2)
    raise click.ClickException(f"group {group} not stable with {members} members: {seen}")


def _rates(stamps: dict[str, float], n: int) -> dict[str, float]:
    times = np.sort(np.array([t for k, t in stamps.items() if not k.startswith("#")]))
    if len(times) < n or n < 10:
        raise click.ClickException(f"only {len(times)} of {n} predictions arrived")
    start = int(0.1 * n)
    return {
        "events_per_s": (n - 1 - start) / (times[-1] - times[start]),
        "events_per_s_full_span": (n - 1) / (times[-1] - times[0]),
        "duplicates": stamps["#duplicates"],
    }


class _Bench:
    def __init__(
        self,
        stack: Stack,
        tag: str,
        partitions: int,
        batch_size: int,
        scoring_processes: int | None = None,
        cores_per_worker: int | None = None,
    ) -> None:
        self.stack = stack
        self.tag = tag
        self.partitions = partitions
        self.batch_size = batch_size
        self.scoring_processes = scoring_processes
        self.cores_per_worker = cores_per_worker
        self.workdir = stack.workdir

    def cores(self, i: int) -> frozenset[int] | None:
        """The CPUs of the ``i``-th contender process: its own ``cores_per_worker``
        of them, or None (all of them, shared) without ``--cores-per-worker``."""
        k = self.cores_per_worker
        if k is None:
            return None
        usable = sorted(os.sched_getaffinity(0))  # main() checked that there are enough
        return frozenset(usable[i * k : (i + 1) * k])

    def topics(self, name: str) -> dict[str, str]:
        topics = {
            k: f"bench-{self.tag}-{name}.{k}"
            for k in ("releases", "enriched", "predictions", "dlq")
        }
        self.stack.create_topics(list(topics.values()), partitions=self.partitions)
        return topics

    def drain(
        self,
        topics: dict[str, str],
        group: tuple[str, int],
        pids: list[int],
        backlog: list[Record],
        ids: set[str],
        timeout: float,
    ) -> dict[str, object]:
        """The burst through a started contender (``group``: its consumer group and members;
        ``pids``: its processes): its rates, how long the burst took to publish, and the CPU
        seconds per 1,000 events its processes and the broker used meanwhile."""
        broker = [p.pid for p in self.stack.processes if p.name == "tansu" and p.pid]
        cpu: dict[str, float] = {}

        def mark(sign: float) -> None:
            for name, which in (("contender", pids), ("broker", broker)):
                cpu[name] = cpu.get(name, 0.0) + sign * cpu_s(which)

        stamps, published_s = asyncio.run(
            _burst(self.stack.bootstrap, topics, group, backlog, ids, timeout, mark)
        )
        per_1k = {name: 1000 * seconds / len(ids) for name, seconds in cpu.items()}
        return {**_rates(stamps, len(ids)), "publish_s": published_s, "cpu_s_per_1k": per_1k}

    def plain(self, backlog: list[Record], ids: set[str], timeout: float) -> dict[str, object]:
        t = self.topics("plain")
        group = f"bench-{self.tag}-plain"
        loop = ManagedProcess(
            name="plain loop",
            argv=[
                *(sys.executable, "-m", "bench.plainloop", "--bootstrap", self.stack.bootstrap),
                *("--source", t["releases"], "--target", t["predictions"], "--dlq", t["dlq"]),
                *("--group", group, "--batch-size", str(self.batch_size)),
            ],
            log_path=self.workdir / f"{self.tag}-plain.log",
            env={**os.environ, **self.stack.env(), "HITPRED_STATE_DIR": str(self.workdir)},
            cores=self.cores(0),  # as one worker's
        )
        loop.start()
        try:
            wait_logged(loop, PLAIN_READY_LINE, timeout=180)
            result = self.drain(t, (group, 1), [loop.pid or 0], backlog, ids, timeout)
            result["peak_rss_mb"] = peak_rss_mb(loop.pid)
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
            # divide its cores among their scoring processes (with --cores-per-worker, each
            # has cores of its own, as on a machine of its own).
            "HITPRED_WORKER_PROCESSES": str(n if self.cores_per_worker is None else 1),
        }
        if self.scoring_processes is not None:
            env["HITPRED_SCORING_PROCESSES"] = str(self.scoring_processes)
        started = [
            self.stack.start_worker(
                env=env,
                log_path=self.workdir / f"{self.tag}-w{n}-{i}.log",
                cores=self.cores(i),
            )
            for i in range(n)
        ]
        try:
            for worker in started:
                wait_worker_ready(worker, timeout=180)
            group = (f"{env['HITPRED_APP_ID']}-enrich", n)
            pids = [w.pid for w in started if w.pid]
            result = self.drain(t, group, pids, backlog, ids, timeout)
            if latency is not None:
                result["latency_ms"] = paced_latency(self.stack.bootstrap, t, *latency, timeout)
            # Per process (the worker first, then what it started): which one a high peak is.
            each = {w.pid: tree_peaks_mb(w.pid) for w in started if w.pid}
            result["peak_rss_mb"] = [
                tree_total_mb(each[w.pid]) if w.pid in each else None for w in started
            ]
            result["peak_rss_mb_each"] = list(each.values())
            result["processes"] = [len(peaks) for peaks in each.values()]
            result["alive"] = all(w.alive for w in started)
        finally:
            for worker in started:
                self.stack.stop_process(worker)
        return result


def _round(
    bench: _Bench,
    counts: list[int],
    plain: bool,
    latency: tuple[int, int] | None,
    burst: tuple[list[Record], set[str], float],
    prefix: str,
) -> dict[str, object]:
    """Every contender once, in turn: the plain loop, then each worker count (the first one
    also paced at the latency rate)."""
    backlog, ids, timeout = burst
    run: dict[str, object] = {}
    if plain:
        click.echo(f"{prefix}plain aiokafka loop...", err=True)
        run["plain"] = bench.plain(backlog, ids, timeout)
    for i, n in enumerate(counts):
        click.echo(f"{prefix}{n} worker(s)...", err=True)
        paced = latency if i == 0 else None
        run[f"workers={n}"] = bench.workers(n, backlog, ids, timeout, paced)
    return run


@click.command()
@click.option("--events", default=50_000, show_default=True, help="Backlog size.")
@click.option("--partitions", default=4, show_default=True)
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("--workers", default="1", show_default=True, help="Worker counts, e.g. 1,2.")
@click.option("--plain/--no-plain", default=True, show_default=True, help="Run the plain loop.")
@click.option("--latency-rate", default=1000, show_default=True, help="Paced phase, events/s.")
@click.option("--latency-seconds", default=10, show_default=True, help="Paced phase length.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--timeout", default=900.0, show_default=True)
@click.option(
    "--rounds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Run every contender this many times, in turn; print each round and the medians.",
)
@click.option(
    "--scoring-processes",
    type=int,
    default=None,
    help="HITPRED_SCORING_PROCESSES for every worker [default: unset, the workers' own rule].",
)
@click.option(
    "--cores-per-worker",
    type=click.IntRange(min=1),
    default=None,
    help="Give each worker (and the plain loop) this many cores of its own, as if each ran "
    "on a machine of that size: how throughput scales with workers [default: the workers "
    "share every core, as `hitpred worker --processes N` runs them].",
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
    cores_per_worker: int | None,
    rounds: int,
) -> None:
    """Measure workers' end-to-end throughput and latency against a hand-written loop."""
    counts = [int(c) for c in workers.split(",") if c.strip()]
    usable = len(os.sched_getaffinity(0))
    if cores_per_worker is not None and max(counts) * cores_per_worker > usable:
        raise click.UsageError(
            f"--cores-per-worker {cores_per_worker} for {max(counts)} workers needs "
            f"{max(counts) * cores_per_worker} cores; this machine has {usable} usable"
        )
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
        "cores_per_worker": "shared" if cores_per_worker is None else cores_per_worker,
    }
    backlog = records(events, seed=1)
    ids = {orjson.loads(v)["event_id"] for _, v in backlog}
    settings = Settings(state_dir=workdir, metrics_port=0)
    runs: list[dict[str, object]] = []
    try:
        with Stack(settings, workdir=workdir) as stack:
            for r in range(rounds):
                runs.append(
                    _round(
                        # Each round on topics and groups of its own.
                        _Bench(
                            stack,
                            f"{tag}r{r}",
                            partitions,
                            batch_size,
                            scoring_processes,
                            cores_per_worker,
                        ),
                        counts,
                        plain,
                        (latency_rate, latency_seconds) if latency_rate else None,
                        (backlog, ids, timeout),
                        f"round {r + 1}/{rounds}: " if rounds > 1 else "",
                    )
                )
    except BaseException:
        click.echo(f"the logs of this run are in {workdir}", err=True)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    report["rounds"] = rounds
    report["runs"] = runs
    report["summary"] = summarise(runs, counts)
    print_report(report, counts)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
