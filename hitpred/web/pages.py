"""The HTML pages: "Hit or Flop?" (``/``), Live (``/live``) and Insights (``/insights``).

The pages are Jinja2 templates (``templates/``) drawn in the browser by small scripts
(``static/``) over the JSON API; charts use the Chart.js build vendored in
``static/vendor/`` (nothing is fetched from a CDN).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hitpred.models.base import Task
from hitpred.web.app import WEB_ROOT, WebState, state_of
from hitpred.web.descriptors import slider_table

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=WEB_ROOT / "templates")


def _genres(state: WebState) -> list[str]:
    """Genres the served genre models know (the form suggests them)."""
    found: list[str] = []
    if state.service is not None:
        for model in state.service.scorer.models.get(Task.GENRE, []):
            for name in getattr(model, "classes", None) or ():
                if name not in found:
                    found.append(str(name))
    return sorted(found)


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
async def hit_or_flop(request: Request) -> HTMLResponse:
    """The one-release form."""
    state = state_of(request)
    return _page(
        request,
        "predict.html",
        page="predict",
        sliders=slider_table(),
        genres=_genres(state),
        max_upload_mb=state.settings.audio_max_bytes / 1_000_000,
    )


@router.get("/live", response_class=HTMLResponse)
async def live(request: Request) -> HTMLResponse:
    """Throughput, latency, dead letters and the latest predictions of the stream."""
    return _page(request, "live.html", page="live")


@router.get("/insights", response_class=HTMLResponse)
async def insights(request: Request) -> HTMLResponse:
    """What makes hits, from the training data and the champions."""
    return _page(request, "insights.html", page="insights")
