"""Champion against challenger: pairing and summarising predictions."""

from __future__ import annotations

from typing import Any

import pytest

from hitpred.models.base import Task
from hitpred.registry.compare import compare


def _hit(event_id: str, probability: float, version: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "hit": {
            "model": {"name": "m", "version": version},
            "probability": probability,
            "is_hit": probability >= 0.5,
        },
    }


def test_pairs_by_event_and_summarises_agreement_and_differences() -> None:
    served = [_hit("a", 0.9, "1"), _hit("b", 0.2, "1"), _hit("c", 0.6, "1"), {"event_id": "d"}]
    shadow = [_hit("a", 0.8, "2"), _hit("b", 0.7, "2"), _hit("z", 0.1, "2"), {"event_id": "d"}]
    result = compare(Task.HIT, served, shadow)
    assert result.pairs == 2 and result.served_only == 1  # c has no shadow; z no served one
    assert result.agreement == pytest.approx(0.5)  # a agrees, b does not
    assert result.mean_abs_difference == pytest.approx(0.3)
    assert result.max_abs_difference == pytest.approx(0.5)
    assert (result.champion_versions, result.challenger_versions) == ({"1"}, {"2"})
    lines = result.lines()
    assert lines[0] == "hit: 2 releases scored by both (champion v1, challenger v2)"
    assert lines[1] == "  same answer: 50.0%"


def test_genre_compares_labels_and_nothing_paired_says_so() -> None:
    def genre(event_id: str, label: str, version: str) -> dict[str, Any]:
        return {"event_id": event_id, "genre": {"model": {"version": version}, "genre": label}}

    result = compare(Task.GENRE, [genre("a", "rock", "1")], [genre("a", "pop", "3")])
    assert result.agreement == 0.0 and result.mean_abs_difference is None
    empty = compare(Task.GENRE, [genre("a", "rock", "1")], [])
    assert empty.lines() == [
        "genre: no shadow prediction paired with a served one (1 served predictions without a "
        "shadow one)"
    ]
