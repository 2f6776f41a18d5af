"""The ``enrich`` agent: validate releases, enrich them, feed the scoring topic.

Validation failures (not JSON, schema violations, missing or mismatched keys) become dead
letters with stage ``decode``/``validate``; valid releases go to ``hitpred.tracks.enriched.v1``
keyed by ``track_id``, so scoring can scale and be replayed on its own.
"""

from __future__ import annotations

import logging

import faust

from hitpred.scoring import enrich_releases
from streams.agents._batch import raw_messages
from streams.runtime import Runtime
from streams.topics import Topics

__all__ = ["register_enrich"]

logger = logging.getLogger(__name__)


def register_enrich(app: faust.App, topics: Topics, runtime: Runtime) -> faust.types.AgentT:
    """Attach the ``enrich`` agent to ``app``."""
    settings = runtime.settings

    @app.agent(topics.releases, name="hitpred.enrich")
    async def enrich(stream: faust.StreamT) -> None:
        await runtime.wait_ready()
        async for events in stream.take_events(  # type: ignore[attr-defined]  # faust's StreamT lacks it
            settings.batch_size, settings.batch_within_s
        ):
            batch = raw_messages(events)
            result = await runtime.run(enrich_releases, batch)
            await runtime.emit("enrich", topics.enriched.get_topic_name(), len(batch), result)

    return enrich
