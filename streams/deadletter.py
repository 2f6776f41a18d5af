"""Dead letters visible in the worker's log, written by the worker that made it.

Dead letters are produced by the stage that rejected an event (see :meth:`Runtime.emit`); once
the broker has acknowledged them, each one's stage, key, event id and reason is logged at
WARNING, so an operator sees *why* events are rejected without a separate consumer. A batch
with many (a producer sending garbage at full speed) logs its first
:data:`MAX_LINES_PER_BATCH` and one line counting the rest by stage and error: one log record
per event would cost the event loop ~10 us each and flood the log, while every dead letter is
on the dead-letter topic anyway and counted in ``hitpred_dead_letters_total``. (This was a
Faust agent reading the dead-letter topic back; its consumer group's join delayed every
worker's start by 5-13 s on the embedded broker for no information the worker did not have.)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from hitpred.schemas import DeadLetter

__all__ = ["MAX_LINES_PER_BATCH", "log_dead_letters"]

#: Dead letters of one batch logged one by one; the rest are counted in one more line.
MAX_LINES_PER_BATCH = 10

logger = logging.getLogger(__name__)


def log_dead_letters(letters: Sequence[DeadLetter]) -> None:
    """One WARNING line per dead letter of a batch, for the first :data:`MAX_LINES_PER_BATCH`;
    then one line counting the others by stage and error type. Keys and reasons come from
    outside: escaped (repr) and cut, so a key with a newline cannot forge a log line, nor a
    100 KB key flood the log."""
    for letter in letters[:MAX_LINES_PER_BATCH]:
        logger.warning(
            "dead letter [%s] key=%s event=%s: %s",
            _safe(str(letter.stage), 20),
            _safe(letter.original_key, 120),
            _safe(letter.event_id, 130),
            _safe(letter.reason, 300),
        )
    rest = letters[MAX_LINES_PER_BATCH:]
    if rest:
        counts = Counter((str(letter.stage), letter.error_type) for letter in rest)
        logger.warning(
            "%d more dead letters in this batch, not logged one by one (each is on the "
            "dead-letter topic): %s",
            len(rest),
            ", ".join(
                f"{_safe(stage, 20)}/{_safe(error, 60)} {n}"
                for (stage, error), n in counts.most_common()
            ),
        )


def _safe(value: object, limit: int) -> str:
    """A value for a log line: repr-escaped (no raw control characters), at most ``limit``."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit})"
