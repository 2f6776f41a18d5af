"""The live registry: which versions are served now, and telling running workers of a change.

A promotion, a rollback or a new challenger changes a pointer in the registry folder (see
:mod:`hitpred.registry.store`, the durable record) and is then announced through Redis:

    <prefix>changes           pub/sub channel: one message (the history entry, JSON) per change
    <prefix>history:<task>    list: the same entries, a mirror of ``<task>/history.jsonl``
    <prefix>aliases:<task>    hash: ``challenger`` -> {"version", "sha256", "feature_set"}

and the bundle behind the alias is put in the bundle cache (``bundle:<sha256>``, with the
``champion:<task>`` / ``champions:<task>`` pointers for a champion), so that workers which see
neither the folder nor the object store follow the change from Redis alone.

``<prefix>`` is ``HITPRED_REGISTRY_CACHE_PREFIX`` (default ``hitpred:registry:``), the
namespace of the bundle cache too (``bundle:<sha256>``, ``champion:<task>``,
``champions:<task>``; see :mod:`hitpred.registry.cache`).

Workers do not trust the message alone: on a message, and every ``HITPRED_REGISTRY_POLL_S``
whatever happens, they compare :func:`served_state` (the versions the registry says to serve)
with what they hold, and reload when it differs. A lost message, or a promotion made while
Redis was down, is therefore picked up at the next poll.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from hitpred.errors import RegistryError
from hitpred.models.base import Task, TaskModel
from hitpred.registry.cache import BundleCache, load_bundle_bytes
from hitpred.registry.remote import open_registry
from hitpred.registry.store import RegistryStore

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = [
    "ChangeListener",
    "announce",
    "challenger_from_redis",
    "redis_client",
    "served_state",
]

logger = logging.getLogger(__name__)

#: The tasks whose pointers a worker watches (what :func:`hitpred.champions.load_models` reads).
WATCHED_TASKS: tuple[Task, ...] = (
    Task.HIT,
    Task.POPULARITY,
    Task.GENRE,
    Task.TIER,
    Task.MULTITASK,
)


def redis_client(settings: Settings, timeout: float = 2.0) -> Any:
    """A Redis client for the registry's keys, with bounded connect and read times."""
    import redis

    return redis.Redis.from_url(
        settings.redis_connection_url, socket_connect_timeout=timeout, socket_timeout=timeout
    )


def served_state(settings: Settings) -> dict[str, dict[str, str]]:
    """{task: {feature set: version}} the registry says to serve, plus ``"challenger"`` where a
    task has one: from the folder when this machine sees it, else from the Redis cache."""
    store = open_registry(settings.registry_uri, settings.state_dir / "registry-mirror")
    state: dict[str, dict[str, str]] = {}
    if store.root.is_dir():
        for task in WATCHED_TASKS:
            pointers = dict(store.champions(task))
            challenger = store.challenger(task)
            if challenger is not None:
                pointers["challenger"] = challenger
            if pointers:
                state[task.value] = pointers
        return state
    client = redis_client(settings)
    try:
        for task in WATCHED_TASKS:
            raw = client.hgetall(f"{settings.registry_cache_prefix}champions:{task.value}")
            pointers = {
                (k.decode() if isinstance(k, bytes) else str(k)): str(json.loads(v)["version"])
                for k, v in raw.items()
            }
            challenger = client.hget(
                _aliases_key(settings.registry_cache_prefix, task), "challenger"
            )
            if challenger is not None:
                pointers["challenger"] = str(json.loads(challenger)["version"])
            if pointers:
                state[task.value] = pointers
    finally:
        client.close()
    return state


def announce(settings: Settings, entry: dict[str, Any], store: RegistryStore | None = None) -> bool:
    """Publish an alias change to Redis: with the ``store``, the bundle it names and the alias
    pointer; always the history entry and the notification. False (with a warning) when Redis
    cannot be reached: workers that see the registry pick the change up at their next poll."""
    import redis

    prefix = settings.registry_cache_prefix
    payload = json.dumps(entry, sort_keys=True)
    client = redis_client(settings)
    try:
        if store is not None:
            _publish_alias(client, prefix, store, entry)
        client.rpush(f"{prefix}history:{entry['task']}", payload)
        client.publish(f"{prefix}changes", payload)
        return True
    except redis.RedisError as exc:
        logger.warning(
            "Redis unavailable (%s): workers will see the change at their next poll", exc
        )
        return False
    finally:
        client.close()


def _aliases_key(prefix: str, task: Task) -> str:
    """The hash of a task's non-champion aliases (``challenger`` -> its bundle reference)."""
    return f"{prefix}aliases:{task.value}"


def _publish_alias(client: Any, prefix: str, store: RegistryStore, entry: dict[str, Any]) -> None:
    task, version, alias = Task(entry["task"]), entry.get("to"), entry["alias"]
    aliases = _aliases_key(prefix, task)
    if version is None:  # a challenger removed
        client.hdel(aliases, alias)
        return
    cache = BundleCache(client, prefix=prefix)
    digest = cache.put(store.bundle_bytes(task, str(version)))
    manifest = store.manifest(task, str(version))
    if alias == "champion":
        cache.set_champion(task, str(version), digest, manifest, str(manifest["feature_set"]))
        cache.set_champion(task, str(version), digest, manifest)
    else:
        ref = {"version": str(version), "sha256": digest, "feature_set": manifest["feature_set"]}
        client.hset(aliases, alias, json.dumps(ref, sort_keys=True))


def challenger_from_redis(settings: Settings, task: Task) -> TaskModel | None:
    """The task's challenger from the Redis cache alone (verified), or None."""
    client = redis_client(settings)
    try:
        raw = client.hget(_aliases_key(settings.registry_cache_prefix, task), "challenger")
        if raw is None:
            return None
        ref = json.loads(raw)
        data = BundleCache(client, prefix=settings.registry_cache_prefix).get(str(ref["sha256"]))
    finally:
        client.close()
    if data is None:
        raise RegistryError(f"Redis names challenger {ref['sha256']} of {task.value} without it")
    return load_bundle_bytes(data, expected_sha256=str(ref["sha256"]))


class ChangeListener:
    """Waits for a change announcement (blocking; run it in a thread). Survives Redis outages:
    a broken subscription is dropped and made again at the next wait."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._pubsub: Any = None

    def wait(self, timeout: float) -> bool:
        """Whether an announcement arrived within ``timeout`` seconds."""
        import time

        import redis

        deadline = time.monotonic() + timeout
        try:
            if self._pubsub is None:
                self._client = redis_client(self.settings, timeout=max(timeout, 1.0))
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                self._pubsub.subscribe(f"{self.settings.registry_cache_prefix}changes")
            while (left := deadline - time.monotonic()) > 0:
                message = self._pubsub.get_message(timeout=left)
                if message is not None and message.get("type") == "message":
                    return True
            return False
        except (redis.RedisError, OSError):
            self.close()
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False

    def close(self) -> None:
        for resource in (self._pubsub, self._client):
            if resource is not None:
                try:
                    resource.close()
                except Exception:  # closing a broken connection
                    logger.debug("closing the change listener", exc_info=True)
        self._pubsub = self._client = None
