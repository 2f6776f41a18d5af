"""Dead letters reach the worker's log escaped and cut: outside input cannot forge a line."""

from __future__ import annotations

import logging

import pytest

from hitpred.schemas import DeadLetter
from streams.deadletter import log_dead_letters


def test_each_dead_letter_is_one_escaped_bounded_line(caplog: pytest.LogCaptureFixture) -> None:
    forged = DeadLetter.build(
        original=b"{}",
        stage="validate",
        error=ValueError("bad\n[ERROR] forged \x1b[31mred\x1b[0m " + "x" * 5000),
        source_topic="releases",
        key=b"k\n[ERROR] forged" + b"k" * 100_000,
        event_id="e-1",
    )
    plain = DeadLetter.build(
        original=b"x", stage="decode", error=ValueError("not JSON"), source_topic="releases"
    )
    with caplog.at_level(logging.WARNING, logger="streams.deadletter"):
        log_dead_letters([forged, plain])
    first, second = (record.getMessage() for record in caplog.records)
    assert "\n" not in first and "\x1b" not in first
    assert first.startswith("dead letter ['validate'] key='k\\n[ERROR] forged")
    assert len(first) < 700  # key and reason cut, whatever their size
    assert second == "dead letter ['decode'] key=None event=None: 'not JSON'"
