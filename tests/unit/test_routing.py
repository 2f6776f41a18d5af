"""The router: each release goes, per task, to a champion whose inputs it carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from hitpred.features.vector import GTZAN_FEATURES, embedding_columns
from hitpred.intake import RawMessage
from hitpred.models.base import Explanation, Task, TaskOutput
from hitpred.schemas import DESCRIPTOR_FIELDS, Embedding, EnrichedTrack, ReleaseEvent
from hitpred.scoring import Scorer

LYRICS = embedding_columns("lyrics_emb_", 4)
#: What audio analysis yields: the five estimable descriptors.
AUDIO_ESTIMATES = {"tempo": 118.0, "key": 9.0, "mode": 1.0, "loudness": -7.0, "duration_ms": 2e5}


@dataclass
class Fixed:
    """A model that answers a constant and remembers how many rows it saw."""

    task: Task
    feature_set: str
    features: tuple[str, ...]
    value: float
    name: str = "fixed"
    version: str = "1"
    manifest: dict[str, Any] = field(default_factory=dict)
    seen: list[int] = field(default_factory=list)

    def predict(self, frame: pd.DataFrame) -> TaskOutput:
        self.seen.append(len(frame))
        return TaskOutput(task=self.task, values=np.full(len(frame), self.value))

    def explain(self, frame: pd.DataFrame, top_k: int = 5) -> Explanation | None:
        return None


def _track(i: int, *, descriptors: bool, lyrics: bool, audio: bool) -> EnrichedTrack:
    fields: dict[str, Any] = {
        "event_id": f"e{i}",
        "track_id": f"t{i}",
        "title": "Song",
        "artists": ["A"],
        "release_date": "2020-01-01",
    }
    if descriptors:
        fields.update(danceability=0.5, energy=0.6, valence=0.4, tempo=120.0, loudness=-5.0)
        fields.update(acousticness=0.1, speechiness=0.05, liveness=0.1, key=2, mode=1)
    now = datetime.now(UTC)
    inputs: list[Any] = (["descriptors"] if descriptors else []) + (["lyrics"] if lyrics else [])
    return EnrichedTrack(
        release=ReleaseEvent.model_validate(fields),
        lyrics_embedding=Embedding.of(np.ones(4) / 2, "enc@1") if lyrics else None,
        estimated=AUDIO_ESTIMATES if audio else {},
        audio_features={name: 0.5 for name in GTZAN_FEATURES} if audio else {},
        inputs=[*inputs, "audio"] if audio else inputs,
        received_at=now,
        enriched_at=now,
        enrich_ms=1.0,
    )


def _score(scorer: Scorer, tracks: list[EnrichedTrack]) -> list[dict[str, Any]]:
    messages = [
        RawMessage(value=t.to_json(), key=t.release.track_id.encode(), topic="e", offset=i)
        for i, t in enumerate(tracks)
    ]
    result = scorer.score_enriched(messages)
    assert not result.dead_letters
    return [orjson.loads(r.value) for r in result.records]


def test_each_release_gets_the_model_its_inputs_can_feed() -> None:
    release = Fixed(Task.POPULARITY, "release", tuple(DESCRIPTOR_FIELDS), 70.0, name="desc")
    lyrics = Fixed(
        Task.POPULARITY, "lyrics", (*LYRICS, "release_year"), 40.0, name="lyr",
        manifest={"embeddings": {"lyrics": "enc@1"}},
    )  # fmt: skip
    core = Fixed(Task.POPULARITY, "core", ("tempo", "key", "mode", "loudness", "duration_ms"), 20.0)
    scorer = Scorer({Task.POPULARITY: [core, lyrics, release]})
    tracks = [
        _track(0, descriptors=True, lyrics=True, audio=False),
        _track(1, descriptors=False, lyrics=True, audio=False),
        _track(2, descriptors=False, lyrics=False, audio=True),
        _track(3, descriptors=False, lyrics=False, audio=False),
    ]
    out = _score(scorer, tracks)
    assert [p.get("popularity", {}).get("popularity") for p in out] == [70.0, 40.0, 20.0, None]
    assert out[0]["popularity"]["model"]["inputs"] == ["descriptors"]
    assert out[1]["popularity"]["model"] == {
        "name": "lyr", "version": "1", "feature_set": "lyrics", "inputs": ["lyrics"],
    }  # fmt: skip
    # Audio-only: the core model read descriptors estimated from the audio, and says so.
    assert out[2]["popularity"]["model"]["inputs"] == ["estimated descriptors"]
    assert out[2]["estimated"] == ["key", "loudness", "mode", "tempo", "duration_ms"]
    assert "popularity" in out[3]["unanswered"] and "popularity" not in out[0].get("unanswered", {})
    # One predict call per model on just its rows.
    assert (release.seen, lyrics.seen, core.seen) == ([1], [1], [1])


def test_a_model_is_not_fed_mostly_imputed_descriptors() -> None:
    release = Fixed(Task.HIT, "release", tuple(DESCRIPTOR_FIELDS), 0.9)
    scorer = Scorer({Task.HIT: release})
    # The five descriptors audio yields are a third of the 15 it reads: not enough.
    (p,) = _score(scorer, [_track(0, descriptors=False, lyrics=False, audio=True)])
    assert "hit" not in p and "hit" in p["unanswered"] and release.seen == []


def test_an_embedding_from_another_encoder_is_not_used() -> None:
    lyrics = Fixed(
        Task.HIT, "lyrics", (*LYRICS,), 0.3, manifest={"embeddings": {"lyrics": "other@2"}}
    )
    (p,) = _score(
        Scorer({Task.HIT: lyrics}), [_track(0, descriptors=False, lyrics=True, audio=False)]
    )
    assert "hit" in p["unanswered"] and lyrics.seen == []


def test_audio_layout_model_answers_audio_only_releases() -> None:
    audio = Fixed(Task.HIT, "audio", ("tempo", *GTZAN_FEATURES), 0.7)
    tracks = [
        _track(0, descriptors=True, lyrics=False, audio=False),
        _track(1, descriptors=False, lyrics=False, audio=True),
    ]
    first, second = _score(Scorer({Task.HIT: audio}), tracks)
    assert "hit" in first["unanswered"]
    assert second["hit"]["probability"] == 0.7
    assert second["hit"]["model"]["inputs"] == ["estimated descriptors", "audio"]


def test_a_bad_vector_dead_letters_its_track_only() -> None:
    model = Fixed(Task.HIT, "release", tuple(DESCRIPTOR_FIELDS), 0.5)
    good = _track(0, descriptors=True, lyrics=False, audio=False)
    bad = _track(1, descriptors=True, lyrics=True, audio=False)
    wire = orjson.loads(bad.to_json())
    wire["lyrics_embedding"]["b64"] = Embedding.of(np.array([np.nan] * 4), "enc@1").b64
    messages = [
        RawMessage(value=good.to_json(), key=b"t0", topic="e", offset=0),
        RawMessage(value=orjson.dumps(wire), key=b"t1", topic="e", offset=1),
    ]
    result = Scorer({Task.HIT: model}).score_enriched(messages)
    assert [r.event_id for r in result.records] == ["e0"]
    (letter,) = result.dead_letters
    assert letter.event_id == "e1" and "unusable embedding" in letter.reason


def test_rows_from_encoders_of_other_widths_keep_their_own_vectors() -> None:
    from hitpred.features.vector import tracks_to_frame

    now = datetime.now(UTC)
    base = _track(0, descriptors=False, lyrics=False, audio=False).release
    narrow = EnrichedTrack(
        release=base, lyrics_embedding=Embedding.of(np.full(4, 0.5), "en@1"),
        received_at=now, enriched_at=now, enrich_ms=0,
    )  # fmt: skip
    wide = narrow.model_copy(update={"lyrics_embedding": Embedding.of(np.full(8, 0.25), "es@1")})
    frame = tracks_to_frame([narrow, wide, wide])
    columns = embedding_columns("lyrics_emb_", 8)
    assert frame.loc[0, columns[:4]].tolist() == [0.5] * 4
    assert frame.loc[0, columns[4:]].isna().all()
    assert frame.loc[1, columns].tolist() == [0.25] * 8
