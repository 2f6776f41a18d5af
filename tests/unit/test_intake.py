"""The pass-through of releases scored without enrichment: unchecked copies, same tracks."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

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
    # Copies share nothing mutable with one another.
    assert tracks[0].estimated is not tracks[1].estimated
    assert tracks[0].inputs is not tracks[1].inputs
    assert enrich_batch([]) == []


def test_a_trusted_copy_changes_only_what_it_is_given() -> None:
    now = datetime.now(UTC)
    events = synthetic_release_events(2, seed=4)
    first, second = (
        validate_batch([RawMessage(value=orjson.dumps(e), key=None)], require_key=False)[0][0][1]
        for e in events
    )
    track = EnrichedTrack(release=first, received_at=now, enriched_at=now, enrich_ms=1.5)
    copy = track.trusted_copy(release=second, language="en")
    assert copy.release is second and copy.language == "en" and copy.enrich_ms == 1.5
    assert track.release is first and track.language is None  # the original is untouched
    # Which fields count as set, as pydantic's own copy says.
    expected = track.model_copy(update={"release": second, "language": "en"})
    assert copy.__pydantic_fields_set__ == expected.__pydantic_fields_set__
    assert "language" not in track.__pydantic_fields_set__
    with pytest.raises(TypeError, match="unknown"):
        track.trusted_copy(colour="red")
