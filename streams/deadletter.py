"""Every dead letter visible in the worker's log, written by the worker that made it.

Dead letters are produced by the stage that rejected an event (see :meth:`Runtime.emit`); once
the broker has acknowledged them, each one's stage, key, event id and reason is logged at
WARNING, so an operator sees *why* events are rejected without a separate consumer. (This was a
Faust agent reading the dead-letter topic back; its consumer group's join delayed every
worker's start by 5-13 s on the embedded broker for no information the worker did not have.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from hitpred.schemas import DeadLetter

__all__ = ["log_dead_letters"]

logger = logging.getLogger(__name__)


def log_dead_letters(letters: Iterable[DeadLetter]) -> None:
    """One WARNING line per dead letter. Keys and reasons come from outside: escaped (repr) and
    cut, so a key with a newline cannot forge a log line, nor a 100 KB key flood the log."""
    for letter in letters:
        logger.warning(
            "dead letter [%s] key=%s event=%s: %s",
            _safe(str(letter.stage), 20),
            _safe(letter.original_key, 120),
            _safe(letter.event_id, 130),
            _safe(letter.reason, 300),
        )


def _safe(value: object, limit: int) -> str:
    """A value for a log line: repr-escaped (no raw control characters), at most ``limit``."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit})"
