"""Reading helpers: parse errors, encodings, normalised recording keys."""

from __future__ import annotations

import pandas as pd
import pytest

from hitpred.datasets import load_dataset
from hitpred.datasets.reading import read_table, recording_key, sniff_separator, split_credit
from hitpred.errors import DatasetError


def test_ragged_row_names_file_and_line(write):
    path = write("broken.csv", "title,artists,energy\nA,B,0.5\nC,D,0.1,extra\n")
    with pytest.raises(DatasetError, match=r"broken\.csv: cannot parse .*line 3"):
        load_dataset(path)


def test_empty_file_is_an_error(write):
    path = write("empty.csv", "")
    with pytest.raises(DatasetError, match=r"empty\.csv"):
        read_table(path)


def test_missing_required_columns_are_listed(write):
    path = write("x.csv", "a,b\n1,2\n")
    with pytest.raises(DatasetError, match=r"x\.csv: missing required column\(s\) c, d"):
        read_table(path, required=("a", "c", "d"))


def test_cp1252_file_is_decoded_with_a_note(write):
    path = write("latin.csv", "title,artists,energy\nCafé,Beyoncé,0.5\n", encoding="cp1252")
    dataset = load_dataset(path)
    assert dataset.frame["title"].tolist() == ["Café"]
    assert any("not UTF-8" in note for note in dataset.notes)


def test_na_like_titles_are_not_missing(write):
    path = write("na.csv", "title,artists,energy\nNA,None,0.5\n")
    frame = load_dataset(path).frame
    assert frame["title"].tolist() == ["NA"] and frame["artist"].tolist() == ["None"]


@pytest.mark.parametrize(
    ("header", "sep"), [("a,b,c", ","), ("a\tb\tc", "\t"), ("a;b;c", ";"), ("single", ",")]
)
def test_separator_is_sniffed_from_the_header(write, header, sep):
    assert sniff_separator(write("s.txt", f"{header}\n1,2;3\t4\n")) == sep


def test_unknown_path_and_format_are_errors(tmp_path, write):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope")
    path = write("other.csv", "x,y\n1,2\n")
    with pytest.raises(DatasetError, match=r"other\.csv: unknown data set format"):
        load_dataset(path)


def test_recording_key_joins_versions_and_keeps_different_songs_apart():
    artists = pd.Series(["Wire", "wire", "Beyoncé feat. Jay-Z", "Beyonce", "The Killers", None])
    titles = pd.Series(
        [
            "Mannequin - 2006 Remastered Version",
            "Mannequin",
            "Crazy in Love (feat. Jay-Z)",
            "Crazy In Love",
            "Mr. Brightside",
            "Intro",
        ]
    )
    keys = recording_key(artists, titles)
    assert keys[0] == keys[1]
    assert keys[2] == keys[3]
    assert keys[4] == "killers|mr brightside"
    assert keys[5] is None  # no artist: an "Intro" must not join every other "Intro"
    assert keys[0] != keys[4]


@pytest.mark.parametrize(
    ("credit", "artists"),
    [
        ("Mario Featuring Gucci Mane & Sean Garrett", "Mario; Gucci Mane; Sean Garrett"),
        ("Earth, Wind & Fire", "Earth, Wind & Fire"),
        ("Simon & Garfunkel", "Simon & Garfunkel"),
        ("Keyshia Cole Duet With Monica", "Keyshia Cole; Monica"),
        ("jay z feat. beyonce", "jay z; beyonce"),
        ("", None),
    ],
)
def test_chart_credits_split_only_the_featured_part(credit, artists):
    assert split_credit(credit) == artists


def test_truncated_gzip_is_an_error_naming_the_file(write, tmp_path):
    import gzip

    body = "title,artists,energy\n" + "".join(f"Song {i},Artist {i},0.5\n" for i in range(5000))
    data = gzip.compress(body.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"cut\.csv\.gz: cannot read"):
        load_dataset(path)


def test_corrupt_parquet_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(DatasetError, match=r"bad\.parquet: cannot read Parquet"):
        load_dataset(path)
