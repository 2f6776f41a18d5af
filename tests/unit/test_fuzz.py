"""Hostile input, generated: whatever arrives, every message becomes a prediction or a dead
letter with a reason; nothing raises, nothing is lost, valid events behind it are still scored.

Over 10,000 generated inputs per run (hypothesis, derandomized so CI is repeatable): arbitrary
bytes, deeply nested JSON, huge strings, NaN and infinities, wrong types, unknown fields and
schema versions, non-UTF-8, oversized lyrics; through the stream's one-pass function and
through ``hitpred publish``'s reader (which must flag exactly what the worker refuses).
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitpred.baseline import synthetic_release_events
from hitpred.cli.events import read_release_file
from hitpred.intake import RawMessage, validate_batch
from hitpred.models.base import Task, TaskModel
from hitpred.pipeline import process_releases
from hitpred.scoring import Scorer

GOOD = synthetic_release_events(3, seed=71)
FIELDS = list(GOOD[0])

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutated_event() -> st.SearchStrategy[bytes]:
    """A valid event with some fields replaced by arbitrary values, dropped, or added."""

    def build(base: dict[str, object], changes: dict[str, object], drop: list[str]) -> bytes:
        event = {k: v for k, v in base.items() if k not in drop}
        event.update(changes)
        return json.dumps(event, allow_nan=True).encode()

    return st.builds(
        build,
        st.sampled_from(GOOD),
        st.dictionaries(
            st.sampled_from([*FIELDS, "schema_version", "extra", "lyrics"]), json_value, max_size=3
        ),
        st.lists(st.sampled_from(FIELDS), max_size=2),
    )


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


hostile = st.one_of(
    st.binary(max_size=300),  # arbitrary bytes, non-UTF-8 included
    st.text(max_size=200).map(str.encode),
    json_value.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    _mutated_event(),
    st.integers(min_value=1, max_value=20_000).map(_nested),  # deep nesting
    st.integers(min_value=1, max_value=200_000).map(
        lambda n: orjson.dumps({**GOOD[0], "lyrics": "la " * n})  # oversized lyrics
    ),
)
keys = st.one_of(st.none(), st.binary(max_size=40), st.just(str(GOOD[0]["track_id"]).encode()))

FUZZ = settings(
    max_examples=2500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def scorer(baseline_models: dict[Task, TaskModel]) -> Scorer:
    return Scorer(baseline_models)


def test_validation_never_raises_and_accounts_for_every_message() -> None:
    seen = {"valid": 0, "dead": 0}

    @FUZZ
    @given(st.lists(st.tuples(keys, hostile), min_size=1, max_size=4))
    def check(batch: list[tuple[bytes | None, bytes]]) -> None:
        messages = [
            RawMessage(value=v, key=k, topic="r", offset=i) for i, (k, v) in enumerate(batch)
        ]
        valid, dead = validate_batch(messages)
        assert len(valid) + len(dead) == len(messages)
        for letter in dead:
            assert letter.reason and letter.stage in ("decode", "validate")
            assert len(letter.reason) < 700 and "Traceback" not in letter.reason
        seen["valid"] += len(valid)
        seen["dead"] += len(dead)

    check()
    print(f"validation fuzz: {seen['valid']} valid, {seen['dead']} dead letters")
    assert seen["dead"] > 2000  # the generator really produces hostile input


def test_one_pass_scores_the_valid_events_behind_hostile_ones(scorer: Scorer) -> None:
    tail = [
        RawMessage(orjson.dumps(e), str(e["track_id"]).encode(), "r", 0, 1000 + i)
        for i, e in enumerate(GOOD)
    ]

    @FUZZ
    @given(st.lists(st.tuples(keys, hostile), min_size=1, max_size=3))
    def check(batch: list[tuple[bytes | None, bytes]]) -> None:
        messages = [
            RawMessage(value=v, key=k, topic="r", offset=i) for i, (k, v) in enumerate(batch)
        ]
        result = process_releases(scorer, None, [*messages, *tail])
        assert len(result.records) + len(result.dead_letters) == len(messages) + len(tail)
        good_ids = {str(e["event_id"]) for e in GOOD}
        assert good_ids <= {r.event_id for r in result.records}

    check()


def test_publish_flags_exactly_what_the_worker_refuses(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    counter = {"rows": 0}

    @settings(
        max_examples=2500,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(st.one_of(_mutated_event(), st.binary(max_size=80)), min_size=1, max_size=5))
    def check(lines: list[bytes]) -> None:
        path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
        for row in read_release_file(path):
            _, dead = validate_batch([RawMessage(value=row.value, key=row.key)])
            assert bool(dead) == bool(row.problem)  # flagged exactly when refused
            if dead:
                assert dead[0].reason in (row.problem or "")
            counter["rows"] += 1

    check()
    print(f"publish fuzz: {counter['rows']} rows")
