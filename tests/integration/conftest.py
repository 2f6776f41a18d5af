"""The real broker (embedded tansu, once per session), the real Redis, and real workers.

Every test gets its own topics and consumer group (``isolated_settings``), so tests never read
each other's messages, and its workers are stopped even when the test fails.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack, free_port, wait_worker_ready

Record = tuple[bytes | None, bytes]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded broker (or HITPRED_KAFKA_BOOTSTRAP) and the machine's Redis (or Valkey)."""
    workdir = tmp_path_factory.mktemp("stack")
    with Stack(Settings(), workdir=workdir) as started:
        yield started


@pytest.fixture
def isolated_settings(stack: Stack, tmp_path: Path) -> Settings:
    """Settings with topics and an app id no other test uses; the topics exist."""
    tag = uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=stack.bootstrap,
        redis_url=stack.redis_url,
        app_id=f"hitpred-test-{tag}",
        releases_topic=f"test-{tag}.releases",
        enriched_topic=f"test-{tag}.enriched",
        predictions_topic=f"test-{tag}.predictions",
        dlq_topic=f"test-{tag}.dlq",
        shadow_topic=f"test-{tag}.shadow",
        partitions=4,
        state_dir=tmp_path / "state",
        # Derived model files (the ONNX export of the lyrics encoder) once per session.
        model_cache=stack.workdir / "models",
        # An empty registry and a private Redis namespace: workers score with the baseline,
        # whatever a developer's checkout has trained.
        registry_uri=str(tmp_path / "registry"),
        registry_cache_prefix=f"hitpred-test-{tag}:",
        metrics_port=free_port(),
        # Batches small enough that one test run exercises many of them.
        batch_size=200,
        rebalance_timeout_s=2.0,
        # A new member's first join waits about half of the session time-out on tansu.
        session_timeout_s=stack.session_timeout_s or Settings().session_timeout_s,
    )
    stack.create_topics(
        [
            settings.releases_topic,
            settings.enriched_topic,
            settings.predictions_topic,
            settings.dlq_topic,
            settings.shadow_topic,
        ],
        partitions=settings.partitions,
    )
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """``HITPRED_*`` variables that reproduce ``settings`` in a worker process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[f"HITPRED_{name.upper()}"] = str(value)
    return env


@pytest.fixture
def start_worker(stack: Stack, tmp_path: Path) -> Iterator[Callable[[Settings], ManagedProcess]]:
    """Start a ready worker for some settings; every worker is stopped after the test."""
    started: list[ManagedProcess] = []

    def start(settings: Settings) -> ManagedProcess:
        worker = stack.start_worker(
            env=settings_env(settings), log_path=tmp_path / f"worker-{len(started)}.log"
        )
        started.append(worker)
        wait_worker_ready(worker, timeout=90)
        return worker

    yield start
    for worker in started:
        stack.stop_process(worker)


def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Produce records and wait for every acknowledgement."""
    from hitpred.cli.events import publish_messages

    asyncio.run(publish_messages(bootstrap, topic, records))


def consume_until(
    bootstrap: str,
    topics: Sequence[str],
    done: Callable[[dict[str, list[Record]]], bool],
    *,
    timeout: float,
    settle: float = 1.5,
) -> dict[str, list[Record]]:
    """Read ``topics`` from the beginning until ``done`` holds (then ``settle`` seconds more,
    so extra messages would be seen) or ``timeout`` passes. Never blocks longer."""
    from hitpred.cli.events import collect

    seen: dict[str, list[Record]] = {t: [] for t in topics}

    async def run() -> None:
        async for topic, key, value in collect(bootstrap, topics, timeout=timeout):
            seen[topic].append((key, value))

    async def bounded() -> None:
        task = asyncio.ensure_future(run())
        deadline = time.monotonic() + timeout
        while not task.done():
            if time.monotonic() > deadline:
                break
            if done(seen):
                await asyncio.sleep(settle)
                break
            await asyncio.sleep(0.1)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(bounded())
    return seen
