"""The one-pass hot path: releases in, predictions out, the same as enrich-then-score."""

from __future__ import annotations

import orjson
import pytest

from hitpred.baseline import malformed_release_messages, synthetic_release_events
from hitpred.enrichment import EmbeddingCache, Enricher, EnrichLimits
from hitpred.enrichment.stage import enrich_messages
from hitpred.intake import RawMessage
from hitpred.models.base import Task, TaskModel
from hitpred.pipeline import process_releases
from hitpred.scoring import Scorer
from tests.unit.enrichment.test_enricher import CountingEncoder


@pytest.fixture(scope="module")
def scorer(baseline_models: dict[Task, TaskModel]) -> Scorer:
    return Scorer(baseline_models)


def _enricher(encoder: CountingEncoder) -> Enricher:
    return Enricher(
        cache=EmbeddingCache(None, prefix="t:", ttl_s=60),
        limits=EnrichLimits(lyrics_max_chars=200),
        lyrics_for=lambda language: encoder,
        detect=lambda texts: ["en" for _ in texts],
    )


def _batch() -> list[RawMessage]:
    events = synthetic_release_events(60, seed=3)
    for i, event in enumerate(events):
        if i % 3 == 0:
            event["lyrics"] = f"la la love number {i}"
        if i % 10 == 5:
            event["lyrics"] = "x" * 500  # over the limit: an enrich dead letter
    messages = [
        RawMessage(orjson.dumps(e), str(e["track_id"]).encode(), "releases", i % 4, i)
        for i, e in enumerate(events)
    ]
    for j, (_, key, value) in enumerate(malformed_release_messages(6, seed=4)):
        messages.insert(j * 9 + 1, RawMessage(value, key, "releases", 0, 1000 + j))
    return messages


def _comparable(value: bytes) -> dict[str, object]:
    prediction = orjson.loads(value)
    prediction.pop("scored_at")
    prediction.pop("timings")
    return prediction


def test_one_pass_equals_enrich_then_score(scorer: Scorer) -> None:
    messages = _batch()
    encoder = CountingEncoder()
    fused = process_releases(scorer, _enricher(encoder), messages)

    enriched = enrich_messages(_enricher(CountingEncoder()), messages)
    split = scorer.score_enriched(
        [RawMessage(r.value, r.key, "enriched", 0, i) for i, r in enumerate(enriched.records)]
    )
    assert [r.event_id for r in fused.records] == [r.event_id for r in split.records]
    assert [r.key for r in fused.records] == [r.key for r in split.records]
    assert [_comparable(r.value) for r in fused.records] == [
        _comparable(r.value) for r in split.records
    ]
    fused_dead = sorted((d.stage, d.source_offset, d.reason) for d in fused.dead_letters)
    split_dead = sorted((d.stage, d.source_offset, d.reason) for d in enriched.dead_letters)
    assert fused_dead == split_dead
    assert {d.stage for d in fused.dead_letters} == {"decode", "validate", "enrich"}
    assert len(fused.records) + len(fused.dead_letters) == len(messages)
    # Only releases with lyrics within the limit reached the encoder: 20 had short lyrics,
    # two of which (15 and 45) were replaced by oversized ones.
    assert len(encoder.calls) == 18
    with_lyrics = [orjson.loads(r.value) for r in fused.records if b'"lyrics"' in r.value]
    assert with_lyrics and all(p["language"] == "en" for p in with_lyrics)


def test_without_an_enricher_releases_are_scored_from_what_they_carry(scorer: Scorer) -> None:
    messages = _batch()
    result = process_releases(scorer, None, messages)
    assert len(result.records) == 60
    assert {d.stage for d in result.dead_letters} == {"decode", "validate"}
    assert all("lyrics" not in orjson.loads(r.value).get("inputs", []) for r in result.records)
    assert set(result.timings_s) >= {"decode", "enrich", "frame", "predict", "serialize"}
