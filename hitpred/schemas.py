"""Event schemas of the HitPred topics (pydantic v2), versioned in the topic names.

- ``hitpred.releases.v1``      :class:`ReleaseEvent`   a new release, keyed by ``track_id``
- ``hitpred.tracks.enriched.v1`` :class:`EnrichedTrack` a valid release plus embeddings (internal)
- ``hitpred.predictions.v1``   :class:`Prediction`     what downstream consumers read
- ``hitpred.releases.dlq``     :class:`DeadLetter`     every event that could not be processed

Unknown fields are rejected: a typo in a producer must not silently become a missing feature.
"""

from __future__ import annotations

import base64
import operator
import time
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hitpred.errors import EventValidationError
from hitpred.json_keys import duplicate_key, may_repeat_a_key

__all__ = [
    "DEAD_LETTER_MAX_ORIGINAL_BYTES",
    "DESCRIPTOR_FIELDS",
    "INPUT_KINDS",
    "Contribution",
    "DeadLetter",
    "Embedding",
    "EnrichedTrack",
    "GenrePrediction",
    "GenreScore",
    "HitPrediction",
    "InputKind",
    "ModelRef",
    "PopularityPrediction",
    "Prediction",
    "ReleaseEvent",
    "Stage",
    "Tier",
    "TierPrediction",
    "Timings",
    "decode_release",
    "describe_validation_error",
    "descriptor_values",
    "popularity_tier",
    "repeated_key",
    "utcnow",
]

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
#: How far ahead of today a release date may be.
MAX_YEARS_AHEAD = 5
#: A dead letter keeps at most this many bytes of the original value, and this many
#: characters of its key and reason (the rest is counted, not copied).
DEAD_LETTER_MAX_ORIGINAL_BYTES = 1024 * 1024
DEAD_LETTER_MAX_TEXT = 500


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> bytes:
        """Compact JSON bytes (the wire format of every topic)."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """An instance from values this process built and checked itself, without validation.

        What ``model_construct`` does, for the hot path: every field must be given (no
        defaults are filled in) and nothing is checked, so never call it on outside input.
        It costs ~2 us instead of ~10 us per instance (1,000 per batch).
        """
        fields = cls.__pydantic_fields__  # what model_fields returns, without its overhead
        if values.keys() != fields.keys():
            missing = sorted(fields.keys() - values.keys())
            extra = sorted(values.keys() - fields.keys())
            raise TypeError(f"{cls.__name__}.trusted: missing {missing}, unknown {extra}")
        instance = object.__new__(cls)
        object.__setattr__(instance, "__dict__", values)
        object.__setattr__(instance, "__pydantic_fields_set__", set(values))
        object.__setattr__(instance, "__pydantic_extra__", None)
        object.__setattr__(instance, "__pydantic_private__", None)
        return instance


_limit_cache: tuple[float, date] = (0.0, date.min)


def _release_date_limit() -> date:
    """The latest plausible release date: the first of this month, MAX_YEARS_AHEAD years on
    (worked out once a day rather than per event: ``date.today()`` costs ~0.4 us)."""
    global _limit_cache
    expires, limit = _limit_cache
    if time.time() >= expires:
        today = date.today()
        limit = today.replace(year=today.year + MAX_YEARS_AHEAD, day=1)
        tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time())
        _limit_cache = (tomorrow.timestamp(), limit)
    return limit


class ReleaseEvent(_Schema):
    """A new release, published to ``hitpred.releases.v1`` with ``track_id`` as the key.

    Every audio descriptor is optional (a release may come with audio or lyrics only) and
    range-checked against the Spotify Web API definitions.
    """

    event_id: str = Field(min_length=1, max_length=128)
    track_id: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=500)
    artists: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=1, max_length=50
    )
    release_date: date = Field(ge=date(1900, 1, 1))
    genres: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20
    )
    # Spotify-style audio descriptors.
    danceability: Unit | None = None
    energy: Unit | None = None
    key: int | None = Field(default=None, ge=-1, le=11, description="Pitch class; -1 = no key")
    loudness: float | None = Field(default=None, ge=-60.0, le=10.0, description="dB")
    mode: int | None = Field(default=None, ge=0, le=1, description="1 = major, 0 = minor")
    speechiness: Unit | None = None
    acousticness: Unit | None = None
    instrumentalness: Unit | None = None
    liveness: Unit | None = None
    valence: Unit | None = None
    tempo: float | None = Field(default=None, gt=0.0, le=300.0, description="BPM")
    duration_ms: int | None = Field(default=None, gt=0, le=10_800_000)
    time_signature: int | None = Field(default=None, ge=0, le=7)
    chorus_hit: float | None = Field(default=None, ge=0.0, le=10_800.0, description="seconds")
    sections: int | None = Field(default=None, ge=0, le=1000)
    lyrics: str | None = Field(default=None, max_length=100_000)
    audio_ref: str | None = Field(
        default=None, max_length=2048, description="A file path or URL of the audio"
    )
    produced_at: datetime = Field(default_factory=utcnow)

    @field_validator("produced_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("release_date")
    @classmethod
    def _not_far_future(cls, value: date) -> date:
        # Releases are announced ahead, but not decades ahead (9999-12-31 is a typo or a probe).
        limit = _release_date_limit()
        if value > limit:
            raise ValueError(f"a release date after {limit.isoformat()} is not plausible")
        return value

    @property
    def descriptors(self) -> dict[str, float | int | None]:
        """The audio descriptors, in :data:`DESCRIPTOR_FIELDS` order."""
        return {name: getattr(self, name) for name in DESCRIPTOR_FIELDS}


DESCRIPTOR_FIELDS: tuple[str, ...] = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
    "time_signature",
    "chorus_hit",
    "sections",
)

#: The audio descriptors of a release as one tuple, in :data:`DESCRIPTOR_FIELDS` order (one
#: C-level call per event on the hot path, instead of fifteen ``getattr``).
descriptor_values = operator.attrgetter(*DESCRIPTOR_FIELDS)


class Tier(StrEnum):
    """Popularity tier: ice-cold 0-30, lukewarm 31-69, blazing hot 70-100."""

    ICE_COLD = "ice-cold"
    LUKEWARM = "lukewarm"
    BLAZING_HOT = "blazing-hot"


def popularity_tier(popularity: float) -> Tier:
    """The tier of a 0-100 popularity; fractional scores are rounded to the nearest point."""
    points = round(popularity)
    if points <= 30:
        return Tier.ICE_COLD
    if points <= 69:
        return Tier.LUKEWARM
    return Tier.BLAZING_HOT


class Embedding(_Schema):
    """A float32 vector, carried compactly: little-endian bytes in base64 (a 384-d lyrics
    embedding is 2 KB instead of ~8 KB of JSON decimals), with the model that produced it."""

    model: str = Field(min_length=1, max_length=200, description="Encoder id (embedding space)")
    dim: int = Field(ge=1, le=8192)
    b64: str = Field(description="float32 little-endian, base64")

    @classmethod
    def of(cls, vector: np.ndarray, model: str) -> Embedding:
        """Pack a 1-D vector."""
        data = np.ascontiguousarray(vector, dtype="<f4")
        return cls(
            model=model, dim=int(data.shape[0]), b64=base64.b64encode(data.tobytes()).decode()
        )

    def vector(self) -> np.ndarray:
        """The float32 vector (raises ``ValueError`` when the bytes do not hold ``dim`` floats)."""
        data = np.frombuffer(base64.b64decode(self.b64, validate=True), dtype="<f4")
        if data.shape != (self.dim,) or not np.isfinite(data).all():
            raise ValueError(f"embedding holds {data.size} floats, not {self.dim} finite ones")
        return data.astype("float32")


#: What a prediction can be made from: the release's own descriptors, descriptors estimated
#: from its audio, its lyrics (embedding), and its audio (GTZAN layout, CNN embedding).
InputKind = Literal["descriptors", "estimated descriptors", "lyrics", "audio"]
INPUT_KINDS: tuple[str, ...] = ("descriptors", "estimated descriptors", "lyrics", "audio")


class EnrichedTrack(_Schema):
    """A validated release with what enrichment added (internal topic between the stages).

    ``estimated`` holds the descriptors computed from the audio for fields the release did not
    carry (the release's own values are never overwritten); ``audio_features`` the GTZAN layout
    computed from the audio; ``estimated_fields`` names the descriptors that were estimated.
    """

    release: ReleaseEvent
    lyrics_embedding: Embedding | None = None
    audio_embedding: Embedding | None = None
    language: str | None = Field(default=None, max_length=16)
    estimated: dict[str, float] = Field(default_factory=dict)
    audio_features: dict[str, float] = Field(default_factory=dict)
    inputs: list[InputKind] = Field(default_factory=list)
    received_at: datetime
    enriched_at: datetime
    enrich_ms: float = Field(ge=0.0)

    @property
    def estimated_fields(self) -> list[str]:
        """The descriptors that were estimated from the audio, in canonical order."""
        return [name for name in DESCRIPTOR_FIELDS if name in self.estimated]


class ModelRef(_Schema):
    """Which model produced a task's output, and from which of the release's inputs."""

    name: str
    version: str
    feature_set: str | None = None
    inputs: list[InputKind] = Field(default_factory=list)


class HitPrediction(_Schema):
    model: ModelRef
    probability: Unit
    is_hit: bool


class PopularityPrediction(_Schema):
    model: ModelRef
    popularity: float = Field(ge=0.0, le=100.0)
    tier: Tier


class TierPrediction(_Schema):
    """Output of a dedicated 3-class tier model (probabilities per tier)."""

    model: ModelRef
    tier: Tier
    probabilities: dict[Tier, Unit]


class GenreScore(_Schema):
    genre: str
    probability: Unit


class GenrePrediction(_Schema):
    model: ModelRef
    genre: str
    top3: list[GenreScore] = Field(max_length=3)


class Contribution(_Schema):
    """One feature's contribution to the hit score (log-odds units, SHAP-style)."""

    feature: str
    value: float | None = None  # None: the feature was missing (to_json leaves it out)
    contribution: float


class Timings(_Schema):
    """Where the time went, milliseconds."""

    enrich_ms: float = Field(ge=0.0)
    score_ms: float = Field(ge=0.0, description="Batch scoring time divided by batch size")
    batch_size: int = Field(ge=1)
    end_to_end_ms: float = Field(description="produced_at (or the broker timestamp) to scored_at")
    clock: Literal["produced_at", "broker", "unknown"] = Field(
        default="produced_at",
        description="Where end_to_end_ms starts: the event's produced_at, or the broker's "
        "timestamp when produced_at was outside a plausible window (after the broker received "
        "the event, or more than a day before it); unknown: neither was usable (0 ms, and the "
        "latency metric is not fed)",
    )


class Prediction(_Schema):
    """What ``hitpred.predictions.v1`` carries for every valid release."""

    schema_version: Literal[1] = 1
    prediction_id: str = Field(
        description="Deterministic: the same event scored by the same model versions always "
        "gets the same id, so a consumer can drop the duplicates an at-least-once stream "
        "delivers after a crash (see hitpred.predictions.prediction_id)"
    )
    event_id: str
    track_id: str
    hit: HitPrediction | None = None
    popularity: PopularityPrediction | None = None
    tier: TierPrediction | None = None
    genre: GenrePrediction | None = None
    contributions: list[Contribution] = Field(default_factory=list)
    inputs: list[InputKind] = Field(
        default_factory=list, description="What the release carried and enrichment added"
    )
    estimated: list[str] = Field(
        default_factory=list, description="Descriptors estimated from the audio"
    )
    language: str | None = None
    unanswered: dict[str, str] = Field(
        default_factory=dict,
        description="Tasks no champion could answer from these inputs, with the reason",
    )
    timings: Timings
    scored_at: datetime
    shadow: bool = Field(
        default=False,
        description="True on the shadow topic: a challenger's answer, for comparison only",
    )


Stage = Literal["decode", "validate", "enrich", "score", "publish"]


class DeadLetter(_Schema):
    """An event that could not be processed, with everything needed to replay or debug it."""

    stage: Stage
    error_type: str
    reason: str
    original_b64: str = Field(
        description="The original message value, base64 (its first "
        "DEAD_LETTER_MAX_ORIGINAL_BYTES bytes: see original_size)"
    )
    original_size: int | None = Field(
        default=None, ge=0, description="Bytes of the original value (more than kept when cut)"
    )
    original_key: str | None = None
    event_id: str | None = None
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    failed_at: datetime = Field(default_factory=utcnow)

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)

    @classmethod
    def build(
        cls,
        *,
        original: bytes | None,
        stage: Stage,
        error: BaseException,
        source_topic: str,
        key: bytes | str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        event_id: str | None = None,
    ) -> DeadLetter:
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        value = original or b""
        return cls(
            stage=stage,
            error_type=type(error).__name__,
            reason=_bounded(str(error) or type(error).__name__),
            original_b64=base64.b64encode(value[:DEAD_LETTER_MAX_ORIGINAL_BYTES]).decode("ascii"),
            original_size=len(value),
            original_key=None if key is None else _bounded(key),
            event_id=event_id,
            source_topic=source_topic,
            source_partition=partition,
            source_offset=offset,
        )


def _bounded(text: str, limit: int = DEAD_LETTER_MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def describe_validation_error(error: ValidationError, limit: int = 5) -> str:
    """A one-line, human-readable summary of a pydantic error."""
    parts: list[str] = []
    errors = error.errors(include_url=False)
    for item in errors[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "event"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r:.60})"
        parts.append(f"{where}: {item['msg']}{shown}")
    if len(errors) > limit:
        parts.append(f"... and {len(errors) - limit} more")
    return "; ".join(parts)


def decode_release(
    raw: bytes | str, key: bytes | str | None = None, *, check_repeats: bool = True
) -> ReleaseEvent:
    """Parse one ``hitpred.releases.v1`` message value.

    Raises :class:`EventValidationError` with a readable reason when the bytes are not JSON,
    not an object, repeat a key, fail the schema, or disagree with the message key.
    ``check_repeats=False`` leaves the repeated-key test to the caller, who runs it on a
    whole batch at once (:func:`hitpred.json_keys.may_repeat_a_key_in_any`, then
    :func:`repeated_key` where that cannot rule a repeat out).
    """
    try:
        # Strict: a boolean or a string is not a number, a date-time is not a date.
        event = ReleaseEvent.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise EventValidationError(describe_validation_error(exc)) from exc
    if check_repeats:
        repeated = repeated_key(raw, event)
        if repeated is not None:
            raise EventValidationError(repeated)
    if key is not None:
        key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        if key_text != event.track_id:
            raise EventValidationError(
                f"message key {key_text!r} does not match track_id {event.track_id!r}"
            )
    return event


def repeated_key(raw: bytes | str, event: ReleaseEvent) -> str | None:
    """Why ``raw``, the valid document ``event`` was decoded from, is refused for repeating a
    key, or None (the second parse only where :func:`may_repeat_a_key` cannot rule it out)."""
    if may_repeat_a_key(raw, len(event.__pydantic_fields_set__)):
        return duplicate_key(raw)
    return None
