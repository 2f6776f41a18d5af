"""The enricher with stand-in encoders: what it adds, what it refuses, what it never invents."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pytest

from hitpred.baseline import synthetic_release_events
from hitpred.enrichment import EmbeddingCache, Enricher, EnrichLimits
from hitpred.enrichment.stage import enrich_messages
from hitpred.errors import EnrichmentError
from hitpred.features.vector import ESTIMABLE_DESCRIPTORS, GTZAN_FEATURES
from hitpred.intake import RawMessage
from hitpred.schemas import DESCRIPTOR_FIELDS, EnrichedTrack, ReleaseEvent

CLIP = Path(__file__).resolve().parents[3].parent / "shared" / "audio"


class CountingEncoder:
    """A deterministic 8-d 'encoder' that counts the texts it was asked to embed."""

    model_id = "fake@1/128"
    runtime_id = "fake@1/128/test"
    dim = 8

    def __init__(self) -> None:
        self.calls: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.extend(texts)
        out = np.array([[len(t) % 7, t.count("a"), 1, 0, 0, 0, 0, 1] for t in texts], "float32")
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _release(**fields: object) -> ReleaseEvent:
    base = {
        "event_id": "e",
        "track_id": "t",
        "title": "Song",
        "artists": ["Someone"],
        "release_date": "2024-05-17",
    }
    return ReleaseEvent.model_validate({**base, **fields})


def _enricher(encoder: CountingEncoder | None = None, **kwargs: object) -> Enricher:
    enc = encoder or CountingEncoder()
    return Enricher(
        cache=EmbeddingCache(None, prefix="t:", ttl_s=60),
        limits=EnrichLimits(lyrics_max_chars=50),
        lyrics_for=lambda language: enc,
        detect=lambda texts: ["en" for _ in texts],
        **kwargs,  # type: ignore[arg-type]
    )


def test_lyrics_become_an_embedding_and_an_input() -> None:
    (track,) = _enricher().enrich([_release(lyrics="la la love")])
    assert isinstance(track, EnrichedTrack)
    assert track.lyrics_embedding is not None and track.lyrics_embedding.model == "fake@1/128"
    assert track.lyrics_embedding.vector().shape == (8,)
    assert track.language == "en" and track.inputs == ["lyrics"]
    assert track.estimated == {} and track.audio_features == {}


def test_descriptors_only_release_passes_through_and_says_so() -> None:
    (track,) = _enricher().enrich([_release(danceability=0.5, tempo=100.0)])
    assert isinstance(track, EnrichedTrack)
    assert track.inputs == ["descriptors"] and track.lyrics_embedding is None


def test_blank_lyrics_are_no_input_and_oversized_ones_an_error() -> None:
    blank, big = _enricher().enrich([_release(lyrics="   "), _release(lyrics="x" * 51)])
    assert isinstance(blank, EnrichedTrack) and blank.inputs == []
    assert isinstance(big, EnrichmentError) and "over the limit of 50" in str(big)


def test_audio_that_cannot_be_fetched_is_an_error_with_the_reason() -> None:
    def refuse(ref: str) -> bytes:
        raise EnrichmentError(f"audio_ref {ref!r} is outside the audio root")

    (out,) = _enricher(fetch=refuse).enrich([_release(audio_ref="/etc/passwd")])
    assert isinstance(out, EnrichmentError) and "outside the audio root" in str(out)
    (off,) = _enricher().enrich([_release(audio_ref="song.wav")])
    assert isinstance(off, EnrichmentError) and "not followed" in str(off)


@pytest.mark.slow
def test_audio_estimates_only_what_the_release_lacks() -> None:
    # Music by Kevin MacLeod (incompetech.com), CC BY 3.0.
    data = (CLIP / "macleod_gs_16b_2c_44100hz.wav").read_bytes()
    given = _release(audio_ref="clip.wav", tempo=99.0, energy=0.8)
    bare = _release(audio_ref="clip.wav")
    with_tempo, estimated = _enricher(fetch=lambda ref: data).enrich([given, bare])
    assert isinstance(with_tempo, EnrichedTrack) and isinstance(estimated, EnrichedTrack)
    # The release's own tempo is kept; the audio fills the rest of the estimable ones only.
    assert "tempo" not in with_tempo.estimated and with_tempo.release.tempo == 99.0
    assert set(estimated.estimated) <= set(ESTIMABLE_DESCRIPTORS)
    assert {"tempo", "duration_ms", "loudness"} <= set(estimated.estimated)
    assert 15_000 <= estimated.estimated["duration_ms"] <= 16_500
    never = set(DESCRIPTOR_FIELDS) - set(ESTIMABLE_DESCRIPTORS)
    assert not never & set(estimated.estimated)  # energy, valence ... are never invented
    assert set(estimated.audio_features) == set(GTZAN_FEATURES)
    assert estimated.inputs == ["estimated descriptors", "audio"]
    assert with_tempo.inputs == ["descriptors", "estimated descriptors", "audio"]
    assert estimated.estimated_fields[0] in ESTIMABLE_DESCRIPTORS


def test_stage_function_dead_letters_enrichment_failures_and_keeps_the_rest() -> None:
    events = synthetic_release_events(3, seed=3)
    events[1]["lyrics"] = "y" * 80
    messages = [
        RawMessage(value=orjson.dumps(e), key=str(e["track_id"]).encode(), topic="r", offset=i)
        for i, e in enumerate(events)
    ]
    result = enrich_messages(_enricher(), messages)
    assert [r.event_id for r in result.records] == [events[0]["event_id"], events[2]["event_id"]]
    (letter,) = result.dead_letters
    assert letter.stage == "enrich" and letter.event_id == events[1]["event_id"]
    assert "over the limit" in letter.reason and letter.source_offset == 1


def test_an_analyser_crash_is_one_dead_letter_not_a_lost_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hitpred.enrichment.enricher as enricher_module

    def boom(clip: object) -> dict[str, dict[str, float]]:
        raise RuntimeError("librosa: Input must be finite\nTraceback (most recent call last)")

    monkeypatch.setattr(enricher_module, "_analyse", boom)
    monkeypatch.setattr(Enricher, "_decode", lambda self, data: object())
    bad, good = _enricher(fetch=lambda ref: b"bytes").enrich(
        [_release(audio_ref="x.wav"), _release(lyrics="la la")]
    )
    assert isinstance(bad, EnrichmentError)
    assert str(bad) == "audio analysis failed (RuntimeError: librosa: Input must be finite)"
    assert isinstance(good, EnrichedTrack) and good.inputs == ["lyrics"]


def test_an_encoder_crash_or_nan_is_a_dead_letter_per_release() -> None:
    class Broken(CountingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            out = super().encode(texts)
            out[0] = np.nan
            return out

    nan, fine = _enricher(Broken()).enrich([_release(lyrics="one"), _release(lyrics="two")])
    assert isinstance(nan, EnrichmentError) and "not finite" in str(nan)
    assert isinstance(fine, EnrichedTrack) and fine.lyrics_embedding is not None
