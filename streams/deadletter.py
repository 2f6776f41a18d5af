"""The ``deadletters`` agent: makes every dead letter visible in the worker's log.

Dead letters are produced by the stage that rejected an event (see :meth:`Runtime.emit`); this
agent reads ``hitpred.releases.dlq`` back and logs each one's stage, key and reason at WARNING,
so an operator sees *why* events are rejected without a separate consumer. It is also the one
Faust agent that runs with ``HITPRED_ENGINE=batch`` (Faust needs at least one subscription).
"""

from __future__ import annotations

import logging

import faust
import orjson

from streams.runtime import Runtime
from streams.topics import Topics

__all__ = ["register_deadletters"]

logger = logging.getLogger(__name__)


def register_deadletters(app: faust.App, topics: Topics, runtime: Runtime) -> faust.types.AgentT:
    """Attach the ``deadletters`` agent to ``app``."""
    settings = runtime.settings

    @app.agent(topics.dlq, name="hitpred.deadletters")
    async def deadletters(stream: faust.StreamT) -> None:
        async for values in stream.take(settings.batch_size, settings.batch_within_s):
            for value in values:
                try:
                    letter = orjson.loads(value)
                    # Keys and reasons come from outside: escaped (repr) and cut, so a key
                    # with a newline cannot forge a log line, nor a 100 KB key flood the log.
                    logger.warning(
                        "dead letter [%s] key=%s event=%s: %s",
                        _safe(letter.get("stage"), 20),
                        _safe(letter.get("original_key"), 120),
                        _safe(letter.get("event_id"), 130),
                        _safe(letter.get("reason"), 300),
                    )
                except (orjson.JSONDecodeError, AttributeError):
                    logger.error("unreadable message on the dead-letter topic: %r", value[:200])

    return deadletters


def _safe(value: object, limit: int) -> str:
    """A value for a log line: repr-escaped (no raw control characters), at most ``limit``."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit})"
