"""How soon a restarted worker scores again, after SIGTERM and after SIGKILL.

    python -m bench.restart [--rounds 3] [--json out.json]

On the embedded stack (tansu, the machine's Redis or Valkey), with the worker's defaults (every
role, the lyrics encoder loaded and warmed up, no registry: the baseline champions): releases
trickle in at 10 per second (with lyrics, so the enricher is exercised); for each round the
worker is stopped (SIGTERM: it finishes its batch and leaves its group; SIGKILL: its group
membership expires after the session time-out) and a new one is spawned at once. Reported:
seconds from the new process's spawn to the first prediction it publishes for a release sent
after the stop, and from the spawn to its readiness line (models loaded).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import click
import orjson
from aiokafka import AIOKafkaConsumer

from hitpred.baseline import synthetic_release_events
from hitpred.cli.events import publish_messages
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack, wait_worker_ready


class _Traffic:
    """Releases sent every 100 ms from one thread; predictions read by another."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent: dict[str, float] = {}
        self.predicted: dict[str, float] = {}
        self._stop = threading.Event()
        self._base = synthetic_release_events(50, seed=5)
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=lambda: asyncio.run(self._read()), daemon=True),
        ]

    def __enter__(self) -> _Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _send(self) -> None:
        bootstrap, topic = self.settings.kafka_bootstrap or "", self.settings.releases_topic
        i = 0
        while not self._stop.is_set():
            event = {**self._base[i % len(self._base)], "event_id": f"r{i}", "track_id": f"t{i}"}
            self.sent[f"r{i}"] = time.monotonic()
            record = (f"t{i}".encode(), orjson.dumps(event))
            asyncio.run(publish_messages(bootstrap, topic, [record]))
            i += 1
            self._stop.wait(0.1)

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            self.settings.predictions_topic,
            bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    for record in records:
                        event_id = orjson.loads(record.value)["event_id"]
                        self.predicted.setdefault(event_id, time.monotonic())
        finally:
            await consumer.stop()

    def first_prediction_after(self, moment: float, timeout: float) -> float | None:
        """When the first release sent after ``moment`` was predicted (monotonic), or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [
                self.predicted[e]
                for e, t in list(self.sent.items())
                if t > moment
                if e in self.predicted
            ]
            if later:
                return min(later)
            time.sleep(0.05)
        return None


def _round(
    stack: Stack, env: dict[str, str], traffic: _Traffic, worker: ManagedProcess, how: str, n: int
) -> tuple[ManagedProcess, dict[str, float | None]]:
    stopped = time.monotonic()
    if how == "SIGKILL":
        os.kill(worker.pid or 0, signal.SIGKILL)
        assert worker.process is not None
        worker.process.wait(10)
    else:
        stack.stop_process(worker, timeout=60)
    spawned = time.monotonic()
    fresh = stack.start_worker(env=env, log_path=stack.workdir / f"worker-{how}-{n}.log")
    wait_worker_ready(fresh, timeout=180)
    ready = time.monotonic() - spawned
    first = traffic.first_prediction_after(stopped, timeout=180)
    scoring = None if first is None else first - spawned
    return fresh, {"stop_s": spawned - stopped, "ready_s": ready, "scoring_s": scoring}


@click.command()
@click.option("--rounds", default=3, show_default=True, help="Restarts per signal.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def main(rounds: int, json_path: Path | None) -> None:
    """Measure how soon a restarted worker is scoring again."""
    tag = uuid.uuid4().hex[:8]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"hitpred-bench-restart-{tag}"
    report: dict[str, object] = {
        "command": " ".join(["python -m bench.restart", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        "embedded tansu (memory), one host",
    }
    with Stack(Settings(state_dir=workdir, metrics_port=0), workdir=workdir) as stack:
        settings = Settings(
            kafka_bootstrap=stack.bootstrap,
            app_id=f"bench-restart-{tag}",
            releases_topic=f"bench-restart-{tag}.releases",
            enriched_topic=f"bench-restart-{tag}.enriched",
            predictions_topic=f"bench-restart-{tag}.predictions",
            dlq_topic=f"bench-restart-{tag}.dlq",
        )
        stack.create_topics(
            [
                settings.releases_topic,
                settings.enriched_topic,
                settings.predictions_topic,
                settings.dlq_topic,
            ]
        )
        env = {
            "HITPRED_APP_ID": settings.app_id,
            "HITPRED_RELEASES_TOPIC": settings.releases_topic,
            "HITPRED_ENRICHED_TOPIC": settings.enriched_topic,
            "HITPRED_PREDICTIONS_TOPIC": settings.predictions_topic,
            "HITPRED_DLQ_TOPIC": settings.dlq_topic,
            "HITPRED_STATE_DIR": str(workdir),
            "HITPRED_METRICS_PORT": "0",
        }
        report["session_timeout_s"] = stack.session_timeout_s or settings.session_timeout_s
        worker = stack.start_worker(env=env, log_path=workdir / "worker-first.log")
        wait_worker_ready(worker, timeout=180)
        with _Traffic(settings) as traffic:
            time.sleep(5)
            for how in ("SIGTERM", "SIGKILL"):
                results = []
                for n in range(rounds):
                    click.echo(f"{how} round {n + 1} of {rounds}...", err=True)
                    worker, result = _round(stack, env, traffic, worker, how, n)
                    results.append(result)
                    time.sleep(3)
                report[how] = results
        stack.stop_process(worker)
    _print(report)
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2))


def _print(report: dict[str, object]) -> None:
    click.echo(f"command:  {report['command']}  ({report['date']}, {report['machine']})")
    click.echo(f"group session time-out: {report['session_timeout_s']} s")
    for how in ("SIGTERM", "SIGKILL"):
        rounds = report[how]
        assert isinstance(rounds, list)
        scoring = [r["scoring_s"] for r in rounds]
        shown = ", ".join("never" if s is None else f"{s:.1f}" for s in scoring)
        done = [s for s in scoring if s is not None]
        median = f"median {statistics.median(done):.1f} s" if done else "no prediction"
        ready = ", ".join(f"{r['ready_s']:.1f}" for r in rounds)
        click.echo(
            f"after {how}: scoring again {shown} s after the spawn ({median}); "
            f"models loaded after {ready} s"
        )
    click.echo(json.dumps(report))


if __name__ == "__main__":
    main()
