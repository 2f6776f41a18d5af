"""The pass-through of releases scored without enrichment: unchecked, the same tracks."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from hitpred.baseline import synthetic_release_events
from hitpred.intake import RawMessage, enrich_batch, validate_batch
from hitpred.schemas import DESCRIPTOR_FIELDS, EnrichedTrack


def test_the_pass_through_builds_the_tracks_validation_would() -> None:
    events = synthetic_release_events(6, seed=3)
    events[2] = {k: v for k, v in events[2].items() if k not in DESCRIPTOR_FIELDS}
    messages = [
        RawMessage(value=orjson.dumps(e), key=str(e["track_id"]).encode(), offset=i)
        for i, e in enumerate(events)
    ]
    valid, dead = validate_batch(messages)
    assert not dead
    now = datetime.now(UTC)
    tracks = enrich_batch(valid, received_at=now)
    expected = [
        EnrichedTrack(
            release=event,
            received_at=now,
            enriched_at=now,
            enrich_ms=0.0,
            inputs=[] if i == 2 else ["descriptors"],
        )
        for i, (_, event) in enumerate(valid)
    ]
    assert [t.model_dump() for t in tracks] == [t.model_dump() for t in expected]
    assert [t.to_json() for t in tracks] == [t.to_json() for t in expected]
    assert enrich_batch([]) == []
