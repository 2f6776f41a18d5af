"""PopLyrics-1K: 800 songs with raw lyrics (``[Verse]`` tags kept) and Spotify popularity.

One Parquet file. ``song_length`` (``m:ss``) gives ``duration_ms``; ``release_date`` comes in
several layouts (``2010-05-11``, ``May. 8, 2020``) and only its year is used; ``genre`` is a
list of the artist's Spotify genres, the first of which becomes the input ``genre``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from hitpred.datasets.base import Dataset, DatasetLoader, finish, register
from hitpred.datasets.reading import (
    header_of,
    read_table,
    recording_key,
    split_list,
    strict_numeric,
    text_column,
    year_column,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task

__all__ = ["LOADER", "load"]

NAME = "poplyrics-1k"
REQUIRED = ("track_name", "artist", "lyrics", "popularity")
_SIGNATURE = {"track_name", "artist", "lyrics", "popularity", "songwriters"}
_MINUTES = re.compile(r"^\s*(\d{1,3}):([0-5]\d)\s*$")


def _file(path: Path) -> Path:
    if path.is_file():
        return path
    files = sorted(p for p in path.glob("*.parquet") if _SIGNATURE <= set(header_of(p)))
    if not files:
        raise DatasetError(f"{path}: no PopLyrics Parquet file")
    return files[0]


def detect(path: Path) -> bool:
    """A Parquet file (or a folder of one) with PopLyrics' columns."""
    if path.is_dir():
        return any(_SIGNATURE <= set(header_of(p)) for p in path.glob("*.parquet"))
    return _SIGNATURE <= set(header_of(path))


def _duration_ms(lengths: pd.Series, notes: list[str]) -> pd.Series:
    def parse(value: object) -> float:
        match = _MINUTES.match(value) if isinstance(value, str) else None
        return (int(match[1]) * 60 + int(match[2])) * 1000.0 if match else np.nan

    values = pd.Series([parse(v) for v in lengths], index=lengths.index, dtype="float64")
    unreadable = int((values.isna() & lengths.notna()).sum())
    if unreadable:
        notes.append(f"{unreadable:,} song_length values not m:ss set missing")
    return values


def load(path: Path) -> Dataset:
    """Load the PopLyrics-1K Parquet file (or the folder holding it)."""
    file = _file(path)
    notes: list[str] = []
    table = read_table(file, required=REQUIRED, notes=notes)
    raw = table.frame
    artist = text_column(table, "artist", notes)
    featured = (
        raw["featured_artist"] if "featured_artist" in raw else pd.Series(None, index=raw.index)
    )
    artists = [
        "; ".join([a, *split_list(f, sep=",")]) if a else None
        for a, f in zip(artist, featured, strict=True)
    ]
    genres = raw["genre"].map(split_list) if "genre" in raw else pd.Series([[]] * len(raw))
    frame = pd.DataFrame(
        {
            "title": text_column(table, "track_name", notes),
            "artist": artist,
            "artists": pd.Series(artists, dtype=object),
            "lyrics": text_column(table, "lyrics", notes),
            "duration_ms": (
                _duration_ms(raw["song_length"], notes) if "song_length" in raw else np.nan
            ),
            "release_year": (
                year_column(table, "release_date", notes) if "release_date" in raw else np.nan
            ),
            "genre": genres.map(lambda g: g[0] if g else None).astype(object),
            "y_popularity": strict_numeric(table, "popularity", allowed=(0, 100)),
            "track_name": raw["track_name"],
            "album": raw["album"] if "album" in raw else None,
        }
    )
    frame["artist_name"] = frame["artist"]
    notes.append("input genre = the first of the artist's Spotify genres")
    return finish(
        name=NAME,
        source=file,
        frame=frame,
        tasks=(Task.POPULARITY, Task.TIER),
        id_columns=("track_name", "artist_name", "album"),
        group_keys={"artist+title": recording_key(frame["artist"], frame["title"])},
        notes=notes,
    )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.POPULARITY, Task.TIER),
        description="PopLyrics-1K: raw lyrics with Spotify popularity (Parquet)",
        detect=detect,
        load=load,
    )
)
