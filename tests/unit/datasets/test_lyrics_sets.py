"""PopLyrics-1K (Parquet) and Billboard lyrics (gzip CSV)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hitpred.datasets import detect_format, load_dataset
from hitpred.errors import DatasetError


@pytest.fixture
def poplyrics(tmp_path):
    frame = pd.DataFrame(
        {
            "track_name": ["Marry You", "Stuck with U", "Marry You"],
            "album": ["Doo-Wops", "Stuck with U", "Doo-Wops (Deluxe)"],
            "release_date": ["2010-05-11", "May. 8, 2020", "2010"],
            "song_length": ["3:50", None, "3:51"],
            "popularity": [78.0, np.nan, 80.0],
            "songwriters": [np.array(["Bruno Mars"]), np.array(["S. Braun"]), np.array(["BM"])],
            "artist": ["Bruno Mars", "Justin Bieber", "Bruno Mars"],
            "lyrics": ["[Chorus]\nIt's a beautiful night", "[Intro]\nMmm", "[Chorus]\nIt's"],
            "genre": [np.array(["dance pop", "pop"]), np.array(["pop"]), np.array([], dtype=str)],
            "featured_artist": [None, "Ariana Grande", None],
        }
    )
    path = tmp_path / "poplyrics.parquet"
    frame.to_parquet(path)
    return path


def test_poplyrics_maps_lyrics_popularity_duration_year_genre(poplyrics):
    dataset = load_dataset(poplyrics)
    frame = dataset.frame
    assert detect_format(poplyrics.parent) == "poplyrics-1k"
    assert dataset.targets == {"popularity": "y_popularity", "tier": "y_tier"}
    assert frame["lyrics"].iloc[0].startswith("[Chorus]")
    assert frame["duration_ms"].tolist()[0] == 230000.0 and pd.isna(frame["duration_ms"].iloc[1])
    assert frame["release_year"].tolist() == [2010.0, 2020.0, 2010.0]
    assert frame["genre"].tolist() == ["dance pop", "pop", None]
    assert frame["artists"].iloc[1] == "Justin Bieber; Ariana Grande"
    assert frame["usable"].tolist() == [True, False, True]  # no popularity on row 2
    assert frame["track_id"].nunique() == 3  # synthetic ids where the source has none
    assert frame["group"].iloc[0] == frame["group"].iloc[2]


BILLBOARD = (
    "Rank,Song,Artist,Year,Lyrics,Source\n"
    "1,wooly bully,sam the sham and the pharaohs,1965,matty told hatty,1\n"
    '2,i cant help myself,four tops,1965,"sugar pie\nhoney bunch",1\n'
    "46,100 pure love,crystal waters,1994,  ,\n"
    "82,100 pure love,crystal waters,1995,,\n"
)


def test_billboard_gzip_all_positive_with_years(write):
    path = write("billboard/billboard.csv.gz", BILLBOARD)
    dataset = load_dataset(path.parent)
    frame = dataset.frame
    assert detect_format(path) == "billboard-lyrics"
    assert frame["y_hit"].tolist() == [1, 1, 1, 1]
    assert frame["release_year"].tolist() == [1965.0, 1965.0, 1994.0, 1995.0]
    assert frame["lyrics"].iloc[1] == "sugar pie\nhoney bunch"
    assert frame["lyrics"].iloc[2] is None  # whitespace only
    assert frame["group"].iloc[2] == frame["group"].iloc[3]
    assert any("positives only" in note for note in dataset.notes)


def test_billboard_bad_year_names_the_line_past_a_quoted_newline(write):
    path = write("billboard.csv.gz", BILLBOARD.replace("1994", "19x4"))
    with pytest.raises(DatasetError, match=r"billboard\.csv\.gz: line 5, column 'Year'"):
        load_dataset(path)
