"""The event schemas: optional parts, ranges, unknown fields, types, tiers, dead letters."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from hitpred.errors import EventValidationError
from hitpred.json_keys import duplicate_key
from hitpred.schemas import (
    DEAD_LETTER_MAX_ORIGINAL_BYTES,
    DESCRIPTOR_FIELDS,
    Contribution,
    DeadLetter,
    Embedding,
    EnrichedTrack,
    GenrePrediction,
    GenreScore,
    HitPrediction,
    ModelRef,
    PopularityPrediction,
    Prediction,
    ReleaseEvent,
    Tier,
    TierPrediction,
    Timings,
    decode_release,
    describe_validation_error,
    popularity_tier,
)

MINIMAL = {
    "event_id": "e-1",
    "track_id": "t-1",
    "title": "Song",
    "artists": ["Someone"],
    "release_date": "2024-05-17",
}

FULL = {
    **MINIMAL,
    "genres": ["pop", "dance"],
    "danceability": 0.7,
    "energy": 0.6,
    "key": 5,
    "loudness": -6.5,
    "mode": 1,
    "speechiness": 0.05,
    "acousticness": 0.1,
    "instrumentalness": 0.0,
    "liveness": 0.12,
    "valence": 0.5,
    "tempo": 120.0,
    "duration_ms": 200_000,
    "time_signature": 4,
    "chorus_hit": 35.2,
    "sections": 9,
    "lyrics": "la la la",
    "audio_ref": "file:///tmp/song.wav",
    "produced_at": "2024-05-17T10:00:00+02:00",
}


def test_minimal_event_leaves_every_optional_part_empty() -> None:
    event = ReleaseEvent.model_validate(MINIMAL)
    assert event.genres == []
    assert all(value is None for value in event.descriptors.values())
    assert event.lyrics is None and event.audio_ref is None
    assert event.produced_at.tzinfo is not None


def test_full_event_round_trips_through_json() -> None:
    event = ReleaseEvent.model_validate(FULL)
    again = ReleaseEvent.model_validate_json(event.to_json())
    assert again == event
    assert list(event.descriptors) == list(DESCRIPTOR_FIELDS)
    assert event.release_date == date(2024, 5, 17)
    assert event.produced_at == datetime(2024, 5, 17, 8, 0, tzinfo=UTC)


def test_to_json_leaves_out_none() -> None:
    payload = orjson.loads(ReleaseEvent.model_validate(MINIMAL).to_json())
    assert "danceability" not in payload and "lyrics" not in payload


def test_naive_produced_at_is_taken_as_utc() -> None:
    event = ReleaseEvent.model_validate({**MINIMAL, "produced_at": "2024-01-01T12:00:00"})
    assert event.produced_at.tzinfo is not None
    assert event.produced_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("danceability", -0.01),
        ("danceability", 1.01),
        ("energy", 2),
        ("valence", -1),
        ("key", -2),
        ("key", 12),
        ("loudness", -61),
        ("loudness", 10.5),
        ("mode", 2),
        ("tempo", 0),
        ("tempo", 301),
        ("duration_ms", 0),
        ("duration_ms", 10_800_001),
        ("time_signature", 8),
        ("chorus_hit", -1),
        ("sections", -1),
    ],
)
def test_out_of_range_descriptors_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as info:
        ReleaseEvent.model_validate({**MINIMAL, field: value})
    assert info.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("field", "value"),
    [("danceability", 0.0), ("danceability", 1.0), ("key", -1), ("key", 11), ("mode", 0),
     ("loudness", -60.0), ("tempo", 300.0), ("time_signature", 0)],
)  # fmt: skip
def test_range_edges_are_accepted(field: str, value: float) -> None:
    assert getattr(ReleaseEvent.model_validate({**MINIMAL, field: value}), field) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("danceability", "high"),
        ("artists", "Someone"),
        ("artists", [1]),
        ("release_date", "yesterday"),
        ("title", 42),
        ("genres", "pop"),
        ("duration_ms", 200.5),
    ],
)
def test_wrong_types_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ReleaseEvent.model_validate({**MINIMAL, field: value})


@pytest.mark.parametrize("field", ["event_id", "track_id", "title", "artists", "release_date"])
def test_required_fields(field: str) -> None:
    payload = {k: v for k, v in MINIMAL.items() if k != field}
    with pytest.raises(ValidationError) as info:
        ReleaseEvent.model_validate(payload)
    assert info.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize(
    ("field", "value"), [("event_id", ""), ("title", ""), ("artists", []), ("artists", [""])]
)
def test_empty_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ReleaseEvent.model_validate({**MINIMAL, field: value})


def test_unknown_fields_are_rejected_everywhere() -> None:
    with pytest.raises(ValidationError) as info:
        ReleaseEvent.model_validate({**MINIMAL, "danceabilty": 0.5})
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        ModelRef.model_validate({"name": "x", "version": "1", "stage": "prod"})


def test_events_are_frozen() -> None:
    event = ReleaseEvent.model_validate(MINIMAL)
    with pytest.raises(ValidationError):
        event.title = "Other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("popularity", "tier"),
    [
        (0, Tier.ICE_COLD),
        (30, Tier.ICE_COLD),
        (30.49, Tier.ICE_COLD),
        (30.5, Tier.ICE_COLD),  # banker's rounding: round(30.5) == 30
        (30.51, Tier.LUKEWARM),
        (31, Tier.LUKEWARM),
        (69, Tier.LUKEWARM),
        (69.49, Tier.LUKEWARM),
        (69.5, Tier.BLAZING_HOT),  # round(69.5) == 70
        (70, Tier.BLAZING_HOT),
        (100, Tier.BLAZING_HOT),
    ],
)
def test_popularity_tier_edges(popularity: float, tier: Tier) -> None:
    assert popularity_tier(popularity) is tier


def test_decode_release_accepts_matching_key_as_bytes_or_str() -> None:
    raw = orjson.dumps(MINIMAL)
    assert decode_release(raw, b"t-1").track_id == "t-1"
    assert decode_release(raw, "t-1").track_id == "t-1"
    assert decode_release(raw).event_id == "e-1"


@pytest.mark.parametrize(
    ("raw", "key", "needle"),
    [
        (b"not json", None, "Invalid JSON"),
        (b"[1, 2]", None, "object"),
        (orjson.dumps(MINIMAL), b"t-2", "does not match track_id"),
        (orjson.dumps({**MINIMAL, "energy": 3}), None, "energy"),
    ],
)
def test_decode_release_raises_readable_errors(raw: bytes, key: bytes | None, needle: str) -> None:
    with pytest.raises(EventValidationError) as info:
        decode_release(raw, key)
    assert needle in str(info.value)


def test_describe_validation_error_limits_and_counts() -> None:
    bad = {k: 5 for k in ("danceability", "energy", "speechiness", "valence", "liveness")}
    with pytest.raises(ValidationError) as info:
        ReleaseEvent.model_validate({**MINIMAL, **bad, "acousticness": 9})
    text = describe_validation_error(info.value, limit=2)
    assert text.count(";") == 2 and "and 4 more" in text
    assert "danceability" in text and "(got 5)" in text


def test_dead_letter_build_keeps_everything_to_replay() -> None:
    original = b'{"broken": '
    error = EventValidationError("event: Invalid JSON")
    letter = DeadLetter.build(
        original=original,
        stage="decode",
        error=error,
        source_topic="hitpred.releases.v1",
        key=b"t-9",
        partition=3,
        offset=42,
        event_id="e-9",
    )
    assert letter.original == original
    assert base64.b64decode(letter.original_b64) == original
    assert letter.error_type == "EventValidationError"
    assert letter.reason == "event: Invalid JSON"
    assert (letter.original_key, letter.source_partition, letter.source_offset) == ("t-9", 3, 42)
    assert letter.failed_at.tzinfo is not None
    assert DeadLetter.model_validate_json(letter.to_json()) == letter


def test_dead_letter_of_nothing_and_of_a_silent_error() -> None:
    letter = DeadLetter.build(original=None, stage="score", error=ValueError(), source_topic="x")
    assert letter.original == b""
    assert letter.reason == "ValueError"  # never an empty reason
    assert letter.original_key is None
    with pytest.raises(ValidationError):
        DeadLetter.model_validate({**letter.model_dump(), "stage": "somewhere"})


def _ref() -> ModelRef:
    return ModelRef(name="m", version="1")


def test_prediction_with_every_part_round_trips() -> None:
    now = datetime.now(UTC)
    prediction = Prediction(
        prediction_id="p",
        event_id="e",
        track_id="t",
        hit=HitPrediction(model=_ref(), probability=0.7, is_hit=True),
        popularity=PopularityPrediction(model=_ref(), popularity=71.0, tier=Tier.BLAZING_HOT),
        tier=TierPrediction(
            model=_ref(),
            tier=Tier.LUKEWARM,
            probabilities={Tier.ICE_COLD: 0.1, Tier.LUKEWARM: 0.6, Tier.BLAZING_HOT: 0.3},
        ),
        genre=GenrePrediction(
            model=_ref(),
            genre="pop",
            top3=[
                GenreScore(genre="pop", probability=0.8),
                GenreScore(genre="rock", probability=0.1),
            ],
        ),
        contributions=[Contribution(feature="energy", value=None, contribution=-0.2)],
        timings=Timings(enrich_ms=0.0, score_ms=0.1, batch_size=10, end_to_end_ms=12.0),
        scored_at=now,
    )
    assert Prediction.model_validate_json(prediction.to_json()) == prediction


def test_prediction_parts_are_optional_but_ranges_hold() -> None:
    timings = Timings(enrich_ms=0, score_ms=0, batch_size=1, end_to_end_ms=-1.0)
    bare = Prediction(
        prediction_id="p", event_id="e", track_id="t", timings=timings, scored_at=datetime.now(UTC)
    )
    assert bare.hit is None and bare.contributions == []
    with pytest.raises(ValidationError):
        HitPrediction(model=_ref(), probability=1.2, is_hit=True)
    with pytest.raises(ValidationError):
        PopularityPrediction(model=_ref(), popularity=101, tier=Tier.BLAZING_HOT)
    with pytest.raises(ValidationError):
        GenrePrediction(model=_ref(), genre="a", top3=[GenreScore(genre="a", probability=0.1)] * 4)
    with pytest.raises(ValidationError):
        Timings(enrich_ms=0, score_ms=0, batch_size=0, end_to_end_ms=0)
    with pytest.raises(ValidationError):
        Prediction.model_validate({**bare.model_dump(), "schema_version": 2})


def test_enriched_track_wraps_a_release() -> None:
    now = datetime.now(UTC)
    track = EnrichedTrack(
        release=ReleaseEvent.model_validate(FULL),
        lyrics_embedding=Embedding.of(np.array([0.1, 0.2], dtype="float32"), "enc"),
        estimated={"tempo": 120.0},
        inputs=["descriptors", "estimated descriptors", "lyrics"],
        received_at=now,
        enriched_at=now,
        enrich_ms=1.5,
    )
    wire = track.to_json()
    again = EnrichedTrack.model_validate_json(wire)
    assert again == track and again.audio_embedding is None
    assert again.lyrics_embedding is not None
    np.testing.assert_array_equal(again.lyrics_embedding.vector(), np.float32([0.1, 0.2]))
    assert again.estimated_fields == ["tempo"]
    # Floats travel as packed bytes, not as a list of decimal numbers.
    assert set(orjson.loads(wire)["lyrics_embedding"]) == {"model", "dim", "b64"}
    with pytest.raises(ValidationError):
        EnrichedTrack(release=track.release, received_at=now, enriched_at=now, enrich_ms=-1)
    with pytest.raises(ValidationError):
        EnrichedTrack(
            release=track.release, inputs=["smell"], received_at=now, enriched_at=now, enrich_ms=0
        )


def test_embedding_refuses_bytes_that_do_not_hold_its_floats() -> None:
    packed = Embedding.of(np.arange(4, dtype="float32"), "enc")
    assert packed.dim == 4 and len(packed.b64) == 24
    with pytest.raises(ValueError, match="holds 4 floats, not 5"):
        Embedding(model="enc", dim=5, b64=packed.b64).vector()
    nan = Embedding.of(np.array([np.nan, 1.0]), "enc")
    with pytest.raises(ValueError):
        nan.vector()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("energy", True),  # a boolean is not a number
        ("danceability", "0.5"),  # nor is a string
        ("tempo", "120"),
        ("key", 4.0),  # an integer field takes no float
        ("mode", True),
        ("mode", 1.0),
        ("release_date", "2024-05-17T00:00:00"),  # a date-time is not a date
        ("release_date", "9999-12-31"),  # not a plausible release
        ("release_date", "1899-12-31"),
        ("artists", "Someone"),  # a string is not a list
    ],
)
def test_loose_input_is_refused(field: str, value: object) -> None:
    event = {
        "event_id": "e",
        "track_id": "t",
        "title": "Song",
        "artists": ["Someone"],
        "release_date": "2024-05-17",
        field: value,
    }
    with pytest.raises(EventValidationError, match=field):
        decode_release(orjson.dumps(event))


@pytest.mark.parametrize(
    "raw",
    [
        b'"energy": 0.1, "energy": 0.9',  # scored on the value a reader may not see
        b'"energy": 0.5, "energy": 0.5',  # a repeat is refused even when it agrees
        b'"title": "Other"',  # a repeated required field
        b'"lyrics": "a", "lyrics": "b"',
    ],
    ids=["different", "equal", "required", "text"],
)
def test_duplicate_keys_are_refused(raw: bytes) -> None:
    body = b'{"event_id": "e", "track_id": "t", "title": "Song", "artists": ["Someone"], '
    body += b'"release_date": "2024-05-17", ' + raw + b"}"
    with pytest.raises(EventValidationError, match="duplicate key"):
        decode_release(body)
    assert duplicate_key(body) is not None
    assert duplicate_key(b'{"a": {"b": 1}, "c": {"b": 2}}') is None  # same key, other objects
    assert duplicate_key(b'{"a": {"b": 1, "b": 2}}') is not None  # nested
    assert duplicate_key(b"{not json") is None  # the decoder's to explain


def test_integers_are_numbers_and_a_release_may_be_announced_ahead() -> None:
    next_year = date.today().replace(year=date.today().year + 1, day=1)
    event = decode_release(
        orjson.dumps(
            {
                "event_id": "e",
                "track_id": "t",
                "title": "Song",
                "artists": ["Someone"],
                "release_date": next_year.isoformat(),
                "energy": 1,
                "tempo": 120,
                "mode": 0,
            }
        )
    )
    assert event.energy == 1.0 and event.tempo == 120.0 and event.mode == 0


def test_dead_letters_keep_a_bounded_slice_of_what_they_refuse() -> None:
    value = b"x" * (DEAD_LETTER_MAX_ORIGINAL_BYTES + 10)
    letter = DeadLetter.build(
        original=value,
        stage="decode",
        error=ValueError("why " * 1000),
        source_topic="t",
        key=b"k\n[ERROR] forged" * 10_000,
    )
    assert len(letter.original) == DEAD_LETTER_MAX_ORIGINAL_BYTES
    assert letter.original_size == len(value)
    assert letter.original_key is not None and len(letter.original_key) < 600
    assert letter.original_key.endswith("more characters)")
    assert len(letter.reason) < 600
    assert len(letter.to_json()) < 1.4 * DEAD_LETTER_MAX_ORIGINAL_BYTES + 10_000
