"""music-genre: every documented kind of dirt is repaired, no row is dropped."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import detect_format, load_dataset
from hitpred.errors import DatasetError

HEADER = (
    "instance_id,artist_name,track_name,popularity,acousticness,danceability,duration_ms,"
    "energy,instrumentalness,key,liveness,loudness,mode,speechiness,tempo,obtained_date,"
    "valence,music_genre"
)
ROWS = [
    "39222.0,Wire,Mannequin - 2006 Remastered Version,48.0,0.0065,0.419,-1.0,0.75,0.254,B,"
    "0.249,-8.798,Minor,0.0469,150.064,4-Apr,0.861,Blues",
    "68007.0,Santana,Paraísos Quemados,42.0,0.588,0.627,359187.0,0.78,0.00618,C#,0.0843,"
    "-2.715,Major,0.037,?,4-Apr,0.864,Blues",
    ",,,,,,,,,,,,,,,,,",
    "1.0,empty_field,Intro,75.0,0.1,0.5,200000.0,0.5,0.0,Eb,0.1,-5.0,Major,0.05,90.0,4-Apr,0.4,Rap",
    "2.0,Wire,Mannequin,30.0,0.0065,0.419,201000.0,0.75,0.254,B,0.249,-8.798,Minor,0.0469,"
    "150.064,4-Apr,0.861,Rock",
]


@pytest.fixture
def genre_file(write):
    return write("music-genre/music_genre.csv", "\n".join([HEADER, *ROWS]) + "\n")


def test_rows_keep_input_order_and_count(genre_file):
    dataset = load_dataset(genre_file.parent)
    assert detect_format(genre_file.parent) == "music-genre"
    assert len(dataset.frame) == len(ROWS)
    assert dataset.frame["instance_id"].iloc[0] == "39222.0"
    assert dataset.targets == {"popularity": "y_popularity", "tier": "y_tier", "genre": "y_genre"}


def test_question_mark_tempo_and_minus_one_duration_become_missing(genre_file):
    dataset = load_dataset(genre_file)
    frame = dataset.frame
    assert pd.isna(frame["tempo"].iloc[1]) and frame["tempo"].iloc[0] == pytest.approx(150.064)
    assert pd.isna(frame["duration_ms"].iloc[0]) and frame["duration_ms"].iloc[1] == 359187.0
    notes = " | ".join(dataset.notes)
    assert "1 '?' tempos" in notes and "1 duration_ms of -1" in notes


def test_note_names_and_modes_become_numbers(genre_file):
    frame = load_dataset(genre_file).frame
    assert frame["key"].tolist()[:2] == [11.0, 1.0]
    assert frame["key"].iloc[3] == 3.0  # Eb
    assert frame["mode"].tolist()[:2] == [0.0, 1.0]


def test_empty_field_artist_is_missing_and_all_empty_row_is_unusable(genre_file):
    dataset = load_dataset(genre_file)
    frame = dataset.frame
    assert frame["artist"].iloc[3] is None
    assert frame["usable"].tolist() == [True, True, False, True, True]
    assert any("all-empty" in note for note in dataset.notes)


def test_targets_tier_and_genre_input(genre_file):
    frame = load_dataset(genre_file).frame
    assert frame["y_popularity"].iloc[0] == 48.0
    assert frame["y_tier"].tolist() == ["lukewarm", "lukewarm", None, "blazing-hot", "ice-cold"]
    assert frame["y_genre"].iloc[0] == "Blues" and frame["genre"].iloc[0] == "Blues"


def test_same_track_under_two_genres_shares_a_group(genre_file):
    dataset = load_dataset(genre_file)
    groups = dataset.frame[dataset.group_column]
    # "Mannequin - 2006 Remastered Version" and "Mannequin" by Wire are one recording.
    assert groups.iloc[0] == groups.iloc[4]
    assert groups.iloc[1] != groups.iloc[0]
    assert dataset.frame["duplicate"].iloc[4]


def test_popularity_above_100_is_an_error_naming_the_line(write):
    bad = ROWS[0].replace(",48.0,", ",480.0,")
    path = write("music_genre.csv", "\n".join([HEADER, ROWS[1], bad]) + "\n")
    with pytest.raises(DatasetError, match=r"music_genre\.csv: line 3, column 'popularity'"):
        load_dataset(path)


def test_unknown_dirt_in_a_feature_is_counted_with_its_line(write):
    bad = ROWS[1].replace(",0.588,", ",n/a,")
    path = write("music_genre.csv", "\n".join([HEADER, ROWS[0], bad]) + "\n")
    dataset = load_dataset(path)
    assert pd.isna(dataset.frame["acousticness"].iloc[1])
    assert any("'acousticness'" in n and "line 3" in n and "'n/a'" in n for n in dataset.notes)
