"""MusicOSet: tab-separated relational files joined per song, in songs.csv order."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import detect_format, load_dataset
from hitpred.errors import DatasetError


def tsv(*rows: tuple[object, ...]) -> str:
    return "\n".join("\t".join(str(v) for v in row) for row in rows) + "\n"


@pytest.fixture
def musicoset(write, tmp_path):
    write(
        "mos/musicoset_metadata/songs.csv",
        tsv(
            ("song_id", "song_name", "billboard", "artists", "popularity", "explicit", "song_type"),
            ("s1", "thank u, next", "('Thank U, Next', 'Ariana Grande')",
             "{'a1': 'Ariana Grande'}", 86, "True", "Solo"),
            ("s2", "Sunflower", "('Sunflower', 'Post Malone & Swae Lee')",
             "{'a2': 'Post Malone', 'a3': 'Swae Lee'}", 92, "False", "Collaboration"),
            ("s3", "Wooly Bully", "('Wooly Bully', 'Sam The Sham')", "{'a4': 'Sam The Sham'}",
             40, "False", "Solo"),
        ),
    )  # fmt: skip
    write(
        "mos/musicoset_metadata/tracks.csv",
        tsv(
            ("song_id", "album_id", "track_number", "release_date", "release_date_precision"),
            ("s3", "al3", 1, "2010-01-01", "day"),  # a best-of re-release, out of order
            ("s1", "al1", 11, "2019-02-08", "day"),
            ("s2", "al2", 2, "2018", "year"),
        ),
    )
    write(
        "mos/musicoset_metadata/artists.csv",
        tsv(
            ("artist_id", "name", "followers", "popularity", "artist_type", "main_genre",
             "genres", "image_url"),
            ("a1", "Ariana Grande", 34554242, 96, "singer", "dance pop", "['pop']", "x"),
            ("a2", "Post Malone", "None", 90, "rapper", "dfw rap", "['rap']", "x"),
            ("a4", "Sam The Sham", 1000, 30, "band", "-", "[]", "x"),
        ),
    )  # fmt: skip
    features_header = (
        "song_id", "duration_ms", "key", "mode", "time_signature", "acousticness",
        "danceability", "energy", "instrumentalness", "liveness", "loudness", "speechiness",
        "valence", "tempo",
    )  # fmt: skip
    write(
        "mos/musicoset_songfeatures/acoustic_features.csv",
        tsv(
            features_header,
            ("s1", 207320, 1, 1, 4, 0.229, 0.717, 0.653, 0.0, 0.101, -5.634, 0.0658, 0.412, 107),
            ("s2", 158040, 2, 1, 4, 0.556, 0.76, 0.479, 0.0, 0.07, -5.574, 0.0466, 0.913, 89.9),
            ("s3", 140000, 7, 1, 4, 0.3, 0.8, 0.7, 0.0, 0.1, -8.0, 0.05, 0.9, 140.0),
        ),
    )
    write(
        "mos/musicoset_songfeatures/lyrics_partial.csv",
        "song_id\tlyrics\n"
        "s1\t\"['[Verse 1]\\nThought I\\'d end up with Sean', 'Wrote some songs']\"\n"
        "s2\t\n",
    )
    write(
        "mos/musicoset_popularity/song_pop.csv",
        tsv(
            ("song_id", "year_end_score", "is_pop", "year"),
            ("s1", 5617, "True", 2019),
            ("s2", 100, "False", 2018),
            ("s2", 5000, "True", 2019),
            ("s3", 80, "False", 1965),
        ),
    )
    return tmp_path / "mos"


def test_one_row_per_song_in_songs_order(musicoset):
    dataset = load_dataset(musicoset)
    assert detect_format(musicoset) == "musicoset"
    assert dataset.frame["song_id"].tolist() == ["s1", "s2", "s3"]
    assert dataset.targets == {"hit": "y_hit", "popularity": "y_popularity", "tier": "y_tier"}


def test_hit_is_ever_pop_and_popularity_from_songs(musicoset):
    frame = load_dataset(musicoset).frame
    assert frame["y_hit"].tolist() == [1, 1, 0]
    assert frame["y_popularity"].tolist() == [86.0, 92.0, 40.0]
    assert frame["y_tier"].tolist() == ["blazing-hot", "blazing-hot", "lukewarm"]


def test_release_year_is_album_year_unless_a_later_rerelease(musicoset):
    dataset = load_dataset(musicoset)
    assert dataset.frame["release_year"].tolist() == [2019.0, 2018.0, 1965.0]
    assert dataset.frame["decade"].tolist() == [2010.0, 2010.0, 1960.0]
    assert any("re-releases" in note for note in dataset.notes)


def test_artists_genre_followers_and_lyrics_are_joined(musicoset):
    dataset = load_dataset(musicoset)
    frame = dataset.frame
    assert frame["artists"].tolist()[:2] == ["Ariana Grande", "Post Malone; Swae Lee"]
    assert frame["n_artists"].tolist() == [1.0, 2.0, 1.0]
    assert frame["genre"].tolist() == ["dance pop", "dfw rap", None]  # '-' is no genre
    assert frame["artist_followers"].iloc[0] == 34554242.0
    assert pd.isna(frame["artist_followers"].iloc[1])  # 'None'
    assert frame["lyrics"].iloc[0] == "[Verse 1]\nThought I'd end up with Sean\nWrote some songs"
    assert frame["lyrics"].iloc[1] is None and frame["lyrics"].iloc[2] is None
    assert frame["tempo"].tolist() == [107.0, 89.9, 140.0]
    assert set(dataset.extra_features) == {"artist_followers", "explicit"}
    assert frame["explicit"].tolist() == [1.0, 0.0, 0.0]


def test_a_sub_folder_loads_the_whole_set(musicoset):
    assert len(load_dataset(musicoset / "musicoset_metadata").frame) == 3


def test_missing_table_is_named(musicoset):
    (musicoset / "musicoset_popularity" / "song_pop.csv").unlink()
    with pytest.raises(DatasetError, match=r"song_pop\.csv"):
        load_dataset(musicoset)


def test_unreadable_is_pop_names_the_line(musicoset):
    path = musicoset / "musicoset_popularity" / "song_pop.csv"
    path.write_text(path.read_text().replace("False\t1965", "maybe\t1965"))
    with pytest.raises(DatasetError, match=r"song_pop\.csv: line 5, column 'is_pop'"):
        load_dataset(musicoset)
