"""Turning Faust events into :class:`hitpred.scoring.RawMessage` batches."""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT

from hitpred.scoring import RawMessage

__all__ = ["raw_messages"]


def raw_messages(events: Sequence[EventT]) -> list[RawMessage]:
    """The consumed messages of ``events``, bytes untouched, with their coordinates."""
    out: list[RawMessage] = []
    for event in events:
        m = event.message
        out.append(
            RawMessage(
                value=m.value,
                key=m.key,
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                timestamp_ms=int(m.timestamp * 1000) if m.timestamp else None,
            )
        )
    return out
