"""The Redis cache of embeddings and audio analyses, keyed by content hash and model id.

A replayed or re-released track costs no model call: the lyrics embedding is found under the
hash of the lyrics text and the encoder's runtime id, an audio analysis under the hash of the
audio bytes and the analysis version, an audio embedding under the hash and the encoder id.
Keys (``prefix`` defaults to ``hitpred:emb:``), every one with a TTL::

    <prefix>lyrics:<encoder runtime id>:<sha256 of the text>    float32 bytes
    <prefix>analysis:<analysis version>:<sha256 of the audio>   JSON (descriptors, GTZAN layout)
    <prefix>audio:<encoder id>:<sha256 of the audio>            float32 bytes

Redis is an accelerator here, never a dependency: when it does not answer, the value is
computed and the miss counted as ``error``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from hitpred import metrics

__all__ = ["EmbeddingCache", "content_hash"]

logger = logging.getLogger(__name__)


def content_hash(data: bytes | str) -> str:
    """The sha256 hex digest of ``data`` (text is hashed as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


class EmbeddingCache:
    """Get and put many values at once (one round trip each way per batch)."""

    def __init__(self, client: Any | None, *, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._warned = False

    @classmethod
    def from_url(cls, url: str, *, prefix: str, ttl_s: int) -> EmbeddingCache:
        """A cache on a new client for ``url`` (short time-outs: it must never stall a batch)."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, prefix=prefix, ttl_s=ttl_s)

    def key(self, kind: str, model: str, digest: str) -> str:
        """The Redis key of one value."""
        return f"{self.prefix}{kind}:{model}:{digest}"

    def get_many(self, kind: str, keys: Sequence[str]) -> list[bytes | None]:
        """The stored values of ``keys`` (None where absent or when Redis does not answer)."""
        if not keys:
            return []
        if self.client is None:
            return [None] * len(keys)
        try:
            found = list(self.client.mget(list(keys)))
        except Exception as exc:  # any client or connection failure: compute instead
            self._warn(exc)
            metrics.EMBEDDING_CACHE.labels(kind, "error").inc(len(keys))
            return [None] * len(keys)
        self._warned = False
        hits = sum(value is not None for value in found)
        metrics.EMBEDDING_CACHE.labels(kind, "hit").inc(hits)
        metrics.EMBEDDING_CACHE.labels(kind, "miss").inc(len(keys) - hits)
        return [bytes(value) if value is not None else None for value in found]

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store values with the TTL (best effort)."""
        if not items or self.client is None:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value, ex=self.ttl_s)
            pipe.execute()
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            logger.warning("embedding cache unavailable, computing instead: %s", exc)
            self._warned = True
