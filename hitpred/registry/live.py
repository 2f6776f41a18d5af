"""The live registry: which versions are served now, and telling running workers of a change.

A promotion, a rollback or a new challenger changes a pointer in the registry folder (see
:mod:`hitpred.registry.store`, the durable record) and is then announced through Redis:

    <prefix>changes           pub/sub channel: one message (the history entry, JSON) per change
    <prefix>history:<task>    list: the same entries, a mirror of ``<task>/history.jsonl``

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

from hitpred.models.base import Task
from hitpred.registry.remote import open_registry

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = ["ChangeListener", "announce", "served_state"]

logger = logging.getLogger(__name__)

#: The tasks whose pointers a worker watches (what :func:`hitpred.champions.load_models` reads).
WATCHED_TASKS: tuple[Task, ...] = (
    Task.HIT,
    Task.POPULARITY,
    Task.GENRE,
    Task.TIER,
    Task.MULTITASK,
)


def _client(settings: Settings, timeout: float = 2.0) -> Any:
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
    client = _client(settings)
    try:
        for task in WATCHED_TASKS:
            raw = client.hgetall(f"{settings.registry_cache_prefix}champions:{task.value}")
            pointers = {
                (k.decode() if isinstance(k, bytes) else str(k)): str(json.loads(v)["version"])
                for k, v in raw.items()
            }
            if pointers:
                state[task.value] = pointers
    finally:
        client.close()
    return state


def announce(settings: Settings, entry: dict[str, Any]) -> bool:
    """Mirror a history entry to Redis and notify the workers; False (with a warning) when Redis
    cannot be reached: the workers then see the change at their next poll of the folder."""
    import redis

    prefix = settings.registry_cache_prefix
    payload = json.dumps(entry, sort_keys=True)
    client = _client(settings)
    try:
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
                self._client = _client(self.settings, timeout=max(timeout, 1.0))
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
