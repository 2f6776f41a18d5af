"""Repeated keys in a JSON document: refused wherever outside input is decoded.

JSON parsers (pydantic's included) keep the last of two equal keys, so a repeat would be
scored on a value a reader of the message may not see. :func:`duplicate_key` says why a
document is refused; :func:`may_repeat_a_key` rules a repeat out for most release documents
without that second parse.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jiter

__all__ = ["duplicate_key", "may_repeat_a_key", "may_repeat_a_key_in_any"]


def duplicate_key(raw: bytes | str) -> str | None:
    """Why a JSON document is refused for repeating a key in one object, or None.

    JSON parsers (pydantic's included) keep the last of two equal keys, so
    ``{"energy": 0.1, "energy": 0.9}`` would be scored on a value a reader of the message may
    not see. jiter checks for it in ~3 us per event. Malformed JSON is not this function's to
    report (None): the schema's decoder says why.
    """
    try:
        jiter.from_json(raw.encode() if isinstance(raw, str) else raw, catch_duplicate_keys=True)
    except ValueError as exc:
        message = str(exc)
        if message.startswith("Detected duplicate key"):
            return message if len(message) <= 200 else f"{message[:200]}..."
    return None


_QUOTE_THEN_SPACE = re.compile(rb'"[ \t\r\n]')


def may_repeat_a_key(raw: bytes | str, distinct: int) -> bool:
    """False only when a *valid* release document cannot repeat a key (the common case, in
    ~1 us instead of the ~2.6 us of a second full parse); True: check with :func:`duplicate_key`.

    Why it is exact: a valid release has no nested object (no field is one), so every key is a
    top-level string closed by ``"``. In JSON a ``"`` inside a string is always escaped, so the
    bytes ``":`` occur only where a key is closed with no space before its colon, where a value
    string starts with ``:``, or after an escaped quote. With no backslash-quote and no quote
    followed by white space in the document, every key is counted, so ``count('":')`` is at
    least the number of keys, which is at least the ``distinct`` keys the schema saw; equal
    counts then leave no room for a repeat.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    return (
        data.count(b'":') != distinct
        or data.find(b'\\"') >= 0
        or _QUOTE_THEN_SPACE.search(data) is not None
    )


def may_repeat_a_key_in_any(raws: Sequence[bytes], distinct: int) -> bool:
    """:func:`may_repeat_a_key` for a whole batch of *valid* release documents at once, with
    ``distinct`` the sum of their distinct keys: one call over the batch's bytes instead of one
    per document (1,000 releases: 2.1 instead of 2.6 ms, min of 40; the scans themselves stay).

    False only when no document of the batch can repeat a key, for the same reason: joined
    with NUL bytes (which no pattern looked for holds, so no match spans two documents), each
    count is the sum of the documents' counts; with no escaped quote and no quote before white
    space anywhere, each document's count is at least its distinct keys, so equal sums leave no
    document room for a repeat. True: check each document (the answer says nothing of which).
    """
    return bool(raws) and may_repeat_a_key(b"\0".join(raws), distinct)
