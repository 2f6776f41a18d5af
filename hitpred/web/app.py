"""The FastAPI application of `hitpred serve`: :func:`create_app`.

At start-up (the lifespan) the champions and the enricher are loaded on a thread, as a worker
loads them (``/healthz`` answers at once, ``/readyz`` once they are loaded), and, when a broker
is configured, the live feed starts consuming the predictions and dead-letter topics. Tests
pass a ready :class:`~hitpred.web.service.PredictionService` instead.

Errors never carry a stack trace or a server path: every error body is
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hitpred import metrics
from hitpred.settings import Settings, get_settings
from hitpred.web.inputs import InvalidInput
from hitpred.web.limits import BodyLimitMiddleware, Receive, RequestTooLarge, Scope, Send
from hitpred.web.live import LiveFeed
from hitpred.web.service import PredictionService, build_service

__all__ = ["WEB_ROOT", "WebState", "create_app", "state_of"]

logger = logging.getLogger(__name__)

WEB_ROOT = Path(str(files("hitpred.web")))


@dataclass
class WebState:
    """What the handlers share: settings, the loaded service, the live feed, insights."""

    settings: Settings
    service: PredictionService | None = None
    load_error: str | None = None
    live: LiveFeed | None = None
    insights: dict[str, Any] | None = None
    insights_lock: threading.Lock = field(default_factory=threading.Lock)
    owns_service: bool = False


def state_of(request: Request) -> WebState:
    """The application's :class:`WebState`."""
    state = request.app.state.web
    assert isinstance(state, WebState)
    return state


def create_app(
    settings: Settings | None = None, *, service: PredictionService | None = None
) -> FastAPI:
    """The HitPred web application for ``settings`` (default: the environment's)."""
    from hitpred.web.api import router as api_router
    from hitpred.web.pages import router as pages_router

    settings = settings or get_settings()
    state = WebState(settings=settings, service=service, owns_service=service is None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = None
        if state.service is None:
            loading = asyncio.create_task(_load(state), name="hitpred-load-models")
        if settings.serve_live and settings.kafka_bootstrap:
            state.live = LiveFeed(
                settings.kafka_bootstrap, settings.predictions_topic, settings.dlq_topic
            )
            state.live.start()
        try:
            yield
        finally:
            if state.live is not None:
                await state.live.stop()
            if loading is not None and not loading.done():
                loading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loading
            if state.owns_service and state.service is not None:
                state.service.close()

    app = FastAPI(
        title="HitPred",
        version=_version(),
        summary="Hit, popularity, tier and genre predictions for new releases.",
        description=(
            "One-off predictions over HTTP with the stream's own scoring path and champions, "
            "plus the **Hit or Flop?**, **Live** and **Insights** pages. Every error body is "
            '`{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.'
        ),
        lifespan=lifespan,
    )
    app.state.web = state
    app.add_middleware(
        BodyLimitMiddleware,
        max_body=settings.serve_max_body_bytes,
        max_upload=settings.serve_max_upload_bytes,
    )
    app.add_middleware(MetricsMiddleware)
    _error_handlers(app)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=WEB_ROOT / "static"), name="static")
    _document_request_bodies(app)
    return app


def _document_request_bodies(app: FastAPI) -> None:
    """Put the request-body schemas into the OpenAPI document: the predict routes read their
    bodies themselves (JSON or multipart, with size limits), so FastAPI cannot infer them."""
    from fastapi.openapi.utils import get_openapi

    from hitpred.web.api import BatchRequest

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schema = BatchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas["BatchRequest"] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _load(state: WebState) -> None:
    try:
        state.service = await asyncio.to_thread(build_service, state.settings)
        logger.info("models and enricher loaded; ready")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # shown by /readyz; the process stays up to say so
        state.load_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.exception("loading the models failed")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hitpred")
    except PackageNotFoundError:
        return "0"


def error_body(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    """The body of an error answer."""
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


def _error_handlers(app: FastAPI) -> None:
    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidInput)
        return JSONResponse({"detail": exc.detail}, status_code=422)

    async def too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestTooLarge)
        body = error_body(["body"], str(exc), "too_large")
        return JSONResponse(body, status_code=413, headers={"Connection": "close"})

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        body = error_body([], str(exc.detail), "http")
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def internal(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body([], "internal server error", "internal"), status_code=500)

    app.add_exception_handler(InvalidInput, invalid)
    app.add_exception_handler(RequestTooLarge, too_large)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)


class MetricsMiddleware:
    """Counts requests and times them per route template (never per raw path)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
            metrics.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
