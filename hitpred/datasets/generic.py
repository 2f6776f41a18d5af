"""Any CSV/TSV (plain or gzip, delimiter sniffed) or Parquet file in release-event terms.

Input columns are :class:`~hitpred.schemas.ReleaseEvent` field names: ``track_id``,
``title``, ``artists`` and ``genres`` (``;``-separated, or lists in Parquet), ``release_date``
(its year; ``release_year`` is accepted too), the Spotify descriptors (``key`` may be a note
name, ``mode`` ``Major``/``Minor``), ``lyrics``, ``audio_ref``. Optional target columns:
``hit`` (0/1/true/false), ``popularity`` (0-100), ``tier`` (a :class:`~hitpred.schemas.Tier`
value) and ``genre``. A file without targets loads too (for ``hitpred score``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
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
    header_of,
    key_column,
    mode_column,
    numeric,
    read_table,
    read_table_chunks,
    recording_key,
    split_list,
    strict_numeric,
    text_column,
    year_column,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task
from hitpred.schemas import DESCRIPTOR_FIELDS, Tier

__all__ = ["LOADER", "chunks", "load"]

NAME = "generic"
#: Input columns the generic format understands (release-event names, plus two conveniences).
INPUT_COLUMNS = (
    "event_id",
    "track_id",
    "title",
    "artists",
    "artist",
    "release_date",
    "release_year",
    "genres",
    *DESCRIPTOR_FIELDS,
    "lyrics",
    "audio_ref",
)
TARGETS = {"hit": Task.HIT, "popularity": Task.POPULARITY, "tier": Task.TIER, "genre": Task.GENRE}
_CONTENT = {"artists", "artist", "release_date", "release_year", "lyrics", *DESCRIPTOR_FIELDS}


def detect(path: Path) -> bool:
    """A table with ``title`` or ``track_id`` and at least one other release-event input."""
    if not path.is_file():
        return False
    columns = set(header_of(path))
    return bool(columns & {"title", "track_id"}) and bool(columns & _CONTENT)


def _hit(table: TableFile) -> pd.Series:
    text = table.frame["hit"].astype("string").str.strip().str.lower()
    mapped = text.map({"yes": "1", "no": "0"}, na_action="ignore").fillna(text)
    return strict_numeric(
        table.with_frame(table.frame.assign(hit=mapped)), "hit", allowed=(0, 1), integer=True
    )


def _tier(table: TableFile, notes: list[str]) -> pd.Series:
    text = pd.Series(text_column(table, "tier", notes), dtype=object)
    normalised = text.map(lambda t: t.lower().replace(" ", "-").replace("_", "-") if t else None)
    valid = {tier.value for tier in Tier}
    bad = normalised.notna() & ~normalised.isin(valid)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DatasetError(
            f"{table.path}: {table.where(first)}, column 'tier': {text.iloc[first]!r} is not "
            f"one of {', '.join(sorted(valid))}"
        )
    return normalised.astype(object)


def _names(raw: pd.Series) -> pd.Series:
    """``"a; b"`` (or a Parquet list) -> ``"a; b"`` in the canonical ``"; "`` form."""
    return raw.map(lambda v: "; ".join(split_list(v)) or None).astype(object)


def _name(path: Path) -> str:
    return path.stem.removesuffix(".csv").removesuffix(".tsv")


def _mapped(table: TableFile, notes: list[str]) -> tuple[pd.DataFrame, list[Task], list[str]]:
    """The table (a whole file or a chunk) in release-event terms: (frame, tasks, id columns)."""
    raw = table.frame
    if not set(raw.columns) & {"title", "track_id"}:
        raise DatasetError(f"{table.path}: missing required column(s) title or track_id")
    columns: dict[str, object] = {}
    for name in ("event_id", "track_id", "title", "lyrics", "audio_ref"):
        if name in raw:
            columns[name] = text_column(table, name, notes)
    if "artists" in raw:
        columns["artists"] = _names(raw["artists"])
    elif "artist" in raw:
        columns["artists"] = text_column(table, "artist", notes)
    if "artists" in columns:
        columns["artist"] = pd.Series(columns["artists"]).map(
            lambda a: a.split("; ")[0] if isinstance(a, str) else None
        )
    if "genres" in raw:
        columns["genre"] = _names(raw["genres"]).map(
            lambda g: g.split("; ")[0] if isinstance(g, str) else None
        )
    if "release_date" in raw:
        columns["release_year"] = year_column(table, "release_date", notes)
    elif "release_year" in raw:
        columns["release_year"] = numeric(table, "release_year", notes)
    for name in DESCRIPTOR_FIELDS:
        if name == "key" and name in raw:
            columns[name] = key_column(table, name, notes)
        elif name == "mode" and name in raw:
            columns[name] = mode_column(table, name, notes)
        elif name in raw:
            columns[name] = numeric(table, name, notes)

    tasks: list[Task] = []
    if "hit" in raw:
        columns["y_hit"] = _hit(table)
        tasks.append(Task.HIT)
    if "popularity" in raw:
        columns["y_popularity"] = strict_numeric(table, "popularity", allowed=(0, 100))
        tasks += [Task.POPULARITY, Task.TIER]
    elif "tier" in raw:
        columns["y_tier"] = _tier(table, notes)
        tasks.append(Task.TIER)
    if "genre" in raw:
        columns["y_genre"] = text_column(table, "genre", notes)
        tasks.append(Task.GENRE)
    if not tasks:
        notes.append("no target columns (hit, popularity, tier, genre): usable for scoring only")
    ignored = [c for c in raw.columns if c not in (*INPUT_COLUMNS, *TARGETS)]
    if ignored:
        notes.append(f"columns not in the release-event schema ignored: {', '.join(ignored[:10])}")
    frame = pd.DataFrame(columns, index=raw.index)
    id_columns = [c for c in ("event_id", "track_id", "title", "artists") if c in frame]
    return frame, tasks, id_columns


def load(path: Path) -> Dataset:
    """Load a release-event-shaped table."""
    if not path.is_file():
        raise DatasetError(f"{path}: the generic loader reads a file, not a folder")
    notes: list[str] = []
    frame, tasks, id_columns = _mapped(read_table(path, notes=notes), notes)
    group_keys: dict[str, pd.Series] = {}
    if "track_id" in frame:
        group_keys["track_id"] = frame["track_id"]
    if "artist" in frame and "title" in frame:
        group_keys["artist+title"] = recording_key(frame["artist"], frame["title"])
    return finish(
        name=_name(path),
        source=path,
        frame=frame,
        tasks=tasks,
        id_columns=id_columns,
        group_keys=group_keys,
        notes=notes,
    )


def chunks(path: Path, rows: int) -> Iterator[DatasetChunk]:
    """The table ``rows`` rows at a time (see :func:`~hitpred.datasets.base.finish_chunk`)."""
    if not path.is_file():
        raise DatasetError(f"{path}: the generic loader reads a file, not a folder")
    file_notes: list[str] = []  # about the whole file (its encoding): told with the first chunk
    for table in read_table_chunks(path, rows, notes=file_notes):
        notes = file_notes.copy()
        file_notes.clear()
        frame, tasks, id_columns = _mapped(table, notes)
        yield finish_chunk(
            name=_name(path),
            source=path,
            frame=frame,
            tasks=tasks,
            first_row=table.first_row,
            id_columns=id_columns,
            notes=notes,
        )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.HIT, Task.POPULARITY, Task.TIER, Task.GENRE),
        description="CSV/TSV/Parquet with release-event columns and optional targets "
        "hit/popularity/tier/genre (the tasks a file supports are those it has targets for)",
        detect=detect,
        load=load,
        catch_all=True,
        chunks=chunks,
    )
)
