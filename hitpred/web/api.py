"""The JSON API: predictions, health, readiness, metrics, the live feed and the insights data.

- ``POST /v1/predict``: one release, as a ``ReleaseEvent`` JSON body or a multipart form (an
  audio file, lyrics and the other fields); the answer is the stream's ``Prediction``.
- ``POST /v1/predict/batch``: ``{"events": [...]}``, at most ``serve_max_batch_items``.
- ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (Prometheus text format).
- ``GET /v1/live`` (a snapshot) and ``GET /v1/live/stream`` (server-sent events, one a second).
- ``GET /v1/insights``: the figures of the insights page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from hitpred import metrics
from hitpred.errors import DatasetError
from hitpred.schemas import Prediction, ReleaseEvent
from hitpred.web.app import WebState, error_body, state_of
from hitpred.web.inputs import form_schema, parse_batch, parse_event, parse_form
from hitpred.web.service import Outcome, PredictionService, Upload

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()

_ERROR = {
    "description": "The reasons, per field",
    "content": {
        "application/json": {
            "example": {"detail": [{"loc": ["body", "tempo"], "msg": "...", "type": "..."}]}
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {**_ERROR, "description": "Request body over the size limit"},
    422: {**_ERROR, "description": "Invalid input, or a release enrichment refused"},
    503: {**_ERROR, "description": "The models are still loading"},
}


class BatchRequest(BaseModel):
    """Releases to score in one request."""

    events: list[ReleaseEvent] = Field(min_length=1)


class Refusal(BaseModel):
    """Why a release of a batch got no prediction (the stage that refused it)."""

    stage: str
    reason: str


class BatchItem(BaseModel):
    event_id: str
    prediction: Prediction | None = None
    error: Refusal | None = None


class BatchResponse(BaseModel):
    """One item per submitted release, in input order."""

    results: list[BatchItem]


def _service(state: WebState) -> PredictionService:
    if state.service is None:
        msg = "the models are still loading" if state.load_error is None else "models unavailable"
        raise HTTPException(status_code=503, detail=msg)
    return state.service


def _refusal(outcome: Outcome) -> tuple[str, str]:
    """(stage, reason) of a release that got no prediction."""
    letter = outcome.refused
    return (letter.stage, letter.reason) if letter else ("score", "no prediction was produced")


def _count(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        label = "scored" if outcome.prediction is not None else _refusal(outcome)[0]
        metrics.HTTP_PREDICTIONS.labels(label).inc()


@router.post(
    "/v1/predict",
    tags=["predictions"],
    summary="Predict one release",
    response_model=Prediction,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ReleaseEvent"}},
                "multipart/form-data": {"schema": form_schema()},
            },
        }
    },
)
async def predict(request: Request) -> Response:
    """Score one release exactly as the stream would: a ``ReleaseEvent`` JSON body, or a
    multipart form with an optional audio file (analysed in memory, never stored) and lyrics.
    An ``audio_ref`` follows the server's audio policy (root folder, http allow-list)."""
    state = state_of(request)
    settings = state.settings
    upload: Upload | None = None
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=40)
        try:
            event_id, body, upload = await parse_form(form, settings.audio_max_bytes)
        finally:
            await form.close()
    else:
        event_id, body = parse_event(await request.body())
    outcome = (await _service(state).predict([(event_id, body)], upload))[0]
    _count([outcome])
    if outcome.prediction is not None:
        return Response(outcome.prediction, media_type="application/json")
    return _refused(outcome, "audio" if upload is not None else "audio_ref")


def _refused(outcome: Outcome, audio_field: str) -> Response:
    """422 for a release refused by validation or enrichment, 500 for a scoring failure."""
    stage, reason = _refusal(outcome)
    if stage == "score":
        return JSONResponse(error_body([], f"scoring failed: {reason}", "score"), 500)
    loc: list[Any] = ["body"]
    if stage == "enrich":
        text = reason.lower()
        loc.append(audio_field if "audio" in text else "lyrics" if "lyrics" in text else "event")
    return JSONResponse(error_body(loc, reason, stage), status_code=422)


@router.post(
    "/v1/predict/batch",
    tags=["predictions"],
    summary="Predict several releases",
    response_model=BatchResponse,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}
            },
        }
    },
)
async def predict_batch(request: Request) -> Response:
    """Score up to ``HITPRED_SERVE_MAX_BATCH_ITEMS`` releases (unique ``event_id`` each). An
    invalid event refuses the whole request (422); a release whose lyrics or audio cannot be
    used gets an ``error`` item instead of a prediction."""
    state = state_of(request)
    items = parse_batch(await request.body(), state.settings.serve_max_batch_items)
    outcomes = await _service(state).predict(items)
    _count(outcomes)
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        item: dict[str, Any] = {"event_id": outcome.event_id}
        if outcome.prediction is not None:
            item["prediction"] = orjson.Fragment(outcome.prediction)
        else:
            stage, reason = _refusal(outcome)
            item["error"] = {"stage": stage, "reason": reason}
        results.append(item)
    return Response(orjson.dumps({"results": results}), media_type="application/json")


@router.get("/healthz", tags=["operations"], summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "alive"}


@router.get(
    "/readyz",
    tags=["operations"],
    summary="Readiness",
    responses={503: {"description": "Not ready; `checks` says what is missing"}},
)
async def readyz(request: Request) -> Response:
    """Ready when the models are loaded and, where this process uses them, Redis (the
    embedding cache) and the broker (the live feed) answer."""
    state = state_of(request)
    checks: dict[str, str] = {}
    if state.service is not None:
        checks["models"] = "ok"
    else:
        checks["models"] = "failed to load" if state.load_error else "loading"
    client = _redis_client(state.service)
    if client is not None:
        checks["redis"] = "ok" if await asyncio.to_thread(_ping, client) else "unreachable"
    if state.live is not None:
        checks["broker"] = "ok" if state.live.connected else "unreachable"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def _redis_client(service: PredictionService | None) -> Any:
    if service is None or service.enricher is None:
        return None
    return service.enricher.cache.client


def _ping(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # any client or connection failure means "not reachable"
        return False


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def prometheus_metrics() -> Response:
    """This process's metrics in the Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _live_snapshot(state: WebState) -> dict[str, Any]:
    if state.live is None:
        reason = (
            "the live feed is off (HITPRED_SERVE_LIVE=false)"
            if not state.settings.serve_live
            else "no broker configured (HITPRED_KAFKA_BOOTSTRAP)"
        )
        return {"enabled": False, "reason": reason}
    return {"enabled": True, **state.live.snapshot()}


@router.get("/v1/live", tags=["live"], summary="Live statistics (one snapshot)")
async def live(request: Request) -> dict[str, Any]:
    """Throughput, end-to-end latency percentiles, dead letters by stage, latest predictions."""
    return _live_snapshot(state_of(request))


@router.get(
    "/v1/live/stream",
    tags=["live"],
    summary="Live statistics as server-sent events",
    response_class=EventSourceResponse,
)
async def live_stream(request: Request) -> EventSourceResponse:
    """A ``snapshot`` event a second, the same document as ``GET /v1/live``."""
    state = state_of(request)

    async def events() -> AsyncIterator[dict[str, str]]:
        while True:
            yield {"event": "snapshot", "data": orjson.dumps(_live_snapshot(state)).decode()}
            await asyncio.sleep(1.0)

    return EventSourceResponse(events(), ping=15)


@router.get("/v1/insights", tags=["insights"], summary="What makes hits")
async def insights(request: Request) -> dict[str, Any]:
    """Descriptor trends of hits and flops per decade, the class distribution, danceability
    against energy, hit-title words (from ``HITPRED_SERVE_INSIGHTS_DATA``), the served
    champions' feature importances and the registry's champion reports."""
    state = state_of(request)
    return await asyncio.to_thread(_insights, state)


def _insights(state: WebState) -> dict[str, Any]:
    from hitpred.web.insights import dataset_insights, model_insights, registry_reports

    path = state.settings.serve_insights_data
    with state.insights_lock:
        if state.insights is None:
            data: dict[str, Any] = {"configured": path is not None}
            if path is None:
                data["message"] = (
                    "No training data set is configured: set HITPRED_SERVE_INSIGHTS_DATA or "
                    "start with `hitpred serve --insights-data PATH`."
                )
            else:
                try:
                    data.update(dataset_insights(path))
                    data["dataset"]["path"] = path.name
                except (DatasetError, OSError) as exc:
                    logger.warning("insights data set %s: %s", path, exc)
                    why = str(exc) if isinstance(exc, DatasetError) else "it cannot be read"
                    why = why.replace(str(path), path.name)
                    data["message"] = f"The insights data set {path.name!r} cannot be used: {why}"
            state.insights = data
        out = dict(state.insights)
    service = state.service
    out["importances"] = model_insights(service.scorer.models) if service else []
    try:
        out["champions"] = registry_reports(state.settings.registry_uri)
    except (OSError, ValueError) as exc:
        logger.warning("registry reports: %s", exc)
        out["champions"] = []
    return out
