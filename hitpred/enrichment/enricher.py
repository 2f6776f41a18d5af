"""Enrichment: a validated release in, an :class:`~hitpred.schemas.EnrichedTrack` out.

Per batch, off the event loop:

- **lyrics**: language detection, then one sentence embedding per release (the encoder of its
  language when one is configured, else the default), batched per encoder; embeddings already
  in the cache (same text, same encoder) cost no model call;
- **audio**: the ``audio_ref`` is read under the :class:`~hitpred.features.audio_source.AudioPolicy`
  (a root folder, an http allow-list, byte and time limits), decoded to a bounded excerpt,
  analysed (tempo, key, mode, loudness, duration and the GTZAN layout) and, when an audio
  encoder is registered, embedded; analyses and embeddings are cached by the audio's hash.

A descriptor the release carried is never replaced; one it lacked and that the audio yields
honestly (:data:`~hitpred.features.vector.ESTIMABLE_DESCRIPTORS`) is filled in and named in
``estimated``. A release whose lyrics are too long, or whose audio cannot be read, decoded or
analysed, becomes a dead letter with the reason; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import orjson

from hitpred import metrics
from hitpred.enrichment.cache import EmbeddingCache, content_hash
from hitpred.errors import EnrichmentError, HitPredError
from hitpred.features.vector import ESTIMABLE_DESCRIPTORS
from hitpred.intake import carries_descriptors
from hitpred.schemas import Embedding, EnrichedTrack, InputKind, ReleaseEvent

__all__ = ["ANALYSIS_VERSION", "AudioEmbedder", "EnrichLimits", "Enricher", "LyricsEmbedder"]

logger = logging.getLogger(__name__)

#: Bumped whenever the audio analysis changes, so cached analyses of older code are not reused.
ANALYSIS_VERSION = "essentia-librosa-1"


class LyricsEmbedder(Protocol):
    """What enrichment needs of a lyrics encoder (see :mod:`hitpred.features.lyrics`)."""

    model_id: str
    runtime_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class AudioEmbedder(Protocol):
    """What enrichment needs of an audio encoder (see :mod:`hitpred.models.audio_cnn`)."""

    model_id: str
    dim: int
    sample_rate: int

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class EnrichLimits:
    """Input limits (from the ``HITPRED_LYRICS_*`` / ``HITPRED_AUDIO_*`` settings)."""

    lyrics_max_chars: int = 20_000
    sample_rate: int = 22_050
    excerpt_s: float = 30.0
    max_duration_s: float = 1200.0


@dataclass
class _Work:
    """What enrichment found for one release of the batch."""

    lyrics: Embedding | None = None
    language: str | None = None
    audio: Embedding | None = None
    descriptors: dict[str, float] | None = None
    gtzan: dict[str, float] | None = None
    error: EnrichmentError | None = None
    ms: float = 0.0


class Enricher:
    """Enriches batches of validated releases; one instance per worker, one thread at a time.

    ``lyrics_for(language)`` returns the encoder for a language code (or None: the default);
    ``detect`` maps texts to language codes. Either may be None: lyrics are then not embedded
    and the prediction does not list them as an input. ``fetch`` reads an ``audio_ref`` (None:
    audio references are not followed).
    """

    def __init__(
        self,
        *,
        cache: EmbeddingCache,
        limits: EnrichLimits,
        lyrics_for: Callable[[str | None], LyricsEmbedder] | None = None,
        detect: Callable[[Sequence[str]], list[str | None]] | None = None,
        fetch: Callable[[str], bytes] | None = None,
        audio_encoder: AudioEmbedder | None = None,
    ) -> None:
        self.cache = cache
        self.limits = limits
        self.lyrics_for = lyrics_for
        self.detect = detect
        self.fetch = fetch
        self.audio_encoder = audio_encoder

    def warm_up(self) -> None:
        """Run each model once on generated input at start-up, so the first real release does
        not pay for lazy initialisation (librosa's numba compilation took ~19 s on a fresh
        install here) and a broken install shows before any event is consumed."""
        started = time.perf_counter()
        if self.lyrics_for is not None:
            self.lyrics_for(None).encode(["warming up the lyrics encoder"])
        if self.fetch is not None:
            try:
                from hitpred.features.audio import Clip
            except ImportError as exc:
                logger.warning("audio analysis unavailable: %s", exc)
                return
            rate = self.limits.sample_rate
            t = np.arange(3 * rate, dtype="float32") / rate
            tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype("float32")
            clip = Clip(samples=tone, sample_rate=rate, duration_s=3.0, sha256="")
            _analyse(clip)
            if self.audio_encoder is not None:
                self.audio_encoder.embed([tone])
        logger.info("enrichment models warmed up in %.1fs", time.perf_counter() - started)

    # -- the batch --------------------------------------------------------------------------

    def enrich(
        self, events: Sequence[ReleaseEvent], *, received_at: datetime | None = None
    ) -> list[EnrichedTrack | EnrichmentError]:
        """One enriched track per event, or the error that stopped it, in input order."""
        received = received_at or datetime.now(UTC)
        work = [_Work() for _ in events]
        self._lyrics(events, work)
        self._audio(events, work)
        now = datetime.now(UTC)
        out: list[EnrichedTrack | EnrichmentError] = []
        for event, item in zip(events, work, strict=True):
            if item.error is not None:
                out.append(item.error)
                continue
            out.append(_track(event, item, received, now))
        return out

    # -- lyrics ---------------------------------------------------------------------------------

    def _lyrics(self, events: Sequence[ReleaseEvent], work: list[_Work]) -> None:
        rows = [i for i, e in enumerate(events) if e.lyrics and e.lyrics.strip()]
        if not rows or self.lyrics_for is None:
            return
        started = time.perf_counter()
        limit = self.limits.lyrics_max_chars
        kept: list[int] = []
        for i in rows:
            size = len(events[i].lyrics or "")
            if size > limit:
                work[i].error = EnrichmentError(
                    f"lyrics are {size:,} characters, over the limit of {limit:,} "
                    "(HITPRED_LYRICS_MAX_CHARS)"
                )
            else:
                kept.append(i)
        texts = [(events[i].lyrics or "").strip() for i in kept]
        languages = self.detect(texts) if self.detect else [None] * len(texts)
        by_encoder: dict[str, tuple[LyricsEmbedder, list[int]]] = {}
        for i, language in zip(kept, languages, strict=True):
            work[i].language = language
            encoder = self.lyrics_for(language)
            by_encoder.setdefault(encoder.runtime_id, (encoder, []))[1].append(i)
        for encoder, members in by_encoder.values():
            try:
                vectors = self._embed_lyrics(
                    encoder, [(events[i].lyrics or "").strip() for i in members]
                )
            except Exception as exc:  # the group's lyrics become dead letters, not a crash
                logger.warning("lyrics embedding with %s failed", encoder.runtime_id, exc_info=True)
                for i in members:
                    work[i].error = EnrichmentError(f"lyrics embedding failed ({_brief(exc)})")
                continue
            for i, vector in zip(members, vectors, strict=True):
                if np.isfinite(vector).all():
                    work[i].lyrics = Embedding.of(vector, encoder.model_id)
                else:
                    work[i].error = EnrichmentError("lyrics embedding is not finite")
        elapsed = time.perf_counter() - started
        metrics.ENRICH_LATENCY.labels("lyrics").observe(elapsed)
        for i in kept:
            work[i].ms += elapsed * 1000.0 / len(kept)

    def _embed_lyrics(self, encoder: LyricsEmbedder, texts: list[str]) -> list[np.ndarray]:
        """Embeddings of ``texts``: from the cache where present, else from the encoder."""
        keys = [self.cache.key("lyrics", encoder.runtime_id, content_hash(t)) for t in texts]
        found = self.cache.get_many("lyrics", keys)
        vectors: list[np.ndarray | None] = [
            _unpack(raw, encoder.dim) if raw is not None else None for raw in found
        ]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            computed = np.asarray(encoder.encode([texts[i] for i in missing]), dtype="float32")
            for i, vector in zip(missing, computed, strict=True):
                vectors[i] = vector
            self.cache.put_many([(keys[i], _pack(vectors[i])) for i in missing])
        return [v for v in vectors if v is not None]

    # -- audio ----------------------------------------------------------------------------------

    def _audio(self, events: Sequence[ReleaseEvent], work: list[_Work]) -> None:
        rows = [i for i, e in enumerate(events) if e.audio_ref and work[i].error is None]
        if not rows:
            return
        started = time.perf_counter()
        for i in rows:
            t0 = time.perf_counter()
            try:
                self._one_audio(events[i].audio_ref or "", work[i])
            except EnrichmentError as exc:
                work[i].error = exc
            except HitPredError as exc:  # e.g. a missing extra: say so, keep the batch going
                work[i].error = EnrichmentError(f"audio analysis unavailable: {exc}")
            except Exception as exc:
                # A decoder or analyser choking on hostile audio condemns this release only;
                # the batch (and its offsets) must go on, or it would be consumed forever.
                logger.warning("audio analysis of %r failed", events[i].event_id, exc_info=True)
                work[i].error = EnrichmentError(f"audio analysis failed ({_brief(exc)})")
            work[i].ms += (time.perf_counter() - t0) * 1000.0
        metrics.ENRICH_LATENCY.labels("audio").observe(time.perf_counter() - started)

    def _one_audio(self, ref: str, item: _Work) -> None:
        if self.fetch is None:
            raise EnrichmentError("audio references are not followed by this worker")
        data = self.fetch(ref)
        digest = content_hash(data)
        excerpt = f"{self.limits.excerpt_s:g}s"
        version = f"{ANALYSIS_VERSION}-{self.limits.sample_rate}hz-{excerpt}"
        keys = [self.cache.key("analysis", version, digest)]
        encoder = self.audio_encoder
        if encoder is not None:
            keys.append(self.cache.key("audio", f"{encoder.model_id}-{excerpt}", digest))
        found = self.cache.get_many("analysis", keys[:1]) + (
            self.cache.get_many("audio embedding", keys[1:]) if encoder else []
        )
        clip: Any = None
        if found[0] is not None:
            analysis = orjson.loads(found[0])
        else:
            clip = self._decode(data)
            analysis = _analyse(clip)
            self.cache.put_many([(keys[0], orjson.dumps(analysis))])
        item.descriptors = {k: float(v) for k, v in analysis["descriptors"].items()}
        item.gtzan = {k: float(v) for k, v in analysis["gtzan"].items()}
        if encoder is None:
            return
        vector = _unpack(found[1], encoder.dim) if found[1] is not None else None
        if vector is None:
            clip = clip if clip is not None else self._decode(data)
            samples = clip.samples
            if clip.sample_rate != encoder.sample_rate:
                raise EnrichmentError(
                    f"the audio encoder expects {encoder.sample_rate} Hz, analysis decodes at "
                    f"{clip.sample_rate} Hz (HITPRED_AUDIO_* settings disagree with the model)"
                )
            vector = np.asarray(encoder.embed([samples]), dtype="float32")[0]
            if not np.isfinite(vector).all():
                raise EnrichmentError("audio embedding is not finite")
            self.cache.put_many([(keys[1], _pack(vector))])
        item.audio = Embedding.of(vector, encoder.model_id)

    def _decode(self, data: bytes) -> Any:
        from hitpred.features.audio import decode_audio

        return decode_audio(
            data,
            sample_rate=self.limits.sample_rate,
            excerpt_s=self.limits.excerpt_s,
            max_duration_s=self.limits.max_duration_s,
        )


def _analyse(clip: Any) -> dict[str, dict[str, float]]:
    """The cacheable part of the audio analysis: estimable descriptors and the GTZAN layout."""
    from hitpred.features.audio import describe_audio

    description = describe_audio(clip)
    return {
        "descriptors": {k: float(v) for k, v in description.descriptors.items()},
        "gtzan": {k: float(v) for k, v in description.gtzan.items()},
    }


def _track(event: ReleaseEvent, item: _Work, received: datetime, now: datetime) -> EnrichedTrack:
    estimated = {
        name: value
        for name, value in (item.descriptors or {}).items()
        if name in ESTIMABLE_DESCRIPTORS and getattr(event, name) is None
    }
    inputs: list[InputKind] = []
    if carries_descriptors(event):
        inputs.append("descriptors")
    if estimated:
        inputs.append("estimated descriptors")
    if item.lyrics is not None:
        inputs.append("lyrics")
    if item.gtzan or item.audio is not None:
        inputs.append("audio")
    return EnrichedTrack.trusted(
        release=event,
        lyrics_embedding=item.lyrics,
        audio_embedding=item.audio,
        language=item.language,
        estimated=estimated,
        audio_features=item.gtzan or {},
        inputs=inputs,
        received_at=received,
        enriched_at=now,
        enrich_ms=item.ms,
    )


def _brief(exc: BaseException) -> str:
    """The error's type and a bounded slice of its message (no traceback, no paths beyond it)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _pack(vector: np.ndarray | None) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _unpack(raw: bytes, dim: int) -> np.ndarray | None:
    """A cached vector, or None when the bytes do not hold ``dim`` floats (recompute)."""
    if len(raw) != 4 * dim:
        return None
    vector = np.frombuffer(raw, dtype="<f4").astype("float32")
    return vector if np.isfinite(vector).all() else None
