"""Messages in: the batch's raw messages, its records out, and the releases' decode.

The first step of every batch function (:mod:`hitpred.pipeline`, the enrich stage, the HTTP
service): ``hitpred.releases.v1`` bytes become valid events and a dead letter, with its
reason, for every other message (:func:`validate_batch`); :func:`enrich_batch` passes releases
on unenriched. :class:`BatchResult` is what a batch function returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter

import orjson
from pydantic import ValidationError

from hitpred.errors import EventValidationError
from hitpred.json_keys import may_repeat_a_key_in_any
from hitpred.schemas import (
    DESCRIPTOR_FIELDS,
    DeadLetter,
    EnrichedTrack,
    ReleaseEvent,
    Stage,
    decode_release,
    descriptor_values,
    repeated_key,
)

__all__ = [
    "BatchResult",
    "OutRecord",
    "RawMessage",
    "carries_descriptors",
    "dead_letter",
    "enrich_batch",
    "validate_batch",
]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed message as the broker delivered it (bytes untouched)."""

    value: bytes | None
    key: bytes | None = None
    topic: str = ""
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A serialized output message: key and JSON value, ready to produce."""

    key: bytes
    value: bytes
    event_id: str


@dataclass(slots=True)
class BatchResult:
    """What one batch produced: outputs in input order, dead letters, and stage timings."""

    records: list[OutRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    #: Per prediction, seconds from the release's ``produced_at`` to scoring.
    end_to_end_s: list[float] = field(default_factory=list)
    #: The challengers' predictions of the same releases, for the shadow topic.
    shadow_records: list[OutRecord] = field(default_factory=list)

    def extend(self, other: BatchResult) -> None:
        """Append another result (timings are added up per stage)."""
        self.records.extend(other.records)
        self.dead_letters.extend(other.dead_letters)
        self.end_to_end_s.extend(other.end_to_end_s)
        for stage, seconds in other.timings_s.items():
            self.timings_s[stage] = self.timings_s.get(stage, 0.0) + seconds


def dead_letter(
    message: RawMessage,
    stage: Stage,
    error: BaseException,
    event_id: str | None = None,
) -> DeadLetter:
    """The dead letter of ``message``, rejected at ``stage`` for ``error``."""
    return DeadLetter.build(
        original=message.value,
        stage=stage,
        error=error,
        source_topic=message.topic,
        key=message.key,
        partition=message.partition,
        offset=message.offset,
        event_id=event_id,
    )


def _event_id_of(value: bytes) -> str | None:
    """The ``event_id`` of an invalid event when it has a usable one (for tracing)."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    event_id = parsed.get("event_id") if isinstance(parsed, dict) else None
    return event_id if isinstance(event_id, str) and 0 < len(event_id) <= 128 else None


def _stage_of(error: EventValidationError) -> Stage:
    """``decode`` when the bytes were not JSON at all, ``validate`` for schema errors."""
    cause = error.__cause__
    if isinstance(cause, ValidationError):
        if any(e["type"] == "json_invalid" for e in cause.errors(include_url=False)):
            return "decode"
    return "validate"


def validate_batch(
    messages: Sequence[RawMessage], *, require_key: bool = True
) -> tuple[list[tuple[RawMessage, ReleaseEvent]], list[DeadLetter]]:
    """Decode and validate ``hitpred.releases.v1`` messages.

    Returns the valid events (with their message, in input order) and a dead letter for every
    other message, in input order: an empty value, bytes that are not JSON (stage ``decode``),
    a schema violation, a repeated key, a missing key or a key that is not the ``track_id``
    (stage ``validate``). Repeated keys are ruled out for the whole batch at once; only where
    that cannot be done is each document checked.
    """
    valid: list[tuple[RawMessage, ReleaseEvent]] = []
    positions: list[int] = []  # of the valid ones among the messages
    dead: list[tuple[int, DeadLetter]] = []
    for position, message in enumerate(messages):
        if not message.value:
            error = EventValidationError("empty message value")
            dead.append((position, dead_letter(message, "decode", error)))
            continue
        if require_key and message.key is None:
            error = EventValidationError("message has no key; releases are keyed by track_id")
            letter = dead_letter(message, "validate", error, _event_id_of(message.value))
            dead.append((position, letter))
            continue
        try:
            event = decode_release(message.value, message.key, check_repeats=False)
        except EventValidationError as exc:
            stage = _stage_of(exc)
            event_id = _event_id_of(message.value) if stage == "validate" else None
            dead.append((position, dead_letter(message, stage, exc, event_id)))
            continue
        valid.append((message, event))
        positions.append(position)
    distinct = sum(len(event.__pydantic_fields_set__) for _, event in valid)
    if may_repeat_a_key_in_any([message.value or b"" for message, _ in valid], distinct):
        kept: list[tuple[RawMessage, ReleaseEvent]] = []
        for position, (message, event) in zip(positions, valid, strict=True):
            repeated = repeated_key(message.value or b"", event)
            if repeated is None:
                kept.append((message, event))
                continue
            error = EventValidationError(repeated)
            dead.append((position, dead_letter(message, "validate", error, event.event_id)))
        valid = kept
        dead.sort(key=itemgetter(0))
    return valid, [letter for _, letter in dead]


def enrich_batch(
    valid: Sequence[tuple[RawMessage, ReleaseEvent]], *, received_at: datetime | None = None
) -> list[EnrichedTrack]:
    """Pass validated releases on as they are: no embeddings, no audio analysis."""
    now = received_at or datetime.now(UTC)
    return [
        EnrichedTrack.trusted(
            release=event,
            lyrics_embedding=None,
            audio_embedding=None,
            language=None,
            estimated={},
            audio_features={},
            inputs=["descriptors"] if carries_descriptors(event) else [],
            received_at=now,
            enriched_at=now,
            enrich_ms=0.0,
        )
        for _, event in valid
    ]


def carries_descriptors(event: ReleaseEvent) -> bool:
    """Whether a release carries any audio descriptor of its own."""
    return descriptor_values(event).count(None) < len(DESCRIPTOR_FIELDS)
