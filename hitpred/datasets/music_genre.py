"""Kaggle "Prediction of music genre" (vicsuperman): ``music_genre`` (10 classes) and popularity.

Known dirt, all kept as rows and repaired column by column:

- ``tempo`` is ``?`` in about 10% of rows -> missing;
- ``duration_ms`` is ``-1`` in about 10% of rows -> missing;
- ``artist_name`` is ``empty_field`` in about 5% of rows -> missing;
- ``key`` holds note names (``C#``) -> pitch class 0-11; ``mode`` holds ``Major``/``Minor`` -> 1/0;
- a few all-empty rows -> ``usable`` False.

The label also fills the input ``genre`` column (as a release's declared genre would): the
training job leaves ``genre`` out of the inputs when genre is the target.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hitpred.datasets.base import Dataset, DatasetLoader, finish, register
from hitpred.datasets.reading import (
    header_of,
    key_column,
    mode_column,
    numeric,
    read_table,
    recording_key,
    strict_numeric,
    text_column,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task

__all__ = ["LOADER", "load"]

NAME = "music-genre"
FILE_NAME = "music_genre.csv"
REQUIRED = ("instance_id", "artist_name", "track_name", "popularity", "music_genre")
#: Descriptors this file has, under their release-event names.
DESCRIPTORS = (
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "loudness",
    "speechiness",
    "valence",
)


def _file(path: Path) -> Path:
    if path.is_dir():
        candidate = path / FILE_NAME
        if not candidate.is_file():
            raise DatasetError(f"{path}: no {FILE_NAME}")
        return candidate
    return path


def detect(path: Path) -> bool:
    """``music_genre.csv`` in a folder, or a file with its columns."""
    if path.is_dir():
        path = path / FILE_NAME
        if not path.is_file():
            return False
    return {"instance_id", "music_genre", "obtained_date"} <= set(header_of(path))


def load(path: Path) -> Dataset:
    """Load ``music_genre.csv`` (or the folder holding it)."""
    file = _file(path)
    notes: list[str] = []
    table = read_table(file, required=(*REQUIRED, *DESCRIPTORS), notes=notes)
    raw = table.frame
    empty_rows = int(raw.isna().all(axis=1).sum())
    if empty_rows:
        notes.append(f"{empty_rows:,} all-empty rows kept with usable=False")
    tempo = numeric(table, "tempo", notes, known_missing=("?",), what="'?' tempos")
    duration = numeric(table, "duration_ms", notes)
    unknown_duration = duration == -1
    if unknown_duration.any():
        notes.append(f"{int(unknown_duration.sum()):,} duration_ms of -1 set missing")
    artist = text_column(table, "artist_name", notes, placeholders=("empty_field",))
    title = text_column(table, "track_name", notes)
    label = text_column(table, "music_genre", notes)
    frame = pd.DataFrame(
        {
            "track_id": text_column(table, "instance_id", notes),
            "title": title,
            "artist": artist,
            "artists": artist,
            **{name: numeric(table, name, notes) for name in DESCRIPTORS},
            "key": key_column(table, "key", notes),
            "mode": mode_column(table, "mode", notes),
            "tempo": tempo,
            "duration_ms": duration.mask(unknown_duration),
            "genre": label,
            "y_popularity": strict_numeric(table, "popularity", allowed=(0, 100)),
            "y_genre": label,
            "instance_id": raw["instance_id"],
            "artist_name": raw["artist_name"],
            "track_name": raw["track_name"],
        }
    )
    return finish(
        name=NAME,
        source=path,
        frame=frame,
        tasks=(Task.POPULARITY, Task.TIER, Task.GENRE),
        id_columns=("instance_id", "artist_name", "track_name"),
        group_keys={
            "instance_id": frame["instance_id"],
            "artist+title": recording_key(frame["artist"], frame["title"]),
        },
        notes=notes,
    )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.POPULARITY, Task.TIER, Task.GENRE),
        description="Prediction of music genre (Kaggle): 10 genres and popularity, with dirt",
        detect=detect,
        load=load,
    )
)
