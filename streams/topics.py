"""The HitPred topics as Faust sees them: raw bytes, so the batch functions decode in bulk."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from hitpred.settings import Settings

__all__ = ["Topics"]


@dataclass(frozen=True)
class Topics:
    """The four topics of one app. Created by the stack / topic-init job, never auto-created."""

    releases: faust.TopicT
    enriched: faust.TopicT
    predictions: faust.TopicT
    dlq: faust.TopicT

    @classmethod
    def declare(cls, app: faust.App, settings: Settings) -> Topics:
        """Declare the topics on ``app`` with raw key and value serializers."""

        def topic(name: str) -> faust.TopicT:
            return app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=settings.partitions,
            )

        return cls(
            releases=topic(settings.releases_topic),
            enriched=topic(settings.enriched_topic),
            predictions=topic(settings.predictions_topic),
            dlq=topic(settings.dlq_topic),
        )
