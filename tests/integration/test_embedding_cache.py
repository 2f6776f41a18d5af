"""The embedding cache on the real Redis: keys by content hash and model, TTLs, hits that
spare the encoders, and an unreachable Redis that only costs recomputation."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import redis

from hitpred import metrics
from hitpred.enrichment import EmbeddingCache, Enricher, EnrichLimits, content_hash
from hitpred.schemas import EnrichedTrack, ReleaseEvent

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("HITPRED_REDIS_URL", "redis://127.0.0.1:6379/0")
CLIP = Path(__file__).resolve().parents[2].parent / "shared" / "audio"


@pytest.fixture
def cache() -> Iterator[EmbeddingCache]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"hitpred-test-{uuid.uuid4().hex[:10]}:emb:"
    yield EmbeddingCache(client, prefix=prefix, ttl_s=120)
    for key in client.scan_iter(f"{prefix}*"):  # only this test's own keys
        client.delete(key)


class Counting:
    """Stand-in encoders that count their calls."""

    model_id = "fake@1/128"
    runtime_id = "fake@1/128/test"
    dim = 8
    sample_rate = 22050

    def __init__(self) -> None:
        self.texts = 0
        self.clips = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return np.tile(np.eye(8, dtype="float32")[0], (len(texts), 1))

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        self.clips += len(clips)
        return np.tile(np.eye(8, dtype="float32")[1], (len(clips), 1))


def _release(i: int, **fields: object) -> ReleaseEvent:
    return ReleaseEvent.model_validate(
        {
            "event_id": f"e{i}",
            "track_id": f"t{i}",
            "title": "Song",
            "artists": ["A"],
            "release_date": "2024-01-01",
            **fields,
        }
    )


def test_values_live_under_content_hash_and_model_with_a_ttl(cache: EmbeddingCache) -> None:
    key = cache.key("lyrics", "enc@1/128/onnx", content_hash("la la"))
    assert key.endswith(content_hash("la la")) and ":lyrics:enc@1/128/onnx:" in key
    assert cache.get_many("lyrics", [key]) == [None]
    cache.put_many([(key, b"\x00" * 16)])
    assert cache.get_many("lyrics", [key]) == [b"\x00" * 16]
    assert 0 < cache.client.ttl(key) <= 120


def test_replayed_lyrics_and_audio_cost_no_model_call(cache: EmbeddingCache) -> None:
    # Music by Kevin MacLeod (incompetech.com), CC BY 3.0.
    data = (CLIP / "macleod_gs_16b_2c_44100hz.flac").read_bytes()
    fake = Counting()
    enricher = Enricher(
        cache=cache,
        limits=EnrichLimits(),
        lyrics_for=lambda language: fake,
        detect=lambda texts: [None] * len(texts),
        fetch=lambda ref: data,
        audio_encoder=fake,
    )
    release = _release(1, lyrics="hello hello", audio_ref="a.flac")
    first = enricher.enrich([release])[0]
    assert isinstance(first, EnrichedTrack) and (fake.texts, fake.clips) == (1, 1)
    hits = metrics.EMBEDDING_CACHE.labels("lyrics", "hit")._value.get()
    # A replay and a re-release of the same audio and lyrics under another id.
    again = enricher.enrich([release, _release(2, lyrics="hello hello", audio_ref="b.flac")])
    assert (fake.texts, fake.clips) == (1, 1)
    assert metrics.EMBEDDING_CACHE.labels("lyrics", "hit")._value.get() == hits + 2
    for track in again:
        assert isinstance(track, EnrichedTrack)
        assert track.audio_embedding == first.audio_embedding
        assert track.lyrics_embedding == first.lyrics_embedding
        assert track.estimated == first.estimated and track.audio_features == first.audio_features


def test_an_unreachable_redis_only_means_computing_again() -> None:
    dead = EmbeddingCache.from_url("redis://127.0.0.1:1/0", prefix="x:", ttl_s=60)
    fake = Counting()
    enricher = Enricher(cache=dead, limits=EnrichLimits(), lyrics_for=lambda language: fake)
    errors = metrics.EMBEDDING_CACHE.labels("lyrics", "error")._value.get()
    for _ in range(2):
        (track,) = enricher.enrich([_release(1, lyrics="no cache today")])
        assert isinstance(track, EnrichedTrack) and track.lyrics_embedding is not None
    assert fake.texts == 2
    assert metrics.EMBEDDING_CACHE.labels("lyrics", "error")._value.get() == errors + 2
