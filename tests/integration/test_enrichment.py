"""Releases with audio only, lyrics only, descriptors only and mixes, through a real worker on
the real broker and Redis: every one gets a prediction that names its inputs, bad audio and
oversized lyrics become dead letters, and replayed lyrics come from the embedding cache.

The audio is the shared clip in its four formats: music by Kevin MacLeod ("Furious Freak",
"Galway", incompetech.com), CC BY 3.0.
"""

from __future__ import annotations

import dataclasses
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import soundfile

from hitpred.baseline import synthetic_release_events
from hitpred.models.base import Task
from hitpred.registry import RegistryStore
from hitpred.schemas import DeadLetter, Prediction
from hitpred.settings import Settings
from tests.integration.conftest import consume_until, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIP = "macleod_gs_16b_2c_44100hz"
FORMATS = ("wav", "flac", "ogg", "mp3")


def _register_champions(registry: str) -> str:
    """An ``audio`` genre champion (GTZAN layout) and a ``lyrics`` popularity champion (on
    PopLyrics-1K rows embedded by the real encoder); returns the encoder's model id."""
    from hitpred.datasets import load_dataset
    from hitpred.features.lyrics import load_lyrics_encoder
    from training.data import FeatureSet, prepare
    from training.embeddings import with_lyrics_embeddings
    from training.job import fit_pipeline

    store = RegistryStore(registry)
    gtzan = prepare(
        load_dataset(SHARED / "datasets" / "gtzan-features"), Task.GENRE, FeatureSet.AUDIO
    )
    genre = fit_pipeline(gtzan, "logistic-regression", np.arange(len(gtzan.y)), seed=0)
    info = store.register(genre, metrics={}, evaluation={}, data={}, classes=genre.classes)
    store.promote(Task.GENRE, info.version)

    encoder = load_lyrics_encoder()
    lyrics_set = load_dataset(SHARED / "datasets" / "poplyrics-1k")
    lyrics_set = dataclasses.replace(lyrics_set, frame=lyrics_set.frame.head(120))
    embedded = with_lyrics_embeddings(lyrics_set, encoder, cache_dir=None)
    data = prepare(embedded, Task.POPULARITY, FeatureSet.LYRICS)
    popularity = fit_pipeline(data, "ridge", np.arange(len(data.y)), seed=0)
    info = store.register(
        popularity,
        metrics={},
        evaluation={},
        data={},
        extra={"embeddings": {"lyrics": encoder.model_id}},
    )
    store.promote(Task.POPULARITY, info.version)
    return str(encoder.model_id)


def _event(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"enrich-{i}",
        "track_id": f"track-{i}",
        "title": f"Song {i}",
        "artists": ["Someone"],
        "release_date": "2024-05-17",
        **fields,
    }


LYRICS = (
    "I have been walking all night long under the city lights\n"
    "calling your name and dancing alone, nothing feels right without you\n"
) * 6


def _metric(port: int, name: str, labels: str) -> float:
    """The value of the lyrics series of ``name`` with ``labels``, from a worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and 'kind="lyrics"' in line and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_releases_are_scored_from_whatever_inputs_they_carry(
    isolated_settings: Settings, start_worker: Any, tmp_path: Path
) -> None:
    root = tmp_path / "audio"
    root.mkdir()
    for fmt in FORMATS:
        shutil.copy(SHARED / "audio" / f"{CLIP}.{fmt}", root / f"clip.{fmt}")
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 50)
    (root / "notes.mp3").write_text("these are not the droids you are looking for\n" * 40)
    (root / "huge.wav").write_bytes(b"\x00" * 3_500_000)  # over the byte cap below
    silent = np.zeros(22050 * 3, dtype="float32")
    soundfile.write(root / "silent.wav", silent, 22050)
    encoder_id = _register_champions(isolated_settings.registry_uri)
    settings = isolated_settings.model_copy(
        update={
            "audio_root": root,
            "audio_max_bytes": 3_000_000,
            "embedding_cache_prefix": f"{isolated_settings.registry_cache_prefix}emb:",
        }
    )
    worker = start_worker(settings)

    described = synthetic_release_events(2, seed=41)
    events: dict[str, dict[str, Any]] = {e["event_id"]: e for e in described}
    for i, fmt in enumerate(FORMATS):
        events[f"enrich-a{i}"] = _event(i, audio_ref=f"clip.{fmt}")
    events["enrich-l0"] = _event(10, lyrics=LYRICS)
    events["enrich-mix"] = {**_event(11, lyrics=LYRICS, audio_ref="clip.wav"), "energy": 0.7}
    for key in list(events)[2:]:
        events[key]["event_id"] = key
    bad = {
        "enrich-corrupt": _event(20, audio_ref="corrupt.wav"),
        "enrich-passwd": _event(21, audio_ref="/etc/passwd"),
        "enrich-escape": _event(22, audio_ref="../../etc/passwd"),
        "enrich-huge-lyrics": _event(23, lyrics="la " * 9000),
        "enrich-silent": _event(24, audio_ref="silent.wav"),
        "enrich-not-audio": _event(25, audio_ref="notes.mp3"),
        "enrich-enormous": _event(26, audio_ref="huge.wav"),
        "enrich-unreachable": _event(27, audio_ref="http://127.0.0.1:1/song.mp3"),
        "enrich-missing": _event(28, audio_ref="nowhere.flac"),
    }
    for key, event in bad.items():
        event["event_id"] = key
    records = [
        (str(e["track_id"]).encode(), orjson.dumps(e)) for e in [*events.values(), *bad.values()]
    ]
    produce(settings.kafka_bootstrap or "", settings.releases_topic, records)

    def done(seen: dict[str, list[Any]]) -> bool:
        return len(seen[settings.predictions_topic]) + len(seen[settings.dlq_topic]) >= len(records)

    seen = consume_until(
        settings.kafka_bootstrap or "",
        [settings.predictions_topic, settings.dlq_topic],
        done,
        timeout=240,
    )
    predictions = {
        p.event_id: p
        for p in (Prediction.model_validate_json(v) for _, v in seen[settings.predictions_topic])
    }
    letters = {
        d.event_id: d
        for d in (DeadLetter.model_validate_json(v) for _, v in seen[settings.dlq_topic])
    }
    print(f"sent {len(records)}, predicted {len(predictions)}, dead-lettered {len(letters)}")
    assert set(predictions) == set(events)
    assert set(letters) == set(bad)
    assert all(letter.stage == "enrich" for letter in letters.values())
    assert "decodable" in letters["enrich-corrupt"].reason
    assert "/etc/passwd" not in (letters["enrich-escape"].reason.replace("../../etc/passwd", ""))
    assert "over the limit" in letters["enrich-huge-lyrics"].reason
    assert "silent" in letters["enrich-silent"].reason
    for key in ("enrich-corrupt", "enrich-silent", "enrich-not-audio", "enrich-enormous"):
        print(f"{key}: {letters[key].reason}")
    for key in ("enrich-unreachable", "enrich-missing", "enrich-passwd"):
        print(f"{key}: {letters[key].reason}")

    # Audio only: genre from the GTZAN-layout champion, descriptors estimated and named.
    for i in range(len(FORMATS)):
        p = predictions[f"enrich-a{i}"]
        assert p.inputs == ["estimated descriptors", "audio"]
        assert {"tempo", "duration_ms"} <= set(p.estimated)
        assert p.genre is not None and p.genre.model.feature_set == "audio"
        assert "audio" in p.genre.model.inputs
        assert p.hit is None and "hit" in p.unanswered  # no champion reads what audio gives
    # Lyrics only: popularity from the lyrics champion, language detected.
    lyric = predictions["enrich-l0"]
    assert lyric.inputs == ["lyrics"] and lyric.language == "en"
    assert lyric.popularity is not None and lyric.popularity.model.inputs == ["lyrics"]
    assert lyric.genre is None and lyric.hit is None
    # Descriptors only: the release champions (here the synthetic baseline).
    for event in described:
        p = predictions[event["event_id"]]
        assert p.inputs == ["descriptors"] and p.hit is not None
        assert p.hit.model.inputs == ["descriptors"] and not p.unanswered
    # A mix: everything is used, each task by the best model its inputs allow.
    mix = predictions["enrich-mix"]
    assert mix.inputs == ["descriptors", "estimated descriptors", "lyrics", "audio"]
    assert mix.genre is not None and mix.genre.model.feature_set == "audio"
    assert mix.popularity is not None and mix.popularity.model.feature_set == "lyrics"
    assert encoder_id

    # The same lyrics again (a replay): served from the embedding cache, no model call.
    replay = _event(30, lyrics=LYRICS)
    replay["event_id"] = "enrich-replay"
    produce(
        settings.kafka_bootstrap or "",
        settings.releases_topic,
        [(b"track-30", orjson.dumps(replay))],
    )
    again = consume_until(
        settings.kafka_bootstrap or "",
        [settings.predictions_topic],
        lambda s: any(b"enrich-replay" in v for _, v in s[settings.predictions_topic]),
        timeout=60,
    )
    assert any(b"enrich-replay" in v for _, v in again[settings.predictions_topic])
    # The mix carried the same lyrics as enrich-l0 (one miss, then hits), and so did the replay.
    hits = _metric(settings.metrics_port, "hitpred_embedding_cache_total", 'result="hit"')
    assert hits >= 1.0
    assert worker.alive
