"""Batch scoring: raw messages in, serialized predictions and dead letters out.

This is the seam between the stream and the models. Everything here is synchronous, pure
Python/numpy and free of Kafka code: the worker's batch stages (:mod:`streams.batch`), the HTTP
service and the benchmarks call the very same functions. Per batch there is one decode pass,
one feature frame, one vectorised ``predict`` per task and one serialisation pass; nothing is
awaited per event.

- :func:`hitpred.intake.validate_batch`: ``hitpred.releases.v1`` bytes -> valid events + dead
  letters (:mod:`hitpred.enrichment` then adds embeddings and audio analysis;
  :func:`~hitpred.intake.enrich_batch` is the pass-through for releases scored without it).
- :class:`Scorer`: ``EnrichedTrack`` (or raw release) batches -> ``Prediction`` records, each
  task answered by the champion the router picks for the release's inputs.
- Which models serve is decided in :mod:`hitpred.champions`; the sections, ids and latency
  clock of a prediction are built in :mod:`hitpred.predictions`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from pydantic import ValidationError

from hitpred.errors import EventValidationError, HitPredError, ModelError
from hitpred.features.matrix import shared_matrices
from hitpred.features.vector import tracks_to_frame
from hitpred.intake import BatchResult, OutRecord, RawMessage, dead_letter
from hitpred.models.base import Explanation, Task, TaskModel
from hitpred.predictions import (
    FIELD,
    UNANSWERED,
    answer_token,
    end_to_end,
    non_finite_rows,
    prediction_id_of,
    task_sections,
)
from hitpred.routing import INPUT_NAMES, Availability, Candidate, Route, Router
from hitpred.schemas import DeadLetter, EnrichedTrack, describe_validation_error

__all__ = ["Scorer", "add_shadow"]

logger = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class _Answers:
    """What the models said about one batch, per task and row (see :meth:`Scorer._predict`)."""

    sections: dict[Task, list[dict[str, Any] | None]] = field(default_factory=dict)
    #: Per task and row, the answer token of the model that answered (b"" where none did).
    tokens: dict[Task, list[bytes]] = field(default_factory=dict)
    explanation: Explanation | None = None
    bad: dict[int, str] = field(default_factory=dict)


class Scorer:
    """Scores batches with a fixed set of models (see :func:`hitpred.champions.load_models`).

    ``models`` maps each served task to its model, or to several models of different feature
    sets; :class:`~hitpred.routing.Router` picks per release the one whose inputs it carries.
    One instance per worker; the entry points are safe to call from one thread at a time.
    """

    def __init__(
        self,
        models: Mapping[Task, TaskModel | Sequence[TaskModel]],
        *,
        top_k: int = 5,
        shadow: bool = False,
    ) -> None:
        served: dict[Task, list[TaskModel]] = {}
        for task, value in models.items():
            items = list(value) if isinstance(value, Sequence) else [value]
            if task is Task.MULTITASK:  # the network answers popularity and genre
                for answered in (Task.POPULARITY, Task.GENRE):
                    if answered not in models:
                        served.setdefault(answered, []).extend(items)
            elif items:
                served.setdefault(task, []).extend(items)
        if not served:
            raise ModelError("no models to score with")
        self.models = served
        self.router = Router.from_models(served)
        self.top_k = top_k
        #: A challenger set: its predictions say ``"shadow": true`` and are never served.
        self.shadow = shadow
        self._refs: dict[tuple[int, int], dict[str, Any]] = {}
        self._tokens: dict[tuple[str, int], tuple[dict[str, Any], bytes]] = {}

    # -- entry points -------------------------------------------------------------------

    def score_enriched(
        self, messages: Sequence[RawMessage], shadow: Scorer | None = None
    ) -> BatchResult:
        """Score ``hitpred.tracks.enriched.v1`` messages (and with ``shadow``, the challengers'
        set, into ``shadow_records``)."""
        started = time.perf_counter()
        tracks: list[tuple[RawMessage, EnrichedTrack]] = []
        dead: list[DeadLetter] = []
        for message in messages:
            try:
                track = EnrichedTrack.model_validate_json(message.value or b"")
            except ValidationError as exc:
                reason = f"not an EnrichedTrack: {describe_validation_error(exc)}"
                dead.append(dead_letter(message, "score", EventValidationError(reason)))
                continue
            try:
                # The schema checks the envelope; the packed floats are checked here, per
                # track, so one bad vector cannot fail the frame of the whole batch.
                for embedding in (track.lyrics_embedding, track.audio_embedding):
                    if embedding is not None:
                        embedding.vector()
            except ValueError as exc:
                reason = f"not an EnrichedTrack: unusable embedding ({exc})"
                error = EventValidationError(reason)
                dead.append(dead_letter(message, "score", error, track.release.event_id))
                continue
            tracks.append((message, track))
        result = self.score_tracks(tracks)
        result.dead_letters[:0] = dead
        result.timings_s["decode"] = result.timings_s.get("decode", 0.0) + (
            time.perf_counter() - started - sum(result.timings_s.values())
        )
        add_shadow(result, shadow, tracks)
        return result

    # -- the batch ----------------------------------------------------------------------

    def score_tracks(self, tracks: Sequence[tuple[RawMessage, EnrichedTrack]]) -> BatchResult:
        """Score decoded tracks: one frame, one predict per task and route, one serialisation."""
        result = BatchResult()
        if not tracks:
            return result
        t0 = time.perf_counter()
        enriched = [track for _, track in tracks]
        frame = tracks_to_frame(enriched)
        # The routing's availability test and the models that read the same columns share
        # one matrix of them (see hitpred.features.matrix).
        with shared_matrices(frame):
            avail = Availability.of(frame, enriched)
            routes, unanswered = self.router.route(avail, len(tracks))
            t1 = time.perf_counter()
            try:
                answers = self._predict(frame, routes, len(tracks))
            except HitPredError as exc:
                # An expected model failure condemns the whole batch; each event is still kept.
                logger.warning("scoring a batch of %d failed: %s", len(tracks), exc)
                result.dead_letters = [
                    dead_letter(m, "score", exc, event_id=t.release.event_id) for m, t in tracks
                ]
                return result
        t2 = time.perf_counter()
        self._serialize(tracks, answers, unanswered, (t2 - t1) * 1000.0, result)
        t3 = time.perf_counter()
        result.timings_s.update({"frame": t1 - t0, "predict": t2 - t1, "serialize": t3 - t2})
        return result

    def _ref(self, candidate: Candidate, code: int) -> dict[str, Any]:
        key = (id(candidate), code)
        ref = self._refs.get(key)
        if ref is None:
            model = candidate.model
            ref = {
                "name": model.name,
                "version": model.version,
                "feature_set": candidate.feature_set,
                "inputs": INPUT_NAMES[code],
            }
            self._refs[key] = ref
        return ref

    def _token(self, name: str, ref: dict[str, Any]) -> bytes:
        """``name=model@version`` of a model reference, as :func:`prediction_id_of` hashes it
        (made once per reference, not per event)."""
        key = (name, id(ref))
        cached = self._tokens.get(key)
        if cached is None or cached[0] is not ref:  # the very same reference object
            cached = (ref, answer_token(f"{name}={ref['name']}@{ref['version']}"))
            self._tokens[key] = cached
        return cached[1]

    def _predict(self, frame: pd.DataFrame, routes: Mapping[Task, list[Route]], n: int) -> _Answers:
        """Per task, one section per row (None where unanswered) and its answer token; the hit
        contributions; the rows a model gave a non-finite score."""
        answers = _Answers()
        for task, task_routes in routes.items():
            column: list[dict[str, Any] | None] = [None] * n
            tokens: list[bytes] = [b""] * n
            name = FIELD.get(task, str(task))
            for route in task_routes:
                rows = np.flatnonzero(route.rows)
                sub = frame if route.everything else frame.iloc[rows]
                model = route.candidate.model
                output = model.predict(sub)
                for i, reason in non_finite_rows(output, len(rows)).items():
                    answers.bad.setdefault(int(rows[i]), f"{task}: {reason}")
                codes = route.codes
                if len(codes) and (codes == codes[0]).all():  # the usual batch: one kind of input
                    ref = self._ref(route.candidate, int(codes[0]))
                    refs = [ref] * len(codes)
                    route_tokens = [self._token(name, ref)] * len(codes)
                else:
                    refs = [self._ref(route.candidate, int(c)) for c in codes.tolist()]
                    route_tokens = [self._token(name, ref) for ref in refs]
                sections = task_sections(task, output, refs)
                if None in sections:  # a model without the output its task needs
                    route_tokens = [
                        t if s else b"" for t, s in zip(route_tokens, sections, strict=True)
                    ]
                if route.everything:
                    column, tokens = sections, route_tokens
                else:
                    for row, section, token in zip(
                        rows.tolist(), sections, route_tokens, strict=True
                    ):
                        column[row], tokens[row] = section, token
                if task is Task.HIT:
                    rows_explained = model.explain(sub, self.top_k)
                    if rows_explained is not None:
                        if answers.explanation is None:
                            answers.explanation = [[] for _ in range(n)]
                        for row, items in zip(rows.tolist(), rows_explained, strict=True):
                            answers.explanation[row] = items
            answers.sections[task] = column
            answers.tokens[task] = tokens
        return answers

    def _serialize(
        self,
        tracks: Sequence[tuple[RawMessage, EnrichedTrack]],
        answers: _Answers,
        unanswered: np.ndarray,
        predict_ms: float,
        result: BatchResult,
    ) -> None:
        n = len(tracks)
        tasks = self.router.tasks
        served = [task for task in tasks if task in FIELD and task in answers.sections]
        fields = [(FIELD[task], answers.sections[task]) for task in served]
        # Per row, what answered it, in task order: the prediction id hashes it.
        columns = [answers.tokens[task] for task in served]
        tokens = [b"".join(row) for row in zip(*columns, strict=True)] if columns else [b""] * n
        releases = [track.release for _, track in tracks]
        scored_at = datetime.now(UTC)
        scored_iso = _iso(scored_at)
        latencies, clocks = end_to_end(
            [release.produced_at for release in releases],
            [message.timestamp_ms for message, _ in tracks],
            scored_at,
        )
        score_ms = predict_ms / n
        explanation = answers.explanation
        bad_rows = answers.bad
        dumps = orjson.dumps
        any_unanswered = bool(unanswered.any())
        records = result.records
        for i, ((message, track), release, token, end_to_end_s, clock) in enumerate(
            zip(tracks, releases, tokens, latencies, clocks, strict=True)
        ):
            if bad_rows and i in bad_rows:
                error = ModelError(f"a model returned a non-finite score ({bad_rows[i]})")
                result.dead_letters.append(dead_letter(message, "score", error, release.event_id))
                continue
            prediction: dict[str, Any] = {
                "schema_version": 1,
                "prediction_id": prediction_id_of(release.event_id, token),
                "event_id": release.event_id,
                "track_id": release.track_id,
            }
            for name, column in fields:
                section = column[i]
                if section is not None:
                    prediction[name] = section
            if explanation is not None and explanation[i]:
                prediction["contributions"] = [
                    {"feature": f, "value": v, "contribution": c} for f, v, c in explanation[i]
                ]
            if track.inputs:
                prediction["inputs"] = track.inputs
            if track.estimated:
                prediction["estimated"] = track.estimated_fields
            if track.language:
                prediction["language"] = track.language
            if any_unanswered and unanswered[i].any():
                prediction["unanswered"] = {
                    task.value: UNANSWERED
                    for task, missing in zip(tasks, unanswered[i].tolist(), strict=True)
                    if missing
                }
            timings: dict[str, Any] = {
                "enrich_ms": track.enrich_ms,
                "score_ms": score_ms,
                "batch_size": n,
                "end_to_end_ms": end_to_end_s * 1000.0,
            }
            if clock != "produced_at":
                timings["clock"] = clock
            if clock != "unknown":
                result.end_to_end_s.append(end_to_end_s)
            prediction["timings"] = timings
            prediction["scored_at"] = scored_iso
            if self.shadow:
                prediction["shadow"] = True
            records.append(
                OutRecord(
                    key=release.track_id.encode(),
                    value=dumps(prediction),
                    event_id=release.event_id,
                )
            )


def add_shadow(
    result: BatchResult,
    shadow: Scorer | None,
    tracks: Sequence[tuple[RawMessage, EnrichedTrack]],
) -> None:
    """Score ``tracks`` with the challengers' set too, into ``result.shadow_records``. A
    challenger that fails costs its own predictions only, never the served ones."""
    if shadow is None or not tracks:
        return
    started = time.perf_counter()
    try:
        result.shadow_records = shadow.score_tracks(tracks).records
    except Exception:
        logger.exception("the challengers could not score a batch of %d", len(tracks))
    result.timings_s["shadow"] = time.perf_counter() - started
