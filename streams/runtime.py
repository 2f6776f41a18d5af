"""Per-worker state, started with the Faust app: models, enricher, executors, the publisher.

Models are loaded in :meth:`Runtime.on_start` (never at import time) through
:func:`hitpred.champions.load_models`, and the enricher (lyrics encoders, audio policy, embedding
cache) through :func:`hitpred.enrichment.stage.build_enricher`, in the executors so the event
loop keeps heartbeating. Stages wait for :meth:`Runtime.wait_ready` before their first batch.
Each stage has its own executor thread (a worker with both roles runs one fused stage, see
:mod:`streams.batch`), so on a split worker a batch of audio analysis never holds up scoring.
A worker that scores also runs scoring processes, one per core of its share of the machine when
that is two or more (:class:`hitpred.parallel.ScoringPool`); every scorer set it serves is
staged for them, so they switch models between the same two batches as the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from aiokafka.errors import KafkaError
from mode import Service

from hitpred import heap, metrics
from hitpred.champions import load_models, load_shadow_models
from hitpred.enrichment import Enricher
from hitpred.enrichment.stage import build_enricher, enrich_messages
from hitpred.errors import IntegrityError
from hitpred.intake import BatchResult, OutRecord, RawMessage
from hitpred.models.base import Task, TaskModel
from hitpred.parallel import POOL_STAGES, Generation, ScoringPool
from hitpred.pipeline import process_releases
from hitpred.schemas import DeadLetter
from hitpred.scoring import Scorer
from hitpred.settings import Settings
from hitpred.stack import WORKER_READY_LINE
from streams.deadletter import log_dead_letters
from streams.publish import BatchPublisher

__all__ = ["Runtime", "build_scorers", "describe_models", "export_model_info"]

logger = logging.getLogger(__name__)

#: At start, how long the scoring processes may take to load the first models before the
#: worker says it is ready anyway.
POOL_LOAD_TIMEOUT_S = 120.0

T = TypeVar("T")
A = TypeVar("A")


def build_scorers(settings: Settings) -> tuple[Scorer, Scorer | None]:
    """The served scorer and the challengers' (None when no task has a challenger), every
    artifact verified on load."""
    models = load_models(settings)
    try:
        shadow = load_shadow_models(settings, models)
    except Exception as exc:  # a challenger that cannot load costs only the shadow topic
        if isinstance(exc, IntegrityError):
            metrics.REGISTRY_INTEGRITY_FAILURES.inc()
        logger.error("no shadow scoring: the challenger cannot be loaded: %s", exc)
        shadow = None
    return Scorer(models), None if shadow is None else Scorer(shadow, shadow=True)


def describe_models(models: dict[Task, list[TaskModel]]) -> dict[str, list[str]]:
    """{task: ["name@version (feature set)", ...]} for log lines."""
    return {
        str(t): [f"{m.name}@{m.version} ({m.feature_set})" for m in ms] for t, ms in models.items()
    }


def export_model_info(models: dict[Task, list[TaskModel]]) -> None:
    """``hitpred_model_info``: exactly the models served now (value 1 each)."""
    metrics.MODEL_INFO.clear()
    for task, served in models.items():
        for model in served:
            metrics.MODEL_INFO.labels(str(task), model.name, model.version).set(1)


class Runtime(Service):
    """What the agents share inside one worker process."""

    def __init__(self, settings: Settings, bootstrap: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.publisher = BatchPublisher(bootstrap, beacon=self.beacon)
        self.scorer: Scorer | None = None
        #: The challengers' set (scored too, published to the shadow topic), or None.
        self.shadow: Scorer | None = None
        self.enricher: Enricher | None = None
        # One thread per stage: the batch functions hold the GIL most of the time, so more
        # threads would only contend; what matters is that the event loop is not the one running
        # them, and that slow audio analysis does not queue in front of scoring.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitpred-batch")
        self.enrich_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="hitpred-enrich"
        )
        # Scoring processes for descriptors-only batches (see hitpred.parallel), when this
        # worker scores and the machine has cores to spare.
        processes = settings.scoring_process_count if "score" in settings.role_set else 0
        self.pool = ScoringPool(processes) if processes else None
        #: The served scorers as the scoring processes load them (None without a pool).
        self.generation: Generation | None = None
        self._ready = asyncio.Event()
        self._loading: asyncio.Future[None] | None = None

    def on_init_dependencies(self) -> list[Service]:
        return [self.publisher]

    async def on_start(self) -> None:
        metrics.SCORING_PROCESSES.set(self.pool.processes if self.pool else 0)
        if self.pool is not None:
            self.pool.start()  # the processes import their libraries while models load
        # Loaded in the background: the stages join their consumer groups meanwhile (a join
        # waits seconds on the broker), so a restarted worker scores again sooner.
        self._loading = asyncio.ensure_future(self._load())

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            # The champions and the enricher (lyrics encoder, warm-up) load side by side.
            loop = asyncio.get_running_loop()
            loading = loop.run_in_executor(self.executor, build_scorers, self.settings)
            if "enrich" in self.settings.role_set:
                self.enricher = await loop.run_in_executor(
                    self.enrich_executor, build_enricher, self.settings
                )
                await loop.run_in_executor(self.enrich_executor, self.enricher.warm_up)
            scorer, shadow = await loading
            generation = await loop.run_in_executor(
                self.executor, self.stage_for_pool, scorer, shadow
            )
            if self.pool is not None and generation is not None:
                # Ready means the scoring processes hold the models too (best effort: on a
                # failure they load them with their first batch).
                await self.pool.load(generation, POOL_LOAD_TIMEOUT_S)
            self.swap_scorer(scorer, shadow, generation)
            models = scorer.models
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("cannot load the models")
            await self.crash(exc)
            return
        # Everything alive now (models, libraries, the app) lives for the whole process: move
        # it out of the cyclic GC's generations so full collections triggered by the batches'
        # many short-lived dicts do not rescan it (measured: 100 ms pauses on a 40 ms batch).
        heap.settle()
        export_model_info(models)
        metrics.serve_metrics(self.settings.metrics_port)
        logger.info(
            "scoring with %s (loaded in %.1fs)",
            describe_models(models),
            time.perf_counter() - started,
        )
        self._ready.set()
        logger.info(WORKER_READY_LINE)

    async def on_stop(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.enrich_executor.shutdown(wait=True, cancel_futures=True)
        if self.pool is not None:
            self.pool.close()

    @property
    def models(self) -> dict[Task, list[TaskModel]]:
        """The models served now, per task."""
        return self.scorer.models if self.scorer is not None else {}

    def stage_for_pool(self, scorer: Scorer, shadow: Scorer | None) -> Generation | None:
        """Hand a scorer set to the scoring processes (from a thread: pickling takes a while);
        the generation to pass to :meth:`swap_scorer`. None without a pool, or when this set
        cannot be handed over (then the worker scores with it itself)."""
        if self.pool is None:
            return None
        try:
            return self.pool.stage(scorer, shadow)
        except Exception as exc:  # e.g. a model holding something that cannot be pickled
            logger.warning(
                "these models cannot go to the scoring processes; scoring in the worker: %r", exc
            )
            return None

    def swap_scorer(
        self, scorer: Scorer, shadow: Scorer | None, generation: Generation | None = None
    ) -> None:
        """Serve ``scorer`` (and shadow-score with ``shadow``) from the next batch on; a batch
        in hand keeps the ones it took. ``generation``: the same set as staged for the
        scoring processes (:meth:`stage_for_pool`)."""
        self.scorer, self.shadow, self.generation = scorer, shadow, generation
        if self.pool is not None and generation is not None:
            self.pool.preload(generation)

    def pool_for(self, stage: str) -> tuple[ScoringPool, Generation] | None:
        """The scoring processes and the generation a ``stage`` batch may be scored with now,
        or None (no pool, not ready yet, or a stage they do not run)."""
        pool, generation = self.pool, self.generation
        if pool is None or generation is None or stage not in POOL_STAGES or not pool.ready:
            return None
        return pool, generation

    async def wait_ready(self) -> Scorer:
        """Wait until the models are loaded; returns the scorer."""
        await self._ready.wait()
        assert self.scorer is not None
        return self.scorer

    def stage_function(self, stage: str) -> Callable[[Sequence[RawMessage]], BatchResult]:
        """The batch function of a stage (``pipeline``, ``enrich`` or ``score``); after
        start-up."""
        assert self.scorer is not None
        if stage == "pipeline":
            return partial(process_releases, self.scorer, self.enricher, shadow=self.shadow)
        if stage == "enrich":
            assert self.enricher is not None
            return partial(enrich_messages, self.enricher)
        if stage == "score":
            return partial(self.scorer.score_enriched, shadow=self.shadow)
        raise ValueError(f"unknown stage {stage!r}")

    async def run(self, fn: Callable[[A], T], batch: A, stage: str = "score") -> T:
        """Run a batch function in the stage's executor, off the event loop."""
        executor = self.enrich_executor if stage == "enrich" else self.executor
        return await asyncio.get_running_loop().run_in_executor(executor, fn, batch)

    async def emit(self, stage: str, topic: str, batch_size: int, result: BatchResult) -> None:
        """Publish a batch's outputs and dead letters, and record its metrics.

        Outputs that cannot be delivered become ``publish`` dead letters; if even the
        dead-letter topic refuses them the error propagates (offsets stay uncommitted, so the
        batch is consumed again after a restart: nothing is dropped silently).
        """
        started = time.perf_counter()
        dead = list(result.dead_letters)
        try:
            await self.publisher.publish(topic, [(r.key, r.value) for r in result.records])
            delivered = len(result.records)
        except KafkaError as exc:
            logger.error("cannot publish %d records to %s: %r", len(result.records), topic, exc)
            dead.extend(
                DeadLetter.build(
                    original=r.value,
                    stage="publish",
                    error=exc,
                    source_topic=topic,
                    key=r.key,
                    event_id=r.event_id,
                )
                for r in result.records
            )
            delivered = 0
        if result.shadow_records:
            await self._publish_shadow(result.shadow_records)
        if dead:
            await self.publisher.publish(
                self.settings.dlq_topic,
                [(d.original_key.encode() if d.original_key else None, d.to_json()) for d in dead],
            )
            log_dead_letters(dead)
        self._observe(stage, batch_size, delivered, dead, result, time.perf_counter() - started)

    async def _publish_shadow(self, records: Sequence[OutRecord]) -> None:
        """The challengers' predictions: best effort (never dead-lettered, never holding up the
        served predictions' commit beyond the publisher's wait for a broker outage)."""
        try:
            await self.publisher.publish(
                self.settings.shadow_topic, [(r.key, r.value) for r in records]
            )
        except KafkaError as exc:
            logger.warning("%d shadow predictions not published: %r", len(records), exc)
            return
        metrics.SHADOW_PREDICTIONS.inc(len(records))

    @staticmethod
    def _observe(
        stage: str,
        batch_size: int,
        delivered: int,
        dead: Sequence[DeadLetter],
        result: BatchResult,
        produce_s: float,
    ) -> None:
        metrics.EVENTS_IN.labels(stage).inc(batch_size)
        metrics.EVENTS_OUT.labels(stage).inc(delivered)
        metrics.BATCH_SIZE.labels(stage).observe(batch_size)
        for letter in dead:
            metrics.DEAD_LETTERS.labels(letter.stage, letter.error_type).inc()
        for step, seconds in result.timings_s.items():
            metrics.STAGE_LATENCY.labels(step).observe(seconds)
        metrics.STAGE_LATENCY.labels("produce").observe(produce_s)
        if stage in ("score", "pipeline"):
            metrics.SCORING_LATENCY.observe(sum(result.timings_s.values()))
            metrics.observe_many(metrics.END_TO_END_LATENCY, result.end_to_end_s)
