"""``hitpred models verify``: every stored and every cached bundle against its sha256."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hitpred.errors import HitPredError
from hitpred.registry.integrity import sha256_bytes, unpack_bundle, verify_folder
from hitpred.registry.live import redis_client
from hitpred.registry.remote import MirroredStore
from hitpred.registry.store import RegistryStore

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = ["verify_all"]

logger = logging.getLogger(__name__)


def verify_all(store: RegistryStore, settings: Settings) -> Iterator[tuple[str, str | None]]:
    """(where, None) for each bundle that matches its manifest, (where, why) for each that does
    not: every version in the registry folder, then every archive in the Redis cache (skipped,
    with a warning, when Redis cannot be reached)."""
    import redis

    with tempfile.TemporaryDirectory(prefix="hitpred-verify-") as fresh:
        if isinstance(store, MirroredStore):
            # The store's bytes as they are now, not the copies mirrored earlier.
            store = MirroredStore(store.uri, Path(fresh))
        for task in store.tasks():
            for version in store.versions(task):
                folder = store.root / task.value / version
                where = (
                    f"{store.uri}/{task.value}/{version}"
                    if isinstance(store, MirroredStore)
                    else str(folder)
                )
                try:
                    verify_folder(folder, store.manifest(task, version))
                except HitPredError as exc:
                    yield where, str(exc)
                else:
                    yield where, None
    prefix = f"{settings.registry_cache_prefix}bundle:"
    client = redis_client(settings, timeout=5)
    try:
        for key in client.scan_iter(f"{prefix}*", count=100):
            name = key.decode() if isinstance(key, bytes) else str(key)
            data = client.get(key)
            archive = data.encode() if isinstance(data, str) else data
            yield f"redis:{name}", _check_archive(archive, name[len(prefix) :])
    except redis.RedisError as exc:
        logger.warning("Redis cache not checked (%s)", exc)
    finally:
        client.close()


def _check_archive(data: bytes | None, digest: str) -> str | None:
    if data is None:
        return None  # expired between the scan and the read
    actual = sha256_bytes(data)
    if actual != digest:
        return f"archive sha256 {actual} is not its key's {digest}"
    with tempfile.TemporaryDirectory(prefix="hitpred-verify-") as tmp:
        try:
            unpack_bundle(data, Path(tmp))
        except HitPredError as exc:
            return str(exc)
    return None
