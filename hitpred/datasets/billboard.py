"""Billboard Year-End Hot 100 with lyrics, 1965-2015 (K. Pavlik): gzip CSV, hits only.

Every row is a year-end Hot 100 song, so ``y_hit`` is 1 for all rows: the set has no negative
examples and cannot train a hit model alone (the training job refuses with a message); it
adds lyrics and positives to other sets. ``Year`` (the chart year) is the release year. Songs
that charted in two years appear twice and share a group. Empty lyrics become missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hitpred.datasets.base import Dataset, DatasetLoader, finish, register
from hitpred.datasets.reading import (
    credits_column,
    files_with_columns,
    main_artist,
    read_table,
    recording_key,
    strict_numeric,
    text_column,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task

__all__ = ["LOADER", "load"]

NAME = "billboard-lyrics"
REQUIRED = ("Rank", "Song", "Artist", "Year", "Lyrics")


def detect(path: Path) -> bool:
    """A (gzip) CSV with Rank, Song, Artist, Year, Lyrics, or a folder holding one."""
    return bool(files_with_columns(path, REQUIRED))


def load(path: Path) -> Dataset:
    """Load the Billboard lyrics file (or the folder holding it)."""
    files = files_with_columns(path, REQUIRED)
    if not files:
        raise DatasetError(f"{path}: no Billboard lyrics file (columns {', '.join(REQUIRED)})")
    file = files[0]
    notes: list[str] = [
        "all rows are year-end Hot 100 hits: y_hit = 1 everywhere (positives only; "
        "cannot train a hit model alone)"
    ]
    table = read_table(file, required=REQUIRED, notes=notes)
    raw = table.frame
    lyrics = text_column(table, "Lyrics", notes)
    n_empty = int(pd.Series(lyrics).isna().sum())
    if n_empty:
        notes.append(f"{n_empty:,} rows with empty lyrics (lyrics missing)")
    rank = strict_numeric(table, "Rank", allowed=(1, 100), integer=True)
    frame = pd.DataFrame(
        {
            "title": text_column(table, "Song", notes),
            "lyrics": lyrics,
            "release_year": strict_numeric(table, "Year", allowed=(1900, 2100), integer=True),
            "y_hit": pd.Series(1, index=raw.index, dtype="Int64"),
            "Rank": rank,
            "Song": raw["Song"],
            "Artist": raw["Artist"],
            "Year": raw["Year"],
        }
    )
    frame["artists"] = credits_column(raw["Artist"])
    frame["artist"] = frame["artists"].map(main_artist)
    notes.append("release_year = the year-end chart year (Year)")
    return finish(
        name=NAME,
        source=file,
        frame=frame,
        tasks=(Task.HIT,),
        id_columns=("Rank", "Song", "Artist", "Year"),
        group_keys={"artist+title": recording_key(frame["artist"], frame["title"])},
        notes=notes,
    )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.HIT,),
        description="Billboard Year-End Hot 100 lyrics (gzip CSV): positives only",
        detect=detect,
        load=load,
    )
)
