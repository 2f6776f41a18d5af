"""Spotify hit predictor: decade from the file name, duplicates across decade files."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import detect_format, load_dataset
from hitpred.datasets.spotify_hits import decade_of
from hitpred.errors import DatasetError

from .conftest import SPOTIFY_HEADER, spotify_row


@pytest.fixture
def spotify_folder(write, tmp_path):
    write(
        "hits/dataset-of-00s.csv",
        "\n".join(
            [
                SPOTIFY_HEADER,
                spotify_row("Tender Lover", "Babyface", "spotify:track:AAA", 1),
                spotify_row("Other", "Someone", "spotify:track:CCC", 0, tempo="0"),
            ]
        ),
    )
    write(
        "hits/dataset-of-90s.csv",
        "\n".join(
            [
                SPOTIFY_HEADER,
                spotify_row("Tender Lover", "Babyface", "spotify:track:AAA", 1),
                spotify_row("Made - Live", "Mario Featuring Gucci Mane", "spotify:track:BBB", 0),
            ]
        ),
    )
    return tmp_path / "hits"


@pytest.mark.parametrize(
    ("name", "decade"),
    [("dataset-of-60s.csv", 1960), ("dataset-of-00s.csv", 2000), ("dataset-of-10s.csv", 2010)],
)
def test_decade_comes_from_the_file_name(tmp_path, name, decade):
    assert decade_of(tmp_path / name) == decade


def test_decade_of_an_unrelated_name_is_unknown(tmp_path):
    assert decade_of(tmp_path / "hits.csv") is None


def test_folder_loads_in_decade_order_with_decades(spotify_folder):
    dataset = load_dataset(spotify_folder)
    frame = dataset.frame
    assert detect_format(spotify_folder) == "spotify-hit-predictor"
    # 90s before 00s: chronological, not alphabetical.
    assert frame["source_file"].tolist() == ["dataset-of-90s.csv"] * 2 + ["dataset-of-00s.csv"] * 2
    assert frame["decade"].tolist() == [1990.0, 1990.0, 2000.0, 2000.0]
    assert frame["release_year"].isna().all()
    assert frame["y_hit"].tolist() == [1, 0, 1, 0]
    assert dataset.targets == {"hit": "y_hit"}
    assert frame["track_id"].iloc[1] == "spotify:track:BBB"
    assert frame["artists"].iloc[1] == "Mario; Gucci Mane"
    assert frame["artist"].iloc[1] == "Mario" and frame["n_artists"].iloc[1] == 2.0


def test_same_uri_in_two_decade_files_shares_one_group(spotify_folder):
    dataset = load_dataset(spotify_folder)
    frame = dataset.frame.set_index("source_file", append=True)
    groups = dataset.frame.groupby("uri")[dataset.group_column].nunique()
    assert groups["spotify:track:AAA"] == 1
    assert dataset.frame[dataset.group_column].nunique() == 3
    assert dataset.frame["duplicate"].tolist() == [False, False, True, False]
    assert len(frame) == 4  # the duplicate row is kept
    assert any("repeat an earlier recording" in note for note in dataset.notes)


def test_tempo_outside_the_event_range_becomes_missing(spotify_folder):
    dataset = load_dataset(spotify_folder)
    row = dataset.frame[dataset.frame["uri"] == "spotify:track:CCC"].iloc[0]
    assert pd.isna(row["tempo"])
    assert any("tempo values outside" in note for note in dataset.notes)


def test_single_decade_file_loads_alone(spotify_folder):
    dataset = load_dataset(spotify_folder / "dataset-of-90s.csv")
    assert len(dataset.frame) == 2
    assert set(dataset.frame["decade"]) == {1990.0}


def test_unreadable_target_names_file_line_and_column(write):
    path = write(
        "dataset-of-70s.csv",
        "\n".join(
            [
                SPOTIFY_HEADER,
                spotify_row("A", "B", "spotify:track:1", 1),
                spotify_row("C", "D", "spotify:track:2", 1).removesuffix("1") + "yes",
            ]
        ),
    )
    with pytest.raises(DatasetError) as error:
        load_dataset(path)
    message = str(error.value)
    assert str(path) in message and "line 3" in message and "'target'" in message


def test_missing_column_is_named(write):
    header = SPOTIFY_HEADER.replace(",chorus_hit", "")
    row = spotify_row("A", "B", "spotify:track:1", 1).replace(",35.2,", ",")
    path = write("dataset-of-80s.csv", f"{header}\n{row}\n")
    with pytest.raises(DatasetError, match=r"dataset-of-80s\.csv.*chorus_hit"):
        load_dataset(path.parent)
