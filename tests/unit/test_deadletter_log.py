"""Dead letters reach the worker's log escaped and cut (outside input cannot forge a line), one
line each for a batch's first few, then one line counting the rest."""

from __future__ import annotations

import logging

import pytest

from hitpred.schemas import DeadLetter
from streams.deadletter import MAX_LINES_PER_BATCH, log_dead_letters


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


def _letter(i: int, stage: str, error: Exception) -> DeadLetter:
    return DeadLetter.build(
        original=b"x", stage=stage, error=error, source_topic="releases", key=f"k{i}".encode()
    )


def test_a_flood_logs_the_first_letters_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    letters = [
        _letter(i, "decode" if i % 3 else "validate", ValueError("bad"))
        for i in range(MAX_LINES_PER_BATCH + 25)
    ]
    forged = type("Bad\n[ERROR] forged", (Exception,), {})  # an error type from a plug-in
    letters.append(_letter(99, "score", forged("k")))
    with caplog.at_level(logging.WARNING, logger="streams.deadletter"):
        log_dead_letters(letters)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == MAX_LINES_PER_BATCH + 1
    assert [line.split("key=")[1].split()[0] for line in lines[:-1]] == [
        f"'k{i}'" for i in range(MAX_LINES_PER_BATCH)
    ]
    rest = letters[MAX_LINES_PER_BATCH:]
    decode = sum(1 for d in rest if d.stage == "decode")
    validate = sum(1 for d in rest if d.stage == "validate")
    assert lines[-1].startswith(f"{len(rest)} more dead letters in this batch")
    assert f"'decode'/'ValueError' {decode}" in lines[-1]
    assert f"'validate'/'ValueError' {validate}" in lines[-1]
    assert "'score'/'Bad\\n[ERROR] forged' 1" in lines[-1]  # escaped as well
    assert "\n" not in lines[-1]


def test_a_batch_within_the_limit_logs_each_letter_and_no_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    letters = [_letter(i, "validate", ValueError("bad")) for i in range(MAX_LINES_PER_BATCH)]
    with caplog.at_level(logging.WARNING, logger="streams.deadletter"):
        log_dead_letters(letters)
    assert len(caplog.records) == MAX_LINES_PER_BATCH
    assert not any("more dead letters" in r.getMessage() for r in caplog.records)
