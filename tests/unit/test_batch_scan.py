"""The once-per-fetch substring scan that sends batches with lyrics or audio to the executor."""

from __future__ import annotations

from typing import NamedTuple

import orjson
from aiokafka import TopicPartition

from hitpred.baseline import synthetic_release_events
from streams.batch import needs_models, record_values


class _Record(NamedTuple):
    value: bytes | None


def _fetch(*partitions: list[bytes | None]) -> dict[TopicPartition, list[_Record]]:
    return {TopicPartition("t", i): [_Record(v) for v in p] for i, p in enumerate(partitions)}


def _releases(n: int, **extra: object) -> list[bytes | None]:
    return [orjson.dumps({**e, **extra}) for e in synthetic_release_events(n, seed=3)]


def test_descriptors_only_fetches_stay_light() -> None:
    fetched = _fetch(_releases(50), _releases(50))
    values = record_values(fetched)
    assert not needs_models(values)
    # Every value is in the scan, in order, each once.
    assert values.split(b"\0") == [r.value for rs in fetched.values() for r in rs]


def test_one_record_with_lyrics_or_audio_anywhere_marks_the_fetch() -> None:
    lyrics = _releases(1, lyrics="la la la")
    audio = _releases(1, audio_ref="file:///clip.wav")
    assert needs_models(record_values(_fetch(_releases(30), _releases(30) + lyrics)))
    assert needs_models(record_values(_fetch(audio + _releases(30), _releases(30))))


def test_tombstones_are_skipped_not_fatal() -> None:
    fetched = _fetch([None, *_releases(3)], [None])
    assert not needs_models(record_values(fetched))
    assert needs_models(record_values(_fetch([None, *_releases(2, lyrics="x")])))


def test_a_pattern_split_across_two_records_does_not_match() -> None:
    # `"lyr` at the end of one value and `ics"` at the start of the next are not a key.
    assert not needs_models(record_values(_fetch([b'{"a":"lyr', b'ics"}'])))
    assert not needs_models(record_values(_fetch([b'{"a":"audio_'], [b'ref"}'])))
