"""The live registry on the real broker and the real Redis: running workers switch models on a
promotion and a rollback without a restart, refuse a tampered bundle, and pick up a promotion
made while Redis was down.

Each prediction names the hit model's version; per partition (the order a consumer sees), the
versions must change exactly at the switch (v1... then v2... then v1... for a promotion followed
by a rollback), and every event must have exactly one prediction.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from hitpred.cli import main as cli
from hitpred.models.base import Task
from hitpred.registry import BundleCache, RegistryStore
from hitpred.registry.live import announce
from hitpred.settings import Settings, get_settings
from hitpred.stack import ManagedProcess, Stack, free_port
from tests.integration.conftest import produce, settings_env
from tests.integration.test_faults import _events, _valkey
from tests.unit.models.factories import fitted

pytestmark = pytest.mark.integration


def _registry(path: Path, versions: int) -> RegistryStore:
    """A registry with ``versions`` hit models (feature set ``release``); v1 the champion."""
    store = RegistryStore(path)
    for seed in range(versions):
        model, _ = fitted(Task.HIT, "xgboost" if seed % 2 == 0 else "logistic-regression", n=150)
        store.register(model, metrics={}, evaluation={}, data={"seed": seed})
    store.promote(Task.HIT, "1", reason="first")
    return store


def _cli(s: Settings, *args: str) -> Any:
    get_settings.cache_clear()  # the CLI reads its settings from this environment
    try:
        return CliRunner().invoke(cli, list(args), env=settings_env(s), catch_exceptions=False)
    finally:
        get_settings.cache_clear()


def _read_predictions(s: Settings, wanted: int, timeout: float) -> dict[int, list[dict[str, Any]]]:
    """Predictions per partition, in partition order."""
    from aiokafka import AIOKafkaConsumer

    found: dict[int, list[dict[str, Any]]] = {}

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            s.predictions_topic, bootstrap_servers=s.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout
            count = 0
            while count < wanted and time.monotonic() < deadline:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        found.setdefault(tp.partition, []).append(orjson.loads(record.value))
                        count += 1
            await asyncio.sleep(2)  # anything extra (a duplicate) would arrive now
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    found.setdefault(tp.partition, []).append(orjson.loads(record.value))
        finally:
            await consumer.stop()

    asyncio.run(run())
    return found


def _version(prediction: dict[str, Any]) -> str | None:
    """The hit model's version (None: a release without descriptors, hit unanswered)."""
    hit = prediction.get("hit")
    return None if hit is None else str(hit["model"]["version"])


def _runs(versions: list[str | None]) -> list[str]:
    """The versions in order with repeats collapsed: v1 v1 v2 v2 v1 -> [1, 2, 1]."""
    runs: list[str] = []
    for version in versions:
        if version is not None and (not runs or runs[-1] != version):
            runs.append(version)
    return runs


def _served_versions(s: Settings, seed: int, count: int = 300) -> set[str]:
    """Publish ``count`` releases; the hit versions that answered them."""
    records, ids = _events(count, seed=seed)
    produce(s.kafka_bootstrap or "", s.releases_topic, records)
    found = _read_predictions(s, 10**9, timeout=5)
    answered = {p["event_id"] for ps in found.values() for p in ps}
    assert ids <= answered, f"{len(ids - answered)} releases without a prediction"
    return {v for ps in found.values() for p in ps if p["event_id"] in ids and (v := _version(p))}


def _first_scored(
    by_partition: dict[int, list[dict[str, Any]]], version: str, after: float
) -> float:
    """Seconds from ``after`` (epoch) to the first prediction of ``version`` scored after it."""
    times = [
        datetime.fromisoformat(p["scored_at"].replace("Z", "+00:00")).timestamp()
        for ps in by_partition.values()
        for p in ps
        if _version(p) == version
    ]
    later = [t for t in times if t >= after]
    return min(later) - after


def test_workers_switch_on_promote_and_rollback_mid_stream(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"batch_size": 500, "registry_poll_s": 2.0})
    _registry(Path(s.registry_uri), 2)
    workers = [start_worker(s), start_worker(s)]
    n = 30_000
    records, ids = _events(n, seed=81)
    sent = 0

    def trickle() -> None:  # about 2,000 events/s for 15 s
        nonlocal sent
        for start in range(0, n, 1000):
            produce(s.kafka_bootstrap or "", s.releases_topic, records[start : start + 1000])
            sent += 1000
            time.sleep(0.5)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    while sent < 8000:
        time.sleep(0.1)
    promoted_at = time.time()
    result = _cli(s, "models", "promote", "hit", "2", "--reason", "test: v2 is better")
    assert result.exit_code == 0, result.output
    while sent < 20_000:
        time.sleep(0.1)
    rolled_back_at = time.time()
    result = _cli(s, "models", "rollback", "hit")
    assert result.exit_code == 0 and "champion is now v1 (was v2)" in result.output, result.output
    thread.join(60)
    by_partition = _read_predictions(s, n, timeout=300)
    predictions = [p for ps in by_partition.values() for p in ps]
    counts: dict[str, int] = {}
    for p in predictions:
        counts[p["event_id"]] = counts.get(p["event_id"], 0) + 1
    lost, duplicated = len(ids - set(counts)), sum(c - 1 for c in counts.values())
    switch_s = _first_scored(by_partition, "2", promoted_at)
    back_s = _first_scored(
        {k: [p for p in v if _version(p) == "1"] for k, v in by_partition.items()},
        "1",
        rolled_back_at,
    )
    print(
        f"hot reload: sent {n}, predicted {len(set(counts) & ids)}, lost {lost}, duplicated "
        f"{duplicated}; first v2 prediction {switch_s:.1f}s after promote, first v1 again "
        f"{back_s:.1f}s after rollback"
    )
    assert lost == 0 and duplicated == 0
    for partition, ps in by_partition.items():
        assert _runs([_version(p) for p in ps]) == ["1", "2", "1"], partition
    assert switch_s < 5 and back_s < 5
    for worker in workers:  # both workers switched, twice, without a restart
        log = worker.log_path.read_text(errors="replace")
        assert log.count("models reloaded") == 2, worker.tail()
        assert worker.alive
    history = _cli(s, "models", "history", "hit")
    assert "v2 is better" in history.output and "rolled back by hand" in history.output


def test_a_tampered_bundle_is_refused_and_the_worker_keeps_serving(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"registry_poll_s": 1.0})
    store = _registry(Path(s.registry_uri), 3)
    worker = start_worker(s)

    # In the store: v2's model file changed after registration, promoted behind the CLI's back.
    model_file = next(p for p in store.path(Task.HIT, "2").iterdir() if p.name.startswith("model"))
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    announce(s, store.promote(Task.HIT, "2", reason="tampered in the store"))
    assert _served_versions(s, 82, 200) == {"1"}
    # In Redis: v3 is intact in the folder, but the cached archive the worker would load is not.
    cache = BundleCache.from_url(s.redis_connection_url, prefix=s.registry_cache_prefix)
    archive = store.bundle_bytes(Task.HIT, "3")
    digest = cache.put(archive)
    cache.client.set(f"{s.registry_cache_prefix}bundle:{digest}", archive[:-10] + b"x" * 10)
    cache.set_champion(Task.HIT, "3", digest, store.manifest(Task.HIT, "3"), "release")
    announce(s, store.promote(Task.HIT, "3", reason="tampered in Redis"))
    time.sleep(4)
    log = worker.log_path.read_text(errors="replace")
    assert log.count("registry change refused") == 2, worker.tail()
    assert worker.alive
    assert _served_versions(s, 83, 200) == {"1"}
    verify = _cli(s, "models", "verify")
    assert verify.exit_code == 1, verify.output
    assert f"FAIL  {store.path(Task.HIT, '2')}" in verify.output
    assert model_file.name in verify.output
    assert f"FAIL  redis:{s.registry_cache_prefix}bundle:{digest}" in verify.output


def test_redis_stopped_mid_stream_and_a_promotion_made_meanwhile_is_served(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
    tmp_path: Path,
) -> None:
    """The workers' Redis (a Valkey this test starts) stops in the middle of a stream: the
    running worker loses nothing, a promotion made while Redis is down is served, a worker
    started during the outage loads from the store, and once Redis is back the next change is
    announced through it again."""
    port = free_port()
    server = _valkey(port, tmp_path / "valkey")
    s = isolated_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{port}/0", "registry_poll_s": 1.0}
    )
    store = _registry(Path(s.registry_uri), 2)
    try:
        first = start_worker(s)
        records, ids = _events(6000, seed=84)
        produce(s.kafka_bootstrap or "", s.releases_topic, records[:3000])
        server.stop()  # Redis down mid-stream
        produce(s.kafka_bootstrap or "", s.releases_topic, records[3000:])
        result = _cli(s, "models", "promote", "hit", "2")
        assert result.exit_code == 0, result.output
        assert "Redis unavailable" in result.output
        second = start_worker(s)  # starts while Redis is down: loads from the store
        time.sleep(3)
        assert _served_versions(s, 85) == {"2"}
        found = _read_predictions(s, 10**9, timeout=5)
        answered = {p["event_id"] for ps in found.values() for p in ps}
        print(f"Redis down mid-stream: sent {len(ids)}, predicted {len(ids & answered)}")
        assert ids <= answered
        server = _valkey(port, tmp_path / "valkey")  # back
        result = _cli(s, "models", "rollback", "hit")
        assert result.exit_code == 0 and "Redis unavailable" not in result.output, result.output
        time.sleep(3)
        assert _served_versions(s, 86) == {"1"}
        assert first.alive and second.alive
        assert [e["to"] for e in store.history(Task.HIT)] == ["1", "2", "1"]
    finally:
        server.stop()


def test_a_challenger_is_shadow_scored_and_compared(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    s = isolated_settings.model_copy(update={"registry_poll_s": 1.0})
    _registry(Path(s.registry_uri), 2)
    worker = start_worker(s)
    result = _cli(s, "models", "promote", "hit", "2", "--alias", "challenger")
    assert result.exit_code == 0 and "challenger is now v2" in result.output, result.output
    deadline = time.monotonic() + 30
    while "shadow {" not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.2)
    records, ids = _events(1000, seed=85)
    produce(s.kafka_bootstrap or "", s.releases_topic, records)
    served = _read_predictions(s, len(ids), timeout=120)
    shadow_settings = s.model_copy(update={"predictions_topic": s.shadow_topic})
    shadow = _read_predictions(shadow_settings, len(ids), timeout=60)
    served_list = [p for ps in served.values() for p in ps]
    shadow_list = [p for ps in shadow.values() for p in ps]
    print(f"shadow: {len(served_list)} served predictions, {len(shadow_list)} shadow ones")
    assert sorted(p["event_id"] for p in shadow_list) == sorted(ids)  # one per scored event
    assert all(p["shadow"] is True for p in shadow_list)
    assert all("shadow" not in p for p in served_list)
    assert {_version(p) for p in served_list} - {None} == {"1"}
    assert {_version(p) for p in shadow_list} - {None} == {"2"}
    compared = _cli(s, "models", "compare", "hit")
    assert compared.exit_code == 0, compared.output
    with_hit = sum(1 for p in served_list if _version(p) is not None)
    assert f"hit: {with_hit} releases scored by both (champion v1, challenger v2)" in (
        compared.output
    )
    assert "same answer:" in compared.output and "score difference: mean" in compared.output
    print(compared.output)


def test_a_worker_without_the_registry_follows_it_through_redis(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
    tmp_path: Path,
) -> None:
    """The operator sees the registry folder; the worker does not (another machine): every
    promotion reaches it through Redis alone (bundle, pointers, notification)."""
    s = isolated_settings.model_copy(update={"registry_poll_s": 1.0})
    _registry(Path(s.registry_uri), 2)
    result = _cli(s, "models", "promote", "hit", "1", "--reason", "published to Redis")
    assert result.exit_code == 0, result.output
    elsewhere = s.model_copy(update={"registry_uri": str(tmp_path / "not-mounted")})
    worker = start_worker(elsewhere)
    assert _served_versions(elsewhere, 87) == {"1"}
    assert _cli(s, "models", "promote", "hit", "2").exit_code == 0
    deadline = time.monotonic() + 20
    while "models reloaded" not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.2)
    assert _served_versions(elsewhere, 88) == {"2"}
    assert _cli(s, "models", "promote", "hit", "1", "--alias", "challenger").exit_code == 0
    deadline = time.monotonic() + 20
    while "shadow {" not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.2)
    assert _served_versions(elsewhere, 89) == {"2"}
    shadow = _read_predictions(s.model_copy(update={"predictions_topic": s.shadow_topic}), 1, 10)
    assert {_version(p) for ps in shadow.values() for p in ps} - {None} == {"1"}
