"""The Spotify Hit Predictor data set (F. Ansari): one CSV per decade, ``target`` 1 = hit.

Layout: ``dataset-of-60s.csv`` ... ``dataset-of-10s.csv`` with ``track, artist, uri``, the 15
Spotify descriptors and ``target``. The decade exists only in the file name, so ``decade`` is
set from it and ``release_year`` stays missing. The same uri appears in several decade files
(a song charting across a decade boundary), sometimes with different targets: rows are kept,
and share a ``group`` so a split never puts them on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from hitpred.datasets.base import (
    Dataset,
    DatasetChunk,
    DatasetLoader,
    finish,
    finish_chunk,
    register,
)
from hitpred.datasets.reading import (
    TableFile,
    credits_column,
    header_of,
    main_artist,
    numeric,
    read_table,
    read_table_chunks,
    recording_key,
    strict_numeric,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task
from hitpred.schemas import DESCRIPTOR_FIELDS

__all__ = ["LOADER", "chunks", "decade_of", "load"]

NAME = "spotify-hit-predictor"
_FILE = re.compile(r"dataset-of-(\d\d)s\.csv$", re.IGNORECASE)
REQUIRED = ("track", "artist", "uri", *DESCRIPTOR_FIELDS, "target")
ID_COLUMNS = ("source_file", "track", "artist", "uri")


def decade_of(path: Path) -> int | None:
    """``dataset-of-60s.csv`` -> 1960, ``dataset-of-10s.csv`` -> 2010; None otherwise."""
    match = _FILE.search(path.name)
    if match is None:
        return None
    two = int(match.group(1))
    return (1900 if two >= 50 else 2000) + two


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in path.iterdir() if p.is_file() and _FILE.search(p.name)]
    # Chronological order (60s ... 10s), not alphabetical ("00s" would come first).
    return sorted(files, key=lambda p: (decade_of(p) or 0, p.name))


def detect(path: Path) -> bool:
    """A folder of ``dataset-of-XXs.csv`` files, or one file with this data set's columns."""
    if path.is_dir():
        return bool(_files(path))
    return set(REQUIRED) <= set(header_of(path))


def _decade(path: Path, notes: list[str]) -> int | None:
    decade = decade_of(path)
    if decade is None:
        notes.append(f"{path.name}: no decade in the file name (dataset-of-XXs.csv)")
    return decade


def _mapped(table: TableFile, decade: int | None, notes: list[str]) -> pd.DataFrame:
    """One file (or a chunk of one) in release-event terms."""
    raw = table.frame
    frame = pd.DataFrame(
        {
            "track_id": raw["uri"],
            "title": raw["track"],
            "artists": credits_column(raw["artist"]),
            **{name: numeric(table, name, notes) for name in DESCRIPTOR_FIELDS},
            "decade": float(decade) if decade is not None else float("nan"),
            "y_hit": strict_numeric(table, "target", allowed=(0, 1), integer=True),
            "source_file": table.path.name,
            "track": raw["track"],
            "uri": raw["uri"],
        }
    )
    # Like a release event's artists[0]: the main artist, for artist-disjoint splits.
    frame.insert(2, "artist", frame["artists"].map(main_artist))
    return frame


def _read_one(path: Path, notes: list[str]) -> pd.DataFrame:
    table = read_table(path, required=REQUIRED, notes=notes)
    return _mapped(table, _decade(path, notes), notes)


def load(path: Path) -> Dataset:
    """Load one decade file or the folder of all of them (in decade order)."""
    files = _files(path)
    if not files:
        raise DatasetError(f"{path}: no dataset-of-XXs.csv files")
    notes: list[str] = []
    frame = pd.concat([_read_one(p, notes) for p in files], ignore_index=True)
    if len(files) > 1:
        notes.append(f"rows of {len(files)} decade files concatenated in decade order")
    by_uri = frame.dropna(subset=["uri"]).groupby("uri")["y_hit"].nunique()
    conflicting = int((by_uri > 1).sum())
    if conflicting:
        notes.append(
            f"{conflicting:,} uris are a hit in one decade file and not in another "
            "(kept as given; one group each)"
        )
    notes.append("release_year unknown: only the decade (from the file name) is given")
    return finish(
        name=NAME,
        source=path,
        frame=frame,
        tasks=(Task.HIT,),
        id_columns=ID_COLUMNS,
        group_keys={
            "uri": frame["uri"],
            "artist+title": recording_key(frame["artist"], frame["title"]),
        },
        notes=notes,
    )


def chunks(path: Path, rows: int) -> Iterator[DatasetChunk]:
    """The decade files in order, ``rows`` rows at a time (rows are numbered across files)."""
    files = _files(path)
    if not files:
        raise DatasetError(f"{path}: no dataset-of-XXs.csv files")
    first_row = 0
    for file in files:
        notes: list[str] = []
        decade = _decade(file, notes)
        for table in read_table_chunks(file, rows, required=REQUIRED, notes=notes):
            if table.frame.empty and first_row > 0:
                continue  # an empty later file adds no rows (the first one gave the columns)
            frame = _mapped(table, decade, notes)
            yield finish_chunk(
                name=NAME,
                source=path,
                frame=frame,
                tasks=(Task.HIT,),
                first_row=first_row,
                id_columns=ID_COLUMNS,
                notes=notes,
            )
            first_row += len(frame)
            notes = []


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.HIT,),
        description="Spotify Hit Predictor: one CSV per decade, target 1 = Hot 100 hit",
        detect=detect,
        load=load,
        chunks=chunks,
    )
)
