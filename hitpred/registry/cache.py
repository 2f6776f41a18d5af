"""The Redis cache of champion bundles, for workers that cannot see the registry folder.

Keys (``prefix`` defaults to ``hitpred:registry:``)::

    <prefix>bundle:<sha256>   the bundle archive (see integrity.pack_bundle); immutable
    <prefix>champion:<task>   JSON {"task", "version", "sha256", "name", "feature_set"}
    <prefix>champions:<task>  hash: feature set -> the same JSON, one champion per feature set

A worker with the registry folder publishes the champions it resolves; any worker can then
load them from Redis alone. Every load checks the archive's sha256 against its key and each
file against the manifest before anything is deserialised.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from hitpred import metrics
from hitpred.errors import IntegrityError, RegistryError
from hitpred.models.base import PREDICTION_TASKS, Task, TaskModel
from hitpred.registry.integrity import sha256_bytes, unpack_bundle
from hitpred.registry.remote import open_registry
from hitpred.registry.store import RegistryStore

__all__ = [
    "DEFAULT_PREFIX",
    "BundleCache",
    "load_bundle_bytes",
    "load_champions",
    "load_feature_set_champions",
]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "hitpred:registry:"


def load_bundle_bytes(data: bytes, expected_sha256: str | None = None) -> TaskModel:
    """Verify and load a bundle archive (the archive's and every file's sha256)."""
    from hitpred.registry.loading import load_bundle

    actual = sha256_bytes(data)
    if expected_sha256 is not None and actual != expected_sha256:
        raise IntegrityError(
            f"bundle archive sha256 {actual} is not the expected {expected_sha256}"
        )
    with tempfile.TemporaryDirectory(prefix="hitpred-bundle-") as tmp:
        folder = Path(tmp)
        manifest = unpack_bundle(data, folder)
        # Every artifact is read fully into memory here, so the folder can go afterwards.
        return load_bundle(folder, manifest)


class BundleCache:
    """Bundle archives keyed by sha256, and champion pointers, in Redis."""

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> BundleCache:
        """A cache on a new client for ``url``."""
        import redis

        return cls(redis.Redis.from_url(url), prefix=prefix)

    def _bundle_key(self, sha256: str) -> str:
        return f"{self.prefix}bundle:{sha256}"

    def _champion_key(self, task: Task) -> str:
        return f"{self.prefix}champion:{task.value}"

    def put(self, data: bytes) -> str:
        """Store an archive under its sha256 (a no-op when present); returns the digest."""
        digest = sha256_bytes(data)
        self.client.set(self._bundle_key(digest), data, nx=True)
        return digest

    def get(self, sha256: str) -> bytes | None:
        """The archive with that digest, or None; raises when the stored bytes do not match."""
        data = self.client.get(self._bundle_key(sha256))
        if data is None:
            return None
        if sha256_bytes(data) != sha256:
            raise IntegrityError(f"Redis holds corrupt bytes under bundle {sha256}")
        return bytes(data)

    def _champions_key(self, task: Task) -> str:
        return f"{self.prefix}champions:{task.value}"

    def set_champion(
        self,
        task: Task,
        version: str,
        sha256: str,
        manifest: dict[str, Any],
        feature_set: str | None = None,
    ) -> None:
        """Point the task's champion (or its champion of ``feature_set``) at a stored archive."""
        ref = {
            "task": task.value,
            "version": str(version),
            "sha256": sha256,
            "name": manifest.get("name"),
            "feature_set": manifest.get("feature_set"),
        }
        payload = json.dumps(ref, sort_keys=True)
        if feature_set is None:
            self.client.set(self._champion_key(task), payload)
        else:
            self.client.hset(self._champions_key(task), feature_set, payload)

    def champion_ref(self, task: Task, feature_set: str | None = None) -> dict[str, Any] | None:
        """The task's champion pointer (or its champion of ``feature_set``), or None."""
        if feature_set is None:
            raw = self.client.get(self._champion_key(task))
        else:
            raw = self.client.hget(self._champions_key(task), feature_set)
        return None if raw is None else dict(json.loads(raw))

    def feature_sets(self, task: Task) -> list[str]:
        """The feature sets that have a champion pointer for ``task``."""
        return sorted(
            f.decode() if isinstance(f, bytes) else str(f)
            for f in self.client.hkeys(self._champions_key(task))
        )

    def load_champion(self, task: Task, feature_set: str | None = None) -> TaskModel | None:
        """Load the task's champion from Redis alone, or None when no pointer is set."""
        ref = self.champion_ref(task, feature_set)
        if ref is None:
            return None
        data = self.get(str(ref["sha256"]))
        if data is None:
            raise RegistryError(
                f"Redis points {task.value} at bundle {ref['sha256']} but does not hold it"
            )
        return load_bundle_bytes(data, expected_sha256=str(ref["sha256"]))


def _cache(redis_url: str | None, client: Any, prefix: str) -> BundleCache | None:
    if client is not None:
        return BundleCache(client, prefix=prefix)
    if redis_url is not None:
        return BundleCache.from_url(redis_url, prefix=prefix)
    return None


def load_champions(
    store: RegistryStore | str | Path | None = None,
    redis_url: str | None = None,
    client: Any = None,
    tasks: tuple[Task, ...] | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> dict[Task, TaskModel]:
    """The champion of every task that has one, loaded through the Redis cache.

    - With a ``store``: its champions are resolved there, their archives published to Redis
      (if a Redis is given and reachable) and loaded from the verified bytes.
    - Without one: the champion pointers and archives are read from Redis alone.
    Tasks without a champion are absent from the result. ``prefix`` namespaces the Redis keys.
    """
    if isinstance(store, str | Path):
        store = open_registry(store)
    cache = _cache(redis_url, client, prefix)
    if store is None and cache is None:
        raise RegistryError("load_champions needs a registry store, a Redis, or both")
    wanted = tasks or PREDICTION_TASKS
    models: dict[Task, TaskModel] = {}
    for task in wanted:
        model = _load_one(task, store, cache)
        if model is not None:
            models[task] = model
    logger.info(
        "champions loaded: %s",
        ", ".join(f"{t.value}=v{m.version} ({m.name})" for t, m in models.items()) or "none",
    )
    return models


def load_feature_set_champions(
    store: RegistryStore | str | Path | None = None,
    redis_url: str | None = None,
    client: Any = None,
    feature_sets: tuple[str, ...] | None = None,
    tasks: tuple[Task, ...] | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> dict[Task, dict[str, TaskModel]]:
    """Every task's champion of each feature set (of ``feature_sets``, default all), through
    the Redis cache like :func:`load_champions`: {task: {feature set: model}}."""
    if isinstance(store, str | Path):
        store = open_registry(store)
    cache = _cache(redis_url, client, prefix)
    if store is None and cache is None:
        raise RegistryError("load_feature_set_champions needs a registry store, a Redis, or both")
    found: dict[Task, dict[str, TaskModel]] = {}
    for task in tasks or PREDICTION_TASKS:
        if store is not None:
            sets = list(store.champions(task))
        else:
            assert cache is not None
            sets = cache.feature_sets(task)
        for feature_set in sets:
            if feature_sets is not None and feature_set not in feature_sets:
                continue
            model = _load_one(task, store, cache, feature_set)
            if model is not None:
                found.setdefault(task, {})[feature_set] = model
    logger.info(
        "feature-set champions loaded: %s",
        ", ".join(
            f"{t.value}/{fs}=v{m.version} ({m.name})"
            for t, by_set in found.items()
            for fs, m in by_set.items()
        )
        or "none",
    )
    return found


def _load_one(
    task: Task,
    store: RegistryStore | None,
    cache: BundleCache | None,
    feature_set: str | None = None,
) -> TaskModel | None:
    import redis

    if store is None:
        assert cache is not None
        return cache.load_champion(task, feature_set)
    version = (
        store.champion(task) if feature_set is None else store.champions(task).get(feature_set)
    )
    if version is None:
        return None
    if cache is None:
        return store.load(task, version)
    try:
        ref = cache.champion_ref(task, feature_set)
        if ref is not None and ref.get("version") == version:
            data = cache.get(str(ref["sha256"]))
            if data is not None:
                metrics.REGISTRY_CACHE.labels("hit").inc()
                return load_bundle_bytes(data, expected_sha256=str(ref["sha256"]))
        metrics.REGISTRY_CACHE.labels("miss").inc()
        data = store.bundle_bytes(task, version)
        digest = cache.put(data)
        cache.set_champion(task, version, digest, store.manifest(task, version), feature_set)
        return load_bundle_bytes(data, expected_sha256=digest)
    except redis.RedisError as exc:
        metrics.REGISTRY_CACHE.labels("unavailable").inc()
        logger.warning(
            "Redis unavailable (%s): loading %s v%s from %s", exc, task.value, version, store
        )
        return store.load(task, version)
