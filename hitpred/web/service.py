"""One-off predictions: the stream's own scoring path, called per HTTP request.

:class:`PredictionService` holds the champions (a :class:`~hitpred.scoring.Scorer`) and the
enricher, built exactly as a worker builds them, and hands every request to
:func:`hitpred.pipeline.process_releases`: an HTTP prediction is the stream's prediction for
the same event. The work runs on one dedicated thread (the scorer and the enricher serve one
thread at a time), off the event loop.

An uploaded audio file never touches a path: the event gets an ``upload:<sha256>`` reference
that only this request's fetch function answers, with the bytes it holds in memory (Starlette
spools a large upload to an unnamed temporary file: no path exists that a later ``audio_ref``
could name); every other reference still goes through the enricher's
:class:`~hitpred.features.audio_source.AudioPolicy` (an ``upload:`` reference in an event body
is refused like any unknown scheme).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitpred import metrics
from hitpred.enrichment.enricher import Enricher
from hitpred.intake import BatchResult, RawMessage
from hitpred.pipeline import process_releases
from hitpred.schemas import DeadLetter
from hitpred.scoring import Scorer

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = ["HTTP_SOURCE", "Outcome", "PredictionService", "Upload", "build_service"]

logger = logging.getLogger(__name__)

#: The ``source_topic`` of dead letters of HTTP requests.
HTTP_SOURCE = "http"
UPLOAD_SCHEME = "upload:"


@dataclass(frozen=True)
class Upload:
    """An audio file received with a form, held in memory."""

    data: bytes
    filename: str = ""

    @property
    def ref(self) -> str:
        """The reference that names this upload in its event (and nothing else)."""
        return UPLOAD_SCHEME + hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted release: its prediction JSON, or its dead letter."""

    event_id: str
    prediction: bytes | None = None
    refused: DeadLetter | None = None


class PredictionService:
    """The champions and the enricher of this process, and the thread that runs them."""

    def __init__(self, scorer: Scorer, enricher: Enricher | None) -> None:
        self.scorer = scorer
        self.enricher = enricher
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitpred-predict")

    def close(self) -> None:
        """Stop the scoring thread (pending work is finished first)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def predict(
        self, bodies: Sequence[tuple[str, bytes]], upload: Upload | None = None
    ) -> list[Outcome]:
        """Score validated release events given as (event_id, JSON bytes), in input order."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self._run, bodies, upload)
        return _outcomes(bodies, result)

    def _run(self, bodies: Sequence[tuple[str, bytes]], upload: Upload | None) -> BatchResult:
        messages = [RawMessage(value=body, key=None, topic=HTTP_SOURCE) for _, body in bodies]
        enricher = self.enricher if upload is None else _with_upload(self.enricher, upload)
        return process_releases(self.scorer, enricher, messages, require_key=False)


def _with_upload(enricher: Enricher | None, upload: Upload) -> Enricher | None:
    """A copy of ``enricher`` whose fetch answers ``upload.ref`` from memory."""
    if enricher is None:
        return None
    policy_fetch = enricher.fetch
    wanted = upload.ref

    def fetch(ref: str) -> bytes:
        if ref == wanted:
            return upload.data
        if policy_fetch is None:  # same refusal as the enricher's own
            from hitpred.errors import EnrichmentError

            raise EnrichmentError("audio references are not followed by this worker")
        return policy_fetch(ref)

    local = copy.copy(enricher)
    local.fetch = fetch
    return local


def _outcomes(bodies: Sequence[tuple[str, bytes]], result: BatchResult) -> list[Outcome]:
    """Match outputs to inputs by event id (the API refuses duplicate ids in one batch)."""
    predicted = {record.event_id: record.value for record in result.records}
    refused = {letter.event_id: letter for letter in result.dead_letters}
    out: list[Outcome] = []
    for event_id, _ in bodies:
        out.append(
            Outcome(
                event_id=event_id,
                prediction=predicted.get(event_id),
                refused=refused.get(event_id),
            )
        )
    return out


def build_service(settings: Settings) -> PredictionService:
    """The champions and the enricher for ``settings``, loaded as a worker loads them
    (blocking: seconds, more with the lyrics encoder and the audio warm-up)."""
    from hitpred.champions import load_models
    from hitpred.enrichment.stage import build_enricher

    scorer = Scorer(load_models(settings))
    for task, models in scorer.models.items():
        for model in models:
            metrics.MODEL_INFO.labels(str(task), model.name, model.version).set(1)
    enricher = build_enricher(settings)
    if settings.serve_warm_up:
        enricher.warm_up()
    return PredictionService(scorer, enricher)
