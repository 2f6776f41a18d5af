"""The ``score`` agent: enriched tracks in, predictions out, one vectorised predict per batch."""

from __future__ import annotations

import logging

import faust

from streams.agents._batch import raw_messages
from streams.runtime import Runtime
from streams.topics import Topics

__all__ = ["register_score"]

logger = logging.getLogger(__name__)


def register_score(app: faust.App, topics: Topics, runtime: Runtime) -> faust.types.AgentT:
    """Attach the ``score`` agent to ``app``."""
    settings = runtime.settings

    @app.agent(topics.enriched, name="hitpred.score")
    async def score(stream: faust.StreamT) -> None:
        scorer = await runtime.wait_ready()
        async for events in stream.take_events(  # type: ignore[attr-defined]  # faust's StreamT lacks it
            settings.batch_size, settings.batch_within_s
        ):
            batch = raw_messages(events)
            result = await runtime.run(scorer.score_enriched, batch)
            await runtime.emit("score", topics.predictions.get_topic_name(), len(batch), result)

    return score
