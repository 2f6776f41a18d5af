"""Repeated JSON keys: the fast check never lets a repeat through (hand-made tricks and a
property test against the full parse), one document at a time or a whole batch at once."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitpred.errors import EventValidationError
from hitpred.intake import RawMessage, validate_batch
from hitpred.json_keys import may_repeat_a_key_in_any
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


_TRICKY = [
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
]


@pytest.mark.parametrize("body", _TRICKY, ids=["compact", "space", "escaped-key", "quote-colon"])
def test_the_fast_duplicate_check_is_never_fooled(body: bytes) -> None:
    with pytest.raises(EventValidationError, match="duplicate key"):
        decode_release(body)


def _clean(i: int) -> bytes:
    return orjson.dumps(
        {"event_id": f"e{i}", "track_id": "t", "title": "Song", "artists": ["A"],
         "release_date": "2024-05-17", "energy": 0.5}
    )  # fmt: skip


@pytest.mark.parametrize("position", [0, 2, 4])
@pytest.mark.parametrize("body", _TRICKY, ids=["compact", "space", "escaped-key", "quote-colon"])
def test_a_batch_refuses_exactly_its_document_with_a_repeated_key(
    body: bytes, position: int
) -> None:
    values = [_clean(i) for i in range(4)]
    values.insert(position, body)
    values.insert(3, b"{not json")  # another dead letter, to check their order
    messages = [RawMessage(value=v, key=b"t", offset=i) for i, v in enumerate(values)]
    valid, dead = validate_batch(messages)
    assert [m.offset for m, _ in valid] == [
        i for i, v in enumerate(values) if v not in (body, b"{not json")
    ]
    assert [d.source_offset for d in dead] == sorted(values.index(v) for v in (body, b"{not json"))
    refused = next(d for d in dead if d.source_offset == values.index(body))
    assert refused.stage == "validate" and "duplicate key" in refused.reason


def test_the_batch_check_passes_clean_compact_documents_without_a_second_parse() -> None:
    values = [_clean(i) for i in range(50)]
    assert not may_repeat_a_key_in_any(values, 6 * 50)
    assert may_repeat_a_key_in_any(values, 6 * 50 - 1)  # one key unaccounted for
    assert not may_repeat_a_key_in_any([], 0)


def _body(
    order: list[int],
    repeat: int | None,
    gaps: list[str],
    colon_gaps: list[str],
    escape: bool,
    title: str,
    lyrics: str,
) -> tuple[bytes, bool, str]:
    """A release document drawn from the tricks above, whether it repeats a key, its title."""
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
    return body, repeat is not None, title or "t"


_bodies = st.builds(
    _body,
    st.permutations(range(len(_BASE_FIELDS))),
    st.one_of(st.none(), st.integers(0, len(_BASE_FIELDS) - 1)),
    st.lists(st.sampled_from(["", " ", "\n", "\t "]), min_size=3, max_size=3),
    st.lists(st.sampled_from(["", "", " ", "\r\n"]), min_size=8, max_size=8),
    st.booleans(),
    st.text(alphabet=':" \\\nab', max_size=8),
    st.text(alphabet=':" \\ab', max_size=6),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(drawn=_bodies)
def test_a_release_is_refused_exactly_when_it_repeats_a_key(
    drawn: tuple[bytes, bool, str],
) -> None:
    body, repeats, title = drawn
    if not repeats:
        assert decode_release(body).title == title
    else:
        with pytest.raises(EventValidationError, match="duplicate key"):
            decode_release(body)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(batch=st.lists(_bodies, min_size=1, max_size=5))
def test_a_batch_refuses_exactly_the_releases_that_repeat_a_key(
    batch: list[tuple[bytes, bool, str]],
) -> None:
    messages = [RawMessage(value=body, offset=i) for i, (body, _, _) in enumerate(batch)]
    valid, dead = validate_batch(messages, require_key=False)
    assert [m.offset for m, _ in valid] == [i for i, (_, rep, _) in enumerate(batch) if not rep]
    assert [d.source_offset for d in dead] == [i for i, (_, rep, _) in enumerate(batch) if rep]
    assert all("duplicate key" in d.reason for d in dead)
