"""``hitpred serve``: the HTTP API and the web pages (see :mod:`hitpred.web`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from hitpred.errors import MissingExtraError
from hitpred.settings import get_settings

__all__ = ["serve"]

logger = logging.getLogger(__name__)


@click.command()
@click.option("--host", default=None, help="Listen address [HITPRED_SERVE_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [HITPRED_SERVE_PORT, 8000].")
@click.option(
    "--insights-data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Training data set for the insights page, e.g. ../shared/datasets/spotify-hit-predictor "
    "[HITPRED_SERVE_INSIGHTS_DATA].",
)
@click.option("--no-live", is_flag=True, help="Do not consume the topics for the live page.")
def serve(host: str | None, port: int | None, insights_data: Path | None, no_live: bool) -> None:
    """Serve predictions over HTTP (POST /v1/predict) and the Hit or Flop?, Live and Insights
    pages; API documentation at /docs."""
    try:
        import uvicorn

        from hitpred.web import create_app
    except (ImportError, MissingExtraError) as exc:
        extra = MissingExtraError("uvicorn/fastapi", "serve")
        raise click.ClickException(
            str(exc if isinstance(exc, MissingExtraError) else extra)
        ) from None
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["serve_host"] = host
    if port is not None:
        overrides["serve_port"] = port
    if insights_data is not None:
        overrides["serve_insights_data"] = insights_data
    if no_live:
        overrides["serve_live"] = False
    settings = get_settings().model_copy(update=overrides)
    app = create_app(settings)
    click.echo(
        f"HitPred on http://{settings.serve_host}:{settings.serve_port} "
        f"(API docs at /docs); loading the models..."
    )
    uvicorn.run(
        app,
        host=settings.serve_host,
        port=settings.serve_port,
        log_level=settings.log_level.lower(),
        # The body limits are enforced by the app; this caps what uvicorn itself buffers.
        h11_max_incomplete_event_size=64 * 1024,
        timeout_graceful_shutdown=5,
    )
