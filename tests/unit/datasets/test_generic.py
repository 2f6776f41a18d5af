"""The generic release-event table: CSV/TSV (sniffed), gzip or Parquet, optional targets."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import detect_format, load_dataset
from hitpred.errors import DatasetError

TSV = (
    "track_id\ttitle\tartists\trelease_date\tgenres\tdanceability\tkey\tmode\ttempo\t"
    "duration_ms\tlyrics\thit\tpopularity\tgenre\n"
    "t1\tSong A\tArtist One; Guest\t2021-03-05\tpop; dance pop\t0.7\tC#\tMajor\t120\t200000\t"
    "la la\t1\t81\tpop\n"
    "t2\tSong B\tArtist Two\t1999\t\t0.2\t5\t0\t?\t-1\t\tfalse\t12.5\trock\n"
    "t1\tSong A\tArtist One\t2021\tpop\t0.7\t1\t1\t120\t200000\t\ttrue\t80\tpop\n"
)


def test_tab_separated_file_is_sniffed_and_mapped(write):
    path = write("releases.tsv", TSV)
    dataset = load_dataset(path)
    frame = dataset.frame
    assert detect_format(path) == "generic"
    assert dataset.targets == {
        "hit": "y_hit",
        "popularity": "y_popularity",
        "tier": "y_tier",
        "genre": "y_genre",
    }
    assert (
        frame["artists"].iloc[0] == "Artist One; Guest" and frame["artist"].iloc[0] == "Artist One"
    )
    assert frame["n_artists"].tolist() == [2.0, 1.0, 1.0]
    assert frame["genre"].tolist() == ["pop", None, "pop"]
    assert frame["release_year"].tolist() == [2021.0, 1999.0, 2021.0]
    assert frame["key"].tolist() == [1.0, 5.0, 1.0] and frame["mode"].tolist() == [1.0, 0.0, 1.0]
    assert pd.isna(frame["tempo"].iloc[1]) and pd.isna(frame["duration_ms"].iloc[1])
    assert frame["y_hit"].tolist() == [1, 0, 1]
    assert frame["y_tier"].tolist() == ["blazing-hot", "ice-cold", "blazing-hot"]
    assert frame["group"].iloc[0] == frame["group"].iloc[2]
    assert any("tempo" in note and "line 3" in note for note in dataset.notes)


def test_parquet_with_list_columns_and_tier_only(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "title": ["X", "Y"],
            "artists": [["A", "B"], ["C"]],
            "energy": [0.5, 2.0],
            "tier": ["Blazing hot", "ice-cold"],
        }
    ).to_parquet(path)
    dataset = load_dataset(path)
    assert dataset.targets == {"tier": "y_tier"}
    assert dataset.frame["y_tier"].tolist() == ["blazing-hot", "ice-cold"]
    assert dataset.frame["artists"].tolist() == ["A; B", "C"]
    assert pd.isna(dataset.frame["energy"].iloc[1])  # outside 0..1
    assert any("energy values outside" in note for note in dataset.notes)


def test_file_without_targets_loads_for_scoring(write):
    path = write("new.csv", "title,artists,energy\nNew song,Someone,0.4\n")
    dataset = load_dataset(path)
    assert dataset.targets == {}
    assert dataset.frame["usable"].tolist() == [True]
    assert any("scoring only" in note for note in dataset.notes)


def test_semicolon_separated_gzip(write):
    path = write("events.csv.gz", "title;artists;tempo;hit\nA;B, C;100,5;1\n")
    dataset = load_dataset(path)
    assert dataset.frame["title"].tolist() == ["A"]
    assert dataset.frame["artists"].tolist() == ["B, C"]
    assert dataset.frame["tempo"].tolist() == [100.5]  # decimal comma
    assert dataset.frame["y_hit"].tolist() == [1]


def test_bad_tier_names_file_line_and_column(write):
    path = write("t.csv", "title,artists,tier\nA,B,hot\nC,D,warmish\n")
    with pytest.raises(DatasetError, match=r"t\.csv: line 2, column 'tier': 'hot'"):
        load_dataset(path)


def test_hit_outside_zero_one_is_an_error(write):
    path = write("h.csv", "title,artists,hit\nA,B,1\nC,D,2\n")
    with pytest.raises(DatasetError, match=r"h\.csv: line 3, column 'hit'"):
        load_dataset(path)
