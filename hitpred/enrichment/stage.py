"""The enrichment stage of the pipeline, built from settings.

:func:`build_enricher` wires the lyrics encoders (the default one and per-language ones),
the language detector, the audio policy and the embedding cache; :func:`enrich_messages` is
the pure batch function the worker runs in its executor: ``hitpred.releases.v1`` messages in,
serialized ``EnrichedTrack`` records and dead letters out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hitpred.enrichment.cache import EmbeddingCache
from hitpred.enrichment.enricher import AudioEmbedder, Enricher, EnrichLimits
from hitpred.errors import EnrichmentError, MissingExtraError
from hitpred.intake import BatchResult, OutRecord, RawMessage, dead_letter, validate_batch

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = ["build_enricher", "enrich_messages"]

logger = logging.getLogger(__name__)


def build_enricher(
    settings: Settings, *, audio_encoder: AudioEmbedder | None = None, redis_client: object = None
) -> Enricher:
    """An :class:`Enricher` for ``settings``: lyrics encoders, language detection, the audio
    policy and the Redis embedding cache. Without the ``lyrics`` extra, lyrics are not
    embedded (a warning says so); without the ``audio`` extra, audio references become dead
    letters naming the extra."""
    from hitpred.champions import load_audio_encoder
    from hitpred.features.audio_source import AudioPolicy, fetch_audio

    if audio_encoder is None:
        audio_encoder = load_audio_encoder(settings)

    if redis_client is not None:
        cache = EmbeddingCache(
            redis_client,
            prefix=settings.embedding_cache_prefix,
            ttl_s=settings.embedding_cache_ttl_s,
        )
    else:
        cache = EmbeddingCache.from_url(
            settings.redis_connection_url,
            prefix=settings.embedding_cache_prefix,
            ttl_s=settings.embedding_cache_ttl_s,
        )
    lyrics_for = None
    detect = None
    try:
        from hitpred.features.language import detect_languages
        from hitpred.features.lyrics import LyricsEncoders

        encoders = LyricsEncoders.load(
            settings.lyrics_model_dirs,
            default_dir=settings.lyrics_model_dir,
            runtime=settings.lyrics_runtime,
            max_tokens=settings.lyrics_max_tokens,
            cache_dir=settings.model_cache_dir,
        )
        lyrics_for = encoders.for_language
        detect = detect_languages
    except (MissingExtraError, ImportError) as exc:
        logger.warning("lyrics will not be embedded: %s", exc)
    policy = AudioPolicy(
        root=settings.audio_root,
        allow_http=settings.audio_allow_http,
        allowed_hosts=settings.allowed_hosts,
        max_bytes=settings.audio_max_bytes,
        timeout_s=settings.audio_timeout_s,
    )

    def fetch(ref: str) -> bytes:
        return fetch_audio(ref, policy)

    limits = EnrichLimits(
        lyrics_max_chars=settings.lyrics_max_chars,
        excerpt_s=settings.audio_excerpt_s,
        max_duration_s=settings.audio_max_duration_s,
    )
    return Enricher(
        cache=cache,
        limits=limits,
        lyrics_for=lyrics_for,
        detect=detect,
        fetch=fetch,
        audio_encoder=audio_encoder,
    )


def enrich_messages(enricher: Enricher, messages: Sequence[RawMessage]) -> BatchResult:
    """``hitpred.releases.v1`` messages -> serialized ``EnrichedTrack`` records + dead letters
    (stage ``decode``/``validate`` for bad events, ``enrich`` for lyrics or audio that could
    not be used)."""
    started = time.perf_counter()
    valid, dead = validate_batch(messages)
    decoded = time.perf_counter()
    outcomes = enricher.enrich([event for _, event in valid])
    enriched = time.perf_counter()
    records: list[OutRecord] = []
    for (message, event), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, EnrichmentError):
            dead.append(dead_letter(message, "enrich", outcome, event.event_id))
            continue
        records.append(
            OutRecord(
                key=message.key or event.track_id.encode(),
                value=outcome.to_json(),
                event_id=event.event_id,
            )
        )
    done = time.perf_counter()
    return BatchResult(
        records=records,
        dead_letters=dead,
        timings_s={
            "decode": decoded - started,
            "enrich": enriched - decoded,
            "serialize": done - enriched,
        },
    )
