"""Repeated JSON keys: the fast check never lets a repeat through (hand-made tricks and a
property test against the full parse)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitpred.errors import EventValidationError
from hitpred.schemas import decode_release

_BASE_FIELDS = [
    ("event_id", "e"),
    ("track_id", "t"),
    ("title", "Song"),
    ("artists", ["Someone"]),
    ("release_date", "2024-05-17"),
    ("energy", 0.5),
    ("lyrics", "la la"),
]


@pytest.mark.parametrize(
    "body",
    [
        # Compact, as most producers write it: the fast check counts the extra key.
        b'{"event_id":"e","track_id":"t","title":"Song","artists":["A"],'
        b'"release_date":"2024-05-17","energy":0.1,"energy":0.9}',
        # White space before a colon hides a key from the byte count: the full check runs.
        b'{"event_id":"e","track_id":"t","title":"Song","artists":["A"],'
        b'"release_date":"2024-05-17","energy" :0.1,"energy":0.9}',
        # A key spelled with an escape is the same key.
        b'{"event_id":"e","track_id":"t","title":"Song","artists":["A"],'
        b'"release_date":"2024-05-17","\\u0065nergy":0.1,"energy":0.9}',
        # A value that looks like a key end, next to a repeat.
        b'{"event_id":"e","track_id":"t","title":"x\\":","artists":["A"],'
        b'"release_date":"2024-05-17","title":"Song"}',
    ],
    ids=["compact", "space-before-colon", "escaped-key", "quote-colon-in-value"],
)
def test_the_fast_duplicate_check_is_never_fooled(body: bytes) -> None:
    with pytest.raises(EventValidationError, match="duplicate key"):
        decode_release(body)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    order=st.permutations(range(len(_BASE_FIELDS))),
    repeat=st.one_of(st.none(), st.integers(0, len(_BASE_FIELDS) - 1)),
    gaps=st.lists(st.sampled_from(["", " ", "\n", "\t "]), min_size=3, max_size=3),
    colon_gaps=st.lists(st.sampled_from(["", "", " ", "\r\n"]), min_size=8, max_size=8),
    escape=st.booleans(),
    title=st.text(alphabet=':" \\\nab', max_size=8),
    lyrics=st.text(alphabet=':" \\ab', max_size=6),
)
def test_a_release_is_refused_exactly_when_it_repeats_a_key(
    order: list[int],
    repeat: int | None,
    gaps: list[str],
    colon_gaps: list[str],
    escape: bool,
    title: str,
    lyrics: str,
) -> None:
    after_colon, before_comma, after_comma = gaps
    drawn = {"title": title or "t", "lyrics": lyrics}
    pairs = [(name, drawn.get(name, value)) for name, value in (_BASE_FIELDS[i] for i in order)]
    if repeat is not None:
        pairs.append(pairs[repeat])
    parts = []
    for i, (name, value) in enumerate(pairs):
        key = orjson.dumps(name).decode()
        if escape and i == len(pairs) - 1:  # the last key spelled with a \u escape
            key = f'"\\u{ord(name[0]):04x}{name[1:]}"'
        value_text = orjson.dumps(value).decode()
        parts.append(f"{key}{colon_gaps[i]}:{after_colon}{value_text}")
    body = ("{" + f"{before_comma},{after_comma}".join(parts) + "}").encode()
    if repeat is None:
        assert decode_release(body).title == (title or "t")
    else:
        with pytest.raises(EventValidationError, match="duplicate key"):
            decode_release(body)
