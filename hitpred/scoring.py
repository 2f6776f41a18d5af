"""Batch scoring: raw messages in, serialized predictions and dead letters out.

This is the seam between the stream and the models. Everything here is synchronous, pure
Python/numpy and free of Kafka code, so the Faust agents run it in an executor (keeping the
event loop free to heartbeat) and a batch-consuming service could call the very same functions
on the hot path. Per batch there is one decode pass, one feature frame, one vectorised
``predict`` per task and one serialisation pass; nothing is awaited per event.

- :func:`load_models` is the ONLY place that decides which models score (registry champions,
  else the synthetic baseline).
- :func:`validate_batch` / :func:`enrich_batch`: ``hitpred.releases.v1`` -> ``EnrichedTrack``.
- :class:`Scorer`: ``EnrichedTrack`` (or raw release) batches -> ``Prediction`` records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from pydantic import ValidationError

from hitpred.errors import EventValidationError, HitPredError, ModelError
from hitpred.features.vector import events_to_frame
from hitpred.models.base import Task, TaskModel, TaskOutput
from hitpred.schemas import (
    DeadLetter,
    EnrichedTrack,
    ReleaseEvent,
    Stage,
    decode_release,
    describe_validation_error,
    popularity_tier,
)

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = [
    "BatchResult",
    "OutRecord",
    "RawMessage",
    "Scorer",
    "enrich_batch",
    "enrich_releases",
    "load_models",
    "validate_batch",
]

logger = logging.getLogger(__name__)

#: Probability at or above which a release is flagged ``is_hit``.
HIT_THRESHOLD = 0.5


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

    def extend(self, other: BatchResult) -> None:
        """Append another result (timings are added up per stage)."""
        self.records.extend(other.records)
        self.dead_letters.extend(other.dead_letters)
        self.end_to_end_s.extend(other.end_to_end_s)
        for stage, seconds in other.timings_s.items():
            self.timings_s[stage] = self.timings_s.get(stage, 0.0) + seconds


def load_models(settings: Settings) -> dict[Task, TaskModel]:
    """The models the worker scores with, chosen here and nowhere else.

    Each task's champion comes from the model registry: from the registry folder when this
    worker can see it (its champions are then published to the Redis cache), else from the
    Redis cache alone (workers on other machines). A served task without a champion is scored
    by the baseline trained at start-up on the synthetic catalog (:mod:`hitpred.baseline`),
    unless ``settings.baseline_fallback`` is off; its model name says so in every prediction.
    """
    champions = _servable(_registry_champions(settings))
    missing = [task for task in SERVED_TASKS if task not in champions]
    if Task.MULTITASK in champions:
        # The multi-task network answers popularity and genre where no dedicated champion does.
        missing = [t for t in missing if t not in (Task.POPULARITY, Task.GENRE)]
    if missing and settings.baseline_fallback:
        from hitpred.baseline import train_baseline

        baseline = train_baseline()
        for task in missing:
            if task in baseline:
                champions[task] = baseline[task]
        logger.warning(
            "no registered champion for %s: scoring it with the synthetic-catalog baseline",
            ", ".join(t.value for t in missing),
        )
    if not champions:
        raise ModelError(
            f"no champion in the registry at {settings.registry_uri} nor in Redis, and the "
            "baseline fallback is off (HITPRED_BASELINE_FALLBACK=false): train one with "
            "`hitpred train`"
        )
    return champions


#: The tasks a prediction carries (tier comes from popularity unless a tier model exists).
SERVED_TASKS: tuple[Task, ...] = (Task.HIT, Task.POPULARITY, Task.GENRE)


#: The feature set the stream can supply: what is known when a track is released. Bundles
#: trained on ``all`` (other targets as inputs) or ``release+artist`` (an artist record the
#: stream does not keep) are for offline comparison and batch scoring only.
STREAM_FEATURE_SET = "release"


def _servable(champions: dict[Task, TaskModel]) -> dict[Task, TaskModel]:
    """The champions whose inputs a release event can supply."""
    kept: dict[Task, TaskModel] = {}
    for task, model in champions.items():
        if model.feature_set == STREAM_FEATURE_SET:
            kept[task] = model
        else:
            logger.warning(
                "not serving %s champion v%s (%s): its feature set %r needs inputs a release "
                "event does not carry; promote a %r model with `hitpred models promote`",
                task.value,
                model.version,
                model.name,
                model.feature_set,
                STREAM_FEATURE_SET,
            )
    return kept


def _registry_champions(settings: Settings) -> dict[Task, TaskModel]:
    """Champions from the registry folder (if present) through the Redis cache."""
    import redis

    from hitpred.errors import RegistryError
    from hitpred.registry import RegistryStore, load_champions

    store = RegistryStore(settings.registry_uri)
    have_folder = store.root.is_dir()
    try:
        return load_champions(
            store if have_folder else None,
            redis_url=settings.redis_url,
            prefix=settings.registry_cache_prefix,
        )
    except (RegistryError, redis.RedisError) as exc:
        if have_folder:
            raise
        logger.warning("no registry folder at %s and no champions from Redis: %s", store.root, exc)
        return {}


def _dead(
    message: RawMessage,
    stage: Stage,
    error: BaseException,
    event_id: str | None = None,
) -> DeadLetter:
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
    other message: an empty value, bytes that are not JSON (stage ``decode``), a schema
    violation, a missing key or a key that is not the ``track_id`` (stage ``validate``).
    """
    valid: list[tuple[RawMessage, ReleaseEvent]] = []
    dead: list[DeadLetter] = []
    for message in messages:
        if not message.value:
            dead.append(_dead(message, "decode", EventValidationError("empty message value")))
            continue
        if require_key and message.key is None:
            error = EventValidationError("message has no key; releases are keyed by track_id")
            dead.append(_dead(message, "validate", error, _event_id_of(message.value)))
            continue
        try:
            event = decode_release(message.value, message.key)
        except EventValidationError as exc:
            stage = _stage_of(exc)
            event_id = _event_id_of(message.value) if stage == "validate" else None
            dead.append(_dead(message, stage, exc, event_id))
            continue
        valid.append((message, event))
    return valid, dead


def enrich_batch(
    valid: Sequence[tuple[RawMessage, ReleaseEvent]], *, received_at: datetime | None = None
) -> list[EnrichedTrack]:
    """Enrich validated releases (pass-through: no embeddings until enrichment lands)."""
    now = received_at or datetime.now(UTC)
    return [
        EnrichedTrack.model_construct(
            release=event,
            lyrics_embedding=None,
            audio_embedding=None,
            received_at=now,
            enriched_at=now,
            enrich_ms=0.0,
        )
        for _, event in valid
    ]


def enrich_releases(messages: Sequence[RawMessage]) -> BatchResult:
    """``hitpred.releases.v1`` messages -> serialized ``EnrichedTrack`` records + dead letters.

    The work of the validate and enrich agents, as one pure function over a batch.
    """
    started = time.perf_counter()
    valid, dead = validate_batch(messages)
    decoded = time.perf_counter()
    tracks = enrich_batch(valid)
    records = [
        OutRecord(
            key=message.key or event.track_id.encode(),
            value=track.to_json(),
            event_id=event.event_id,
        )
        for (message, event), track in zip(valid, tracks, strict=True)
    ]
    done = time.perf_counter()
    return BatchResult(
        records=records,
        dead_letters=dead,
        timings_s={"decode": decoded - started, "serialize": done - decoded},
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Scorer:
    """Scores batches with a fixed set of task models (see :func:`load_models`).

    One instance per worker; :meth:`score_enriched` and :meth:`score_releases` are safe to call
    from one executor thread at a time.
    """

    def __init__(self, models: Mapping[Task, TaskModel], *, top_k: int = 5) -> None:
        if not models:
            raise ModelError("no models to score with")
        self.models = dict(models)
        self.top_k = top_k
        self._refs = {
            task: {"name": model.name, "version": model.version}
            for task, model in self.models.items()
        }

    # -- entry points -------------------------------------------------------------------

    def score_enriched(self, messages: Sequence[RawMessage]) -> BatchResult:
        """Score ``hitpred.tracks.enriched.v1`` messages."""
        started = time.perf_counter()
        tracks: list[tuple[RawMessage, EnrichedTrack]] = []
        dead: list[DeadLetter] = []
        for message in messages:
            try:
                track = EnrichedTrack.model_validate_json(message.value or b"")
            except ValidationError as exc:
                reason = f"not an EnrichedTrack: {describe_validation_error(exc)}"
                dead.append(_dead(message, "score", EventValidationError(reason)))
                continue
            tracks.append((message, track))
        result = self.score_tracks(tracks)
        result.dead_letters[:0] = dead
        result.timings_s["decode"] = result.timings_s.get("decode", 0.0) + (
            time.perf_counter() - started - sum(result.timings_s.values())
        )
        return result

    def score_releases(self, messages: Sequence[RawMessage]) -> BatchResult:
        """Validate, enrich and score raw ``hitpred.releases.v1`` messages in one pass.

        The whole hot path as a pure function, for a batch-consuming service or a benchmark.
        """
        started = time.perf_counter()
        valid, dead = validate_batch(messages)
        decoded = time.perf_counter()
        tracks = enrich_batch(valid)
        result = self.score_tracks([(m, t) for (m, _), t in zip(valid, tracks, strict=True)])
        result.dead_letters[:0] = dead
        result.timings_s["decode"] = decoded - started
        return result

    # -- the batch ----------------------------------------------------------------------

    def score_tracks(self, tracks: Sequence[tuple[RawMessage, EnrichedTrack]]) -> BatchResult:
        """Score decoded tracks: one frame, one predict per task, one serialisation pass."""
        result = BatchResult()
        if not tracks:
            return result
        t0 = time.perf_counter()
        frame = events_to_frame([track.release for _, track in tracks])
        t1 = time.perf_counter()
        try:
            outputs = {task: model.predict(frame) for task, model in self.models.items()}
            hit_model = self.models.get(Task.HIT)
            explanation = hit_model.explain(frame, self.top_k) if hit_model else None
        except HitPredError as exc:
            # An expected model failure condemns the whole batch; each event is still kept.
            logger.warning("scoring a batch of %d failed: %s", len(tracks), exc)
            result.dead_letters = [
                _dead(m, "score", exc, event_id=t.release.event_id) for m, t in tracks
            ]
            return result
        t2 = time.perf_counter()
        self._serialize(tracks, outputs, explanation, (t2 - t1) * 1000.0, result)
        t3 = time.perf_counter()
        result.timings_s.update({"frame": t1 - t0, "predict": t2 - t1, "serialize": t3 - t2})
        return result

    def _columns(
        self, outputs: Mapping[Task, TaskOutput], n: int
    ) -> tuple[list[dict[str, Any] | None], ...]:
        """Per-row task sections (plain dicts), built column-wise."""
        hit: list[dict[str, Any] | None] = [None] * n
        pop: list[dict[str, Any] | None] = [None] * n
        genre: list[dict[str, Any] | None] = [None] * n
        tier: list[dict[str, Any] | None] = [None] * n
        if (out := outputs.get(Task.HIT)) is not None and out.values is not None:
            ref = self._refs[Task.HIT]
            hit = [
                {"model": ref, "probability": p, "is_hit": p >= HIT_THRESHOLD}
                for p in np.clip(out.values, 0.0, 1.0).tolist()
            ]
        pop_task = Task.POPULARITY if Task.POPULARITY in outputs else Task.MULTITASK
        if (out := outputs.get(pop_task)) is not None and out.values is not None:
            ref = self._refs[pop_task]
            pop = [
                {"model": ref, "popularity": v, "tier": popularity_tier(v).value}
                for v in np.round(np.clip(out.values, 0.0, 100.0), 1).tolist()
            ]
        genre_task = Task.GENRE if Task.GENRE in outputs else Task.MULTITASK
        out = outputs.get(genre_task)
        if out is not None and out.probabilities is not None and out.classes:
            ref = self._refs[genre_task]
            classes = out.classes
            probs = np.clip(out.probabilities, 0.0, 1.0)
            top = np.argsort(-probs, axis=1)[:, :3]
            top_p = np.take_along_axis(probs, top, axis=1).tolist()
            genre = [
                {
                    "model": ref,
                    "genre": classes[idx[0]],
                    "top3": [
                        {"genre": classes[j], "probability": p}
                        for j, p in zip(idx, ps, strict=True)
                    ],
                }
                for idx, ps in zip(top.tolist(), top_p, strict=True)
            ]
        out = outputs.get(Task.TIER)
        if out is not None and out.probabilities is not None and out.classes:
            ref = self._refs[Task.TIER]
            classes = out.classes
            probs = np.clip(out.probabilities, 0.0, 1.0)
            best = probs.argmax(axis=1).tolist()
            tier = [
                {
                    "model": ref,
                    "tier": classes[b],
                    "probabilities": dict(zip(classes, row, strict=True)),
                }
                for b, row in zip(best, probs.tolist(), strict=True)
            ]
        return hit, pop, genre, tier

    def _serialize(
        self,
        tracks: Sequence[tuple[RawMessage, EnrichedTrack]],
        outputs: Mapping[Task, TaskOutput],
        explanation: list[list[tuple[str, float | None, float]]] | None,
        predict_ms: float,
        result: BatchResult,
    ) -> None:
        n = len(tracks)
        hit, pop, genre, tier = self._columns(outputs, n)
        bad_rows = _non_finite_rows(outputs, n)
        scored_at = datetime.now(UTC)
        scored_iso = _iso(scored_at)
        score_ms = predict_ms / n
        dumps = orjson.dumps
        for i, (message, track) in enumerate(tracks):
            release = track.release
            if i in bad_rows:
                error = ModelError(f"a model returned a non-finite score ({bad_rows[i]})")
                result.dead_letters.append(_dead(message, "score", error, release.event_id))
                continue
            prediction: dict[str, Any] = {
                "schema_version": 1,
                "event_id": release.event_id,
                "track_id": release.track_id,
            }
            if hit[i] is not None:
                prediction["hit"] = hit[i]
            if pop[i] is not None:
                prediction["popularity"] = pop[i]
            if tier[i] is not None:
                prediction["tier"] = tier[i]
            if genre[i] is not None:
                prediction["genre"] = genre[i]
            if explanation is not None:
                prediction["contributions"] = [
                    {"feature": f, "value": v, "contribution": c} for f, v, c in explanation[i]
                ]
            end_to_end_s = (scored_at - release.produced_at).total_seconds()
            result.end_to_end_s.append(end_to_end_s)
            prediction["timings"] = {
                "enrich_ms": track.enrich_ms,
                "score_ms": score_ms,
                "batch_size": n,
                "end_to_end_ms": end_to_end_s * 1000.0,
            }
            prediction["scored_at"] = scored_iso
            result.records.append(
                OutRecord(
                    key=release.track_id.encode(),
                    value=dumps(prediction),
                    event_id=release.event_id,
                )
            )


def _non_finite_rows(outputs: Mapping[Task, TaskOutput], n: int) -> dict[int, str]:
    """Rows where any task produced NaN/inf (they become dead letters, not predictions)."""
    bad: dict[int, str] = {}
    for task, out in outputs.items():
        for array in (out.values, out.probabilities):
            if array is None:
                continue
            finite = np.isfinite(array).reshape(n, -1).all(axis=1)
            for row in np.flatnonzero(~finite).tolist():
                bad.setdefault(row, str(task))
    return bad
