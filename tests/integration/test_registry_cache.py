"""The Redis bundle cache on the machine's real Redis (skipped only when none answers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from hitpred.errors import IntegrityError
from hitpred.models.base import Task
from hitpred.registry import BundleCache, RegistryStore, load_champions
from tests.unit.models.factories import fitted

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    yield connection
    connection.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A key namespace no other test uses, deleted afterwards."""
    name = f"hitpred-test-{uuid.uuid4().hex[:10]}:"
    yield name
    keys = list(client.scan_iter(f"{name}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    store = RegistryStore(tmp_path_factory.mktemp("registry"))
    hit, data = fitted(Task.HIT, "xgboost", n=150)
    store.promote(Task.HIT, store.register(hit, metrics={}, evaluation={}, data={}).version)
    genre, _ = fitted(Task.GENRE, "logistic-regression", n=150)
    info = store.register(genre, metrics={}, evaluation={}, data={}, classes=genre.classes)
    store.promote(Task.GENRE, info.version)
    return store, data


@pytest.mark.integration
def test_champions_published_then_loaded_from_redis_alone(
    client: redis.Redis, prefix: str, registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store, data = registry
    from_store = load_champions(store, client=client, prefix=prefix)
    assert set(from_store) == {Task.HIT, Task.GENRE}
    assert client.get(f"{prefix}champion:hit") is not None
    # Another machine: no registry folder, only Redis.
    remote = load_champions(None, redis_url=REDIS_URL, prefix=prefix)
    assert set(remote) == {Task.HIT, Task.GENRE}
    for task in remote:
        assert remote[task].version == store.champion(task)
    a = from_store[Task.HIT].predict(data.X).values
    b = remote[Task.HIT].predict(data.X).values
    np.testing.assert_allclose(a, b)
    assert remote[Task.GENRE].predict(data.X).classes == from_store[Task.GENRE].classes


@pytest.mark.integration
def test_new_champion_replaces_the_pointer(client: redis.Redis, prefix: str, registry) -> None:  # type: ignore[no-untyped-def]
    store, _ = registry
    load_champions(store, client=client, prefix=prefix, tasks=(Task.HIT,))
    cache = BundleCache(client, prefix=prefix)
    before = cache.champion_ref(Task.HIT)
    model, _ = fitted(Task.HIT, "logistic-regression", n=150)
    info = store.register(model, metrics={}, evaluation={}, data={})
    store.promote(Task.HIT, info.version)
    loaded = load_champions(store, client=client, prefix=prefix, tasks=(Task.HIT,))
    after = cache.champion_ref(Task.HIT)
    assert before is not None and after is not None
    assert after["version"] == info.version != before["version"]
    assert after["sha256"] != before["sha256"]
    assert loaded[Task.HIT].name == "logistic-regression"


@pytest.mark.integration
def test_corrupt_bytes_in_redis_are_refused(client: redis.Redis, prefix: str, registry) -> None:  # type: ignore[no-untyped-def]
    store, _ = registry
    load_champions(store, client=client, prefix=prefix, tasks=(Task.GENRE,))
    ref = BundleCache(client, prefix=prefix).champion_ref(Task.GENRE)
    assert ref is not None
    key = f"{prefix}bundle:{ref['sha256']}"
    client.set(key, client.get(key) + b"tampered")
    with pytest.raises(IntegrityError):
        load_champions(None, client=client, prefix=prefix, tasks=(Task.GENRE,))


@pytest.mark.integration
def test_tasks_without_champion_are_absent(client: redis.Redis, prefix: str) -> None:
    assert load_champions(None, client=client, prefix=prefix) == {}
