"""The Faust app: ``create_app(settings)``; ``app`` for ``faust -A streams.app worker``."""

from __future__ import annotations

import logging

import faust

from hitpred.settings import Settings, get_settings
from streams.batch import BatchStage
from streams.reload import ModelReloader
from streams.runtime import Runtime

__all__ = ["DEFAULT_BOOTSTRAP", "app", "create_app"]

logger = logging.getLogger(__name__)

#: Used only when HITPRED_KAFKA_BOOTSTRAP is unset (``hitpred up`` always sets it).
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def create_app(settings: Settings | None = None) -> faust.App:
    """A HitPred worker app for ``settings`` (default: the environment)."""
    settings = settings or get_settings()
    bootstrap = settings.kafka_bootstrap or DEFAULT_BOOTSTRAP
    datadir = settings.state_dir / "faust" / settings.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        settings.app_id,
        broker=",".join(f"kafka://{b.strip()}" for b in bootstrap.split(",")),
        datadir=str(datadir),
        store="memory://",
        web_enabled=False,  # also pass --without-web: the worker CLI defaults to with-web
        web_port=settings.web_port,
        # Topics are created by the stack or the topic-init job; nothing else to coordinate.
        topic_disable_leader=True,
        topic_allow_declare=False,
        topic_partitions=settings.partitions,
    )
    # No Faust agent: the events go through the batch stages' own consumers (streams.batch).
    # Faust's consumer would subscribe to nothing (Faust refuses that) and its group join
    # would delay the stages by seconds: the app runs without it.
    app.boot_strategy = app.BootStrategy(app, enable_kafka_consumer=False)
    runtime = Runtime(settings, bootstrap, beacon=app.beacon)
    # Started with the app, stopped with it (runtime dependency of the app service).
    app.service(runtime)  # type: ignore[arg-type]
    roles = settings.role_set

    def batch_stage(stage: str, source: str, target: str, group: str) -> None:
        enriching = stage in ("pipeline", "enrich")
        service = BatchStage(
            runtime,
            stage=stage,
            source=source,
            target=target,
            group_id=f"{settings.app_id}-{group}",
            bootstrap=bootstrap,
            batch_size=settings.batch_size,
            heavy_limit=settings.enrich_batch_size if enriching else None,
            beacon=runtime.beacon,
        )
        app.service(service)  # type: ignore[arg-type]

    # Releases are consumed by the group <app>-enrich whatever a worker does with them, so
    # fused and enrich-only workers can share a deployment; the enriched topic by <app>-score.
    releases, enriched = settings.releases_topic, settings.enriched_topic
    if roles >= {"enrich", "score"}:
        # One pass: decode once, enrich in memory, score, no internal topic.
        batch_stage("pipeline", releases, settings.predictions_topic, "enrich")
    elif "enrich" in roles:
        batch_stage("enrich", releases, enriched, "enrich")
    elif "score" in roles:
        batch_stage("score", enriched, settings.predictions_topic, "score")
    if "score" in roles:
        # Follows the registry: a promotion or rollback is served without a restart.
        app.service(ModelReloader(runtime, beacon=runtime.beacon))  # type: ignore[arg-type]
    return app


app = create_app()
