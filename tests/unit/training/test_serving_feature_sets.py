"""The servable feature sets (core, audio, lyrics, multimodal) read exactly their columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hitpred.datasets.base import Dataset
from hitpred.errors import DataError
from hitpred.features.vector import (
    AUDIO_EMBEDDING_PREFIX,
    GTZAN_FEATURES,
    LYRICS_EMBEDDING_PREFIX,
    embedding_columns,
)
from hitpred.models.base import Task
from hitpred.schemas import DESCRIPTOR_FIELDS
from tests.unit.models.factories import synthetic_dataset
from training.data import FeatureSet, prepare
from training.zoo import build_preprocessor, feature_set_for

LYRICS = tuple(embedding_columns(LYRICS_EMBEDDING_PREFIX, 8))
AUDIO = tuple(embedding_columns(AUDIO_EMBEDDING_PREFIX, 4))
#: Every 10th row has no lyrics, every 3rd no audio embedding.
NO_LYRICS_EVERY = 10


def full_dataset(n: int = 200, seed: int = 0) -> Dataset:
    """A data set with every kind of input: all descriptors, the GTZAN layout, lyrics text,
    both embeddings (some rows without), a data-set specific extra."""
    base = synthetic_dataset(n, seed)
    rng = np.random.default_rng(seed)
    frame = base.frame.copy()
    for name in DESCRIPTOR_FIELDS:
        frame[name] = rng.uniform(0.0, 1.0, n)
    frame["key"] = rng.integers(0, 12, n).astype(float)
    frame["mode"] = rng.integers(0, 2, n).astype(float)
    frame["duration_ms"] = rng.uniform(1.2e5, 3e5, n)
    frame["lyrics"] = [None if i % NO_LYRICS_EVERY == 0 else f"la la {i}" for i in range(n)]
    frame["artists"] = frame["artist"]
    frame["n_artists"] = rng.integers(1, 3, n).astype(float)
    gtzan = pd.DataFrame(rng.normal(size=(n, len(GTZAN_FEATURES))), columns=list(GTZAN_FEATURES))
    lyrics = pd.DataFrame(rng.normal(size=(n, len(LYRICS))), columns=list(LYRICS))
    lyrics.iloc[::NO_LYRICS_EVERY] = np.nan
    audio = pd.DataFrame(rng.normal(size=(n, len(AUDIO))), columns=list(AUDIO))
    audio.iloc[::3] = np.nan
    frame = pd.concat([frame, gtzan, lyrics, audio], axis=1)
    frame["extra_thing"] = rng.normal(size=n)
    return dataclasses.replace(base, frame=frame, extra_features=("extra_thing",))


META = ("release_year", "decade", "n_artists")


def test_core_reads_the_estimable_descriptors_metadata_genre_and_title() -> None:
    data = prepare(full_dataset(), Task.HIT, FeatureSet.CORE)
    assert data.numeric == ("tempo", "key", "mode", "loudness", "duration_ms", *META)
    assert data.categorical == ("genre",)
    assert data.text == ("title",)
    assert data.lyrics_embedding == data.audio_embedding == ()
    assert len(data.y) == 200  # rows without lyrics are kept


def test_audio_reads_tempo_and_the_gtzan_layout_only() -> None:
    data = prepare(full_dataset(), Task.HIT, FeatureSet.AUDIO)
    assert data.features == ("tempo", *GTZAN_FEATURES)
    assert len(data.features) == 57  # 16 spectral + 40 MFCC statistics + tempo


def test_lyrics_reads_the_embedding_and_metadata_not_descriptors() -> None:
    data = prepare(full_dataset(), Task.POPULARITY, FeatureSet.LYRICS)
    assert data.numeric == META
    assert data.categorical == ("genre",)
    assert data.text == ()
    assert data.lyrics_embedding == LYRICS
    assert data.features == (*META, "genre", *LYRICS)
    assert not set(data.features) & set(DESCRIPTOR_FIELDS)


def test_lyrics_drops_the_rows_without_lyrics_and_says_how_many() -> None:
    data = prepare(full_dataset(200), Task.POPULARITY, FeatureSet.LYRICS)
    assert len(data.y) == 180
    assert not data.X[list(LYRICS)].isna().any().any()
    assert data.notes == (
        "20 of 200 usable rows have no lyrics and are not used (the lyrics feature set)",
    )


def test_multimodal_reads_both_embeddings_descriptors_metadata_and_title() -> None:
    data = prepare(full_dataset(), Task.HIT, FeatureSet.MULTIMODAL)
    assert data.numeric == (*DESCRIPTOR_FIELDS, *META)
    assert data.categorical == ("genre",)
    assert data.text == ("title",)  # the raw lyrics are read through the embedding only
    assert data.lyrics_embedding == LYRICS and data.audio_embedding == AUDIO
    assert data.features[-len(LYRICS) - len(AUDIO) :] == (*LYRICS, *AUDIO)  # embeddings last
    assert len(data.y) == 180
    assert "extra_thing" not in data.features


@pytest.mark.parametrize("feature_set", [FeatureSet.CORE, FeatureSet.LYRICS, FeatureSet.MULTIMODAL])
def test_a_genre_task_never_reads_genre(feature_set: FeatureSet) -> None:
    data = prepare(full_dataset(), Task.GENRE, feature_set)
    assert "genre" not in data.features
    assert not [f for f in data.features if f.startswith("y_")]


def test_ablation_rows_can_be_forced_to_the_lyrics_rows() -> None:
    release = prepare(full_dataset(), Task.HIT, FeatureSet.RELEASE, only_with_lyrics=True)
    lyrics = prepare(full_dataset(), Task.HIT, FeatureSet.LYRICS)
    assert np.array_equal(release.groups, lyrics.groups)
    assert "lyrics" in release.text


def test_embedding_sets_without_embeddings_and_audio_without_gtzan_are_refused() -> None:
    plain = synthetic_dataset(120)
    with pytest.raises(DataError, match="lyrics embedding columns"):
        prepare(plain, Task.HIT, FeatureSet.LYRICS)
    with pytest.raises(DataError, match="GTZAN"):
        prepare(plain, Task.HIT, FeatureSet.AUDIO)


def test_asking_for_the_multimodal_model_picks_the_multimodal_set() -> None:
    assert feature_set_for(FeatureSet.RELEASE, ["multimodal", "xgboost"]) is FeatureSet.MULTIMODAL
    assert feature_set_for(FeatureSet.RELEASE, ["xgboost"]) is FeatureSet.RELEASE
    assert feature_set_for(FeatureSet.LYRICS, ["multimodal"]) is FeatureSet.LYRICS
    assert feature_set_for(FeatureSet.RELEASE, None) is FeatureSet.RELEASE


def test_embeddings_are_preprocessed_last_as_flag_plus_zero_filled_vector() -> None:
    data = prepare(full_dataset(), Task.HIT, FeatureSet.MULTIMODAL)
    pre = build_preprocessor(data, seed=0)
    Xt = np.asarray(pre.fit_transform(data.X, data.y))
    audio_block = Xt[:, -(len(AUDIO) + 1) :]
    missing = data.X[AUDIO[0]].isna().to_numpy()
    assert missing.any() and not missing.all()
    assert np.array_equal(audio_block[:, 0], missing.astype(float))  # the missing flag
    assert np.all(audio_block[missing, 1:] == 0.0)  # absent: exact zeros, not imputed
    assert np.all(np.abs(audio_block[~missing, 1:]).sum(axis=1) > 0)
    lyrics_block = Xt[:, -(len(AUDIO) + 1) - (len(LYRICS) + 1) : -(len(AUDIO) + 1)]
    assert np.all(lyrics_block[:, 0] == 0.0)  # every training row has lyrics
    assert np.allclose(lyrics_block[:, 1:].mean(axis=0), 0.0, atol=1e-6)  # scaled


def test_a_data_set_without_lyrics_is_refused_with_the_reason() -> None:
    dataset = full_dataset(120)
    frame = dataset.frame.copy()
    frame[list(LYRICS)] = np.nan
    with pytest.raises(DataError, match="120 of 120 usable rows have no lyrics"):
        prepare(dataclasses.replace(dataset, frame=frame), Task.HIT, FeatureSet.LYRICS)
