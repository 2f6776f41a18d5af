"""The HTTP service of `hitpred serve`: one-off predictions and the web pages.

Reading guide:

- :mod:`~hitpred.web.app`: :func:`create_app` (the FastAPI app: lifespan, limits, errors);
- :mod:`~hitpred.web.api`: the JSON API (``/v1/predict``, ``/v1/predict/batch``, ``/healthz``,
  ``/readyz``, ``/metrics``, ``/v1/live``, ``/v1/insights``);
- :mod:`~hitpred.web.service`: the champions and the enricher behind one scoring thread,
  calling the stream's :func:`hitpred.pipeline.process_releases`;
- :mod:`~hitpred.web.inputs`: request bodies and forms -> validated events, or reasons;
- :mod:`~hitpred.web.limits`: request size limits (413);
- :mod:`~hitpred.web.live`: the live feed (an aiokafka consumer of predictions and dead letters);
- :mod:`~hitpred.web.insights`: the figures of the insights page;
- :mod:`~hitpred.web.pages`, :mod:`~hitpred.web.descriptors`, ``templates/``, ``static/``:
  the pages (Chart.js vendored in ``static/vendor/``).

Needs the ``serve`` extra (``pip install 'hitpred[serve]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    """See :func:`hitpred.web.app.create_app` (imported here only when called)."""
    from hitpred.errors import require

    require("fastapi", "serve")
    require("python_multipart", "serve", "python-multipart")
    require("sse_starlette", "serve", "sse-starlette")
    from hitpred.web.app import create_app as create

    return create(*args, **kwargs)
