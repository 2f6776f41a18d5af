"""The real data sets in ../shared/datasets: every one loads, with the README's row counts."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import LOADERS, detect_format, load_dataset
from hitpred.features.vector import FRAME_COLUMNS
from hitpred.schemas import Tier

# folder -> (format, rows in the README, tasks)
EXPECTED = {
    "spotify-hit-predictor": ("spotify-hit-predictor", 32_882, {"hit"}),
    "music-genre": ("music-genre", 42_505, {"popularity", "tier", "genre"}),
    "musicoset": ("musicoset", 16_324, {"hit", "popularity", "tier"}),
    "poplyrics-1k": ("poplyrics-1k", 800, {"popularity", "tier"}),
    "billboard-lyrics": ("billboard-lyrics", 5_100, {"hit"}),
    "tcc-ceds-music-sample": ("tcc-ceds-music-sample", 1_000, {"genre"}),
    "gtzan-features": ("gtzan-features", 800, {"genre"}),
}


@pytest.fixture(scope="module")
def loaded(shared):
    return {folder: load_dataset(shared / folder) for folder in EXPECTED}


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_real_set_loads_with_its_row_count_and_tasks(loaded, shared, folder):
    fmt, rows, tasks = EXPECTED[folder]
    dataset = loaded[folder]
    assert detect_format(shared / folder) == fmt
    assert len(dataset.frame) == rows
    assert set(dataset.targets) == tasks
    assert set(LOADERS[fmt].tasks) >= tasks
    assert list(dataset.frame.columns[: len(FRAME_COLUMNS)]) == list(FRAME_COLUMNS)
    assert set(dataset.id_columns) <= set(dataset.frame.columns)
    assert set(dataset.extra_features) <= set(dataset.frame.columns)
    assert not set(dataset.extra_features) & set(dataset.targets.values())
    assert dataset.frame[dataset.group_column].notna().all()
    assert dataset.frame["track_id"].notna().all()


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_real_targets_are_sane(loaded, folder):
    dataset = loaded[folder]
    frame = dataset.frame[dataset.frame["usable"]]
    assert len(frame) > 0.99 * len(dataset.frame)
    if "hit" in dataset.targets:
        assert set(frame["y_hit"].dropna().unique()) <= {0, 1}
    if "popularity" in dataset.targets:
        popularity = frame["y_popularity"].dropna()
        assert popularity.between(0, 100).all() and popularity.nunique() > 50
        assert set(frame["y_tier"].dropna()) <= {t.value for t in Tier}
    if "genre" in dataset.targets:
        assert 5 <= frame["y_genre"].nunique() <= 12


def test_spotify_hits_are_balanced_with_decades_and_cross_file_groups(loaded):
    frame = loaded["spotify-hit-predictor"].frame
    assert frame["y_hit"].mean() == pytest.approx(0.5, abs=0.01)
    assert sorted(frame["decade"].unique()) == [1960, 1970, 1980, 1990, 2000, 2010]
    assert frame["release_year"].isna().all()
    per_uri = frame.groupby("uri")["group"].nunique()
    assert (per_uri == 1).all()
    assert frame.groupby("uri")["source_file"].nunique().max() > 1  # real cross-file duplicates


def test_music_genre_dirt_is_repaired(loaded):
    dataset = loaded["music-genre"]
    frame = dataset.frame
    assert frame["usable"].sum() == 42_500
    assert frame["key"].dropna().between(0, 11).all()
    assert set(frame["mode"].dropna().unique()) == {0.0, 1.0}
    assert 0.05 < frame["tempo"].isna().mean() < 0.15
    assert frame["duration_ms"].dropna().gt(0).all()
    assert frame["artist"].isna().sum() >= 2_000
    assert frame.loc[frame["usable"], "genre"].eq(frame.loc[frame["usable"], "y_genre"]).all()


def test_musicoset_joins_cover_the_songs(loaded):
    frame = loaded["musicoset"].frame
    assert frame["song_id"].is_unique
    assert frame["energy"].notna().all()
    assert frame["release_year"].between(1900, 2019).all()  # White Christmas: 1942
    assert frame["release_year"].median() > 1970
    assert frame["y_hit"].isna().sum() <= 1
    assert frame["lyrics"].notna().sum() >= 700
    assert frame["genre"].notna().mean() > 0.8


def test_billboard_is_positives_only_and_tcc_keeps_scaled_audio_apart(loaded):
    assert loaded["billboard-lyrics"].frame["y_hit"].eq(1).all()
    tcc = loaded["tcc-ceds-music-sample"]
    assert tcc.frame["loudness"].isna().all()
    assert tcc.frame["loudness_scaled"].between(0, 1).all()


def test_gtzan_groups_repeated_excerpts(loaded):
    dataset = loaded["gtzan-features"]
    assert dataset.frame["duplicate"].sum() > 0
    assert len(dataset.extra_features) >= 50
    assert pd.api.types.is_float_dtype(dataset.frame["mfcc1_mean"])
