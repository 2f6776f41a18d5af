"""Feature-set rules: no target (or a function of it) ever becomes an input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hitpred.errors import DataError
from hitpred.models.base import Task
from tests.unit.models.factories import synthetic_dataset
from training.data import FeatureSet, Kind, prepare
from training.evaluate import fold_splits, holdout_split


def test_release_inputs_exclude_targets_and_the_genre_of_a_genre_task() -> None:
    dataset = synthetic_dataset(200)
    genre = prepare(dataset, Task.GENRE, FeatureSet.RELEASE)
    assert "genre" not in genre.features
    assert not [f for f in genre.features if f.startswith("y_")]
    hit = prepare(dataset, Task.HIT, FeatureSet.RELEASE)
    assert "genre" in hit.categorical and "title" in hit.text
    assert hit.kind is Kind.BINARY and set(np.unique(hit.y)) == {0, 1}


def test_all_features_add_other_targets_but_never_derived_ones() -> None:
    dataset = synthetic_dataset(200)
    genre = prepare(dataset, Task.GENRE, FeatureSet.ALL)
    assert "y_popularity" in genre.features and "y_genre" not in genre.features
    popularity = prepare(dataset, Task.POPULARITY, FeatureSet.ALL)
    assert "y_tier" not in popularity.features  # the tier is a function of popularity
    assert "y_popularity" not in popularity.features
    tier = prepare(dataset, Task.TIER, FeatureSet.ALL)
    assert "y_popularity" not in tier.features and "y_tier" not in tier.features


def test_artist_feature_set_is_opt_in() -> None:
    dataset = synthetic_dataset(200)
    assert "artist" not in prepare(dataset, Task.HIT, FeatureSet.ALL).features
    assert "artist" in prepare(dataset, Task.HIT, FeatureSet.RELEASE_ARTIST).features


def test_only_positive_labels_are_refused_with_a_reason() -> None:
    dataset = synthetic_dataset(200)
    frame = dataset.frame.copy()
    frame["y_hit"] = 1
    only_hits = dataclasses.replace(dataset, frame=frame)
    with pytest.raises(DataError, match="both classes"):
        prepare(only_hits, Task.HIT, FeatureSet.RELEASE)


def test_duplicates_and_unusable_rows_are_dropped() -> None:
    dataset = synthetic_dataset(200)
    frame = dataset.frame.copy()
    frame.loc[:9, "duplicate"] = True
    frame.loc[10:14, "usable"] = False
    data = prepare(dataclasses.replace(dataset, frame=frame), Task.HIT, FeatureSet.RELEASE)
    assert len(data.y) == 185
    assert data.n_duplicates_dropped == 10


def test_splits_keep_groups_and_artists_on_one_side() -> None:
    dataset = synthetic_dataset(300)
    frame = dataset.frame.copy()
    frame["group"] = [f"g{i // 2}" for i in range(len(frame))]  # pairs of one recording
    data = prepare(dataclasses.replace(dataset, frame=frame), Task.HIT, FeatureSet.RELEASE)
    dev, test = holdout_split(data, 0.2, seed=1)
    assert not set(data.groups[dev]) & set(data.groups[test])
    assert 0.1 < len(test) / len(data.y) < 0.3
    for train, valid in fold_splits(data, 3, seed=1, rows=dev, by="artist"):
        assert not set(data.artists[train]) & set(data.artists[valid])
        assert set(train) | set(valid) == set(dev)
