"""MusicOSet (Silva, Rocha, Moro 2019): Billboard songs 1962-2018 with Spotify metadata.

Relational and **tab**-separated despite the ``.csv`` names. One frame row per song of
``musicoset_metadata/songs.csv``, in its order, joined by id (never by a pandas merge that
could multiply or reorder rows) with:

- ``musicoset_songfeatures/acoustic_features.csv``: the Spotify descriptors;
- ``musicoset_metadata/tracks.csv``: the album release date;
- ``musicoset_popularity/song_pop.csv``: one row per song per chart year; ``y_hit`` is 1 when
  the song was ever ``is_pop``, and the first chart year bounds the release year (an album
  date later than the first chart year is a re-release, e.g. a 2010 best-of);
- ``musicoset_metadata/artists.csv`` (main artist = first credited): ``main_genre`` as the
  input ``genre``, followers as an extra feature;
- ``musicoset_songfeatures/lyrics_partial.csv`` where present (748 songs).

``songs.popularity`` (0-100) is ``y_popularity``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from hitpred.datasets.base import Dataset, DatasetLoader, finish, register
from hitpred.datasets.reading import (
    TableFile,
    numeric,
    read_table,
    recording_key,
    strict_numeric,
    text_column,
    year_column,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task
from hitpred.schemas import DESCRIPTOR_FIELDS

__all__ = ["LOADER", "load"]

NAME = "musicoset"
SONGS = Path("musicoset_metadata/songs.csv")
TRACKS = Path("musicoset_metadata/tracks.csv")
ARTISTS = Path("musicoset_metadata/artists.csv")
FEATURES = Path("musicoset_songfeatures/acoustic_features.csv")
LYRICS = Path("musicoset_songfeatures/lyrics_partial.csv")
SONG_POP = Path("musicoset_popularity/song_pop.csv")
#: The descriptors acoustic_features.csv has (no chorus_hit, sections).
DESCRIPTORS = tuple(d for d in DESCRIPTOR_FIELDS if d not in ("chorus_hit", "sections"))


def _root(path: Path) -> Path:
    """The MusicOSet root, also when given one of its sub-folders or files."""
    for candidate in (path, *path.parents):
        if (candidate / SONGS).is_file():
            return candidate
    raise DatasetError(f"{path}: not a MusicOSet folder (no {SONGS})")


def detect(path: Path) -> bool:
    """The MusicOSet root, one of its ``musicoset_*`` folders, or a file inside one."""
    if path.is_dir() and (path / SONGS).is_file():
        return True
    folder = path if path.is_dir() else path.parent
    return folder.name.startswith("musicoset_") and (folder.parent / SONGS).is_file()


def _table(root: Path, relative: Path, required: tuple[str, ...], notes: list[str]) -> TableFile:
    path = root / relative
    if not path.is_file():
        raise DatasetError(f"{path}: missing MusicOSet file {relative}")
    return read_table(path, sep="\t", required=required, notes=notes)


#: What ``ast.literal_eval`` raises on a cell that is not a literal; deep nesting such as
#: ``"-" * 3000 + "1"`` exhausts the parser's recursion limit (RecursionError, MemoryError).
_UNREADABLE_LITERAL = (ValueError, TypeError, SyntaxError, RecursionError, MemoryError)


def _by_song(table: TableFile, song_ids: pd.Series, column: str) -> pd.Series:
    """``column`` of ``table`` looked up per song id (first row per id), aligned to songs."""
    lookup = table.frame.drop_duplicates("song_id").set_index("song_id")[column]
    return song_ids.map(lookup)


def _artist_credits(raw: pd.Series, notes: list[str]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``{'id': 'name', ...}`` -> (main artist id, main artist name, "; "-joined names)."""
    main_id: list[str | None] = []
    main_name: list[str | None] = []
    names: list[str | None] = []
    unreadable = 0
    for value in raw:
        try:
            credits = ast.literal_eval(value) if isinstance(value, str) else {}
            if not isinstance(credits, dict):
                raise ValueError("not a mapping")
        except _UNREADABLE_LITERAL:
            credits = {}
            unreadable += 1
        ids = [str(k) for k in credits]
        artist_names = [str(v).strip() for v in credits.values() if str(v).strip()]
        main_id.append(ids[0] if ids else None)
        main_name.append(artist_names[0] if artist_names else None)
        names.append("; ".join(artist_names) if artist_names else None)
    if unreadable:
        notes.append(f"{unreadable:,} unreadable 'artists' credits in songs.csv set missing")
    index = raw.index
    return (
        pd.Series(main_id, index=index, dtype=object),
        pd.Series(main_name, index=index, dtype=object),
        pd.Series(names, index=index, dtype=object),
    )


def _lyrics_text(value: object) -> str | None:
    """lyrics_partial stores a Python list literal of text blocks: join them."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        blocks = ast.literal_eval(value)
    except _UNREADABLE_LITERAL:
        return value.strip() or None
    if isinstance(blocks, list | tuple):
        text = "\n".join(str(b) for b in blocks).strip()
    else:
        text = str(blocks).strip()
    return text or None


def _chart(root: Path, song_ids: pd.Series, notes: list[str]) -> tuple[pd.Series, pd.Series]:
    """Per song: ever ``is_pop`` (nullable 0/1) and the first chart year."""
    table = _table(root, SONG_POP, ("song_id", "is_pop", "year"), notes)
    pop = table.frame
    is_pop = pop["is_pop"].astype("string").str.strip().str.lower()
    bad = ~is_pop.isin(["true", "false", "1", "0"])
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DatasetError(
            f"{table.path}: {table.where(first)}, column 'is_pop': cannot read "
            f"{pop['is_pop'].iloc[first]!r:.60} as a boolean"
        )
    pop = pop.assign(
        hit=is_pop.isin(["true", "1"]).astype("float64"),
        year=numeric(table, "year", notes),
    )
    by_song = pop.groupby("song_id").agg(hit=("hit", "max"), year=("year", "min"))
    hit = song_ids.map(by_song["hit"])
    year = song_ids.map(by_song["year"])
    absent = int(hit.isna().sum())
    if absent:
        notes.append(f"{absent:,} songs without a song_pop row: y_hit missing")
    return hit, year


def load(path: Path) -> Dataset:
    """Load MusicOSet from its root folder (the one holding ``musicoset_metadata``)."""
    root = _root(path)
    notes: list[str] = ["MusicOSet files are tab-separated (despite .csv)"]
    songs_table = _table(root, SONGS, ("song_id", "song_name", "artists", "popularity"), notes)
    songs = songs_table.frame
    song_ids = songs["song_id"]
    if song_ids.duplicated().any():
        notes.append(f"{int(song_ids.duplicated().sum()):,} repeated song_id in songs.csv")

    features = _table(root, FEATURES, ("song_id", *DESCRIPTORS), notes)
    descriptors = {
        name: _by_song(features, song_ids, name).pipe(pd.to_numeric, errors="coerce")
        for name in DESCRIPTORS
    }
    for name in DESCRIPTORS:  # count unreadable cells once, with their line
        numeric(features, name, notes)
    no_features = int(descriptors["energy"].isna().sum())
    if no_features:
        notes.append(f"{no_features:,} songs without acoustic features")

    tracks = _table(root, TRACKS, ("song_id", "release_date"), notes)
    album_year = song_ids.map(
        pd.Series(
            year_column(tracks, "release_date", notes).to_numpy(), index=tracks.frame["song_id"]
        )
        .groupby(level=0)
        .min()
    )
    hit, chart_year = _chart(root, song_ids, notes)
    rereleased = album_year.notna() & chart_year.notna() & (album_year > chart_year)
    if rereleased.any():
        notes.append(
            f"{int(rereleased.sum()):,} album dates later than the song's first chart year "
            "(re-releases): release_year = first chart year there"
        )
    release_year = album_year.where(~rereleased, chart_year).fillna(chart_year)

    main_id, main_name, names = _artist_credits(songs["artists"], notes)
    artists = _table(root, ARTISTS, ("artist_id", "followers", "main_genre"), notes)
    by_artist = artists.frame.drop_duplicates("artist_id").set_index("artist_id")
    follower_counts = numeric(
        artists, "followers", notes, known_missing=("None",), what="'None' follower counts"
    )
    followers = main_id.map(
        pd.Series(follower_counts.to_numpy(), index=artists.frame["artist_id"])
        .groupby(level=0)
        .first()
    )
    main_genre = main_id.map(by_artist["main_genre"]).astype("string").str.strip()
    placeholder = main_genre.isin(["-", ""])
    if placeholder.any():
        notes.append(
            f"{int(placeholder.sum()):,} main artists with main_genre '-' -> genre missing"
        )
    main_genre = main_genre.mask(placeholder)

    lyrics = pd.Series([None] * len(songs), dtype=object)
    if (root / LYRICS).is_file():
        lyrics_table = _table(root, LYRICS, ("song_id", "lyrics"), notes)
        lyrics = _by_song(lyrics_table, song_ids, "lyrics").map(_lyrics_text).astype(object)
        notes.append(f"lyrics for {int(lyrics.notna().sum()):,} songs (lyrics_partial.csv)")
    else:
        notes.append(f"no {LYRICS}: lyrics missing")

    explicit = (
        songs["explicit"].astype("string").str.strip().str.lower() if "explicit" in songs else None
    )
    frame = pd.DataFrame(
        {
            "track_id": song_ids,
            "title": text_column(songs_table, "song_name", notes),
            "artist": main_name,
            "artists": names,
            "lyrics": lyrics.to_numpy(),
            **{name: values.astype("float64") for name, values in descriptors.items()},
            "release_year": release_year.astype("float64"),
            "genre": main_genre.astype(object).where(main_genre.notna(), None),
            "y_hit": hit,
            "y_popularity": strict_numeric(songs_table, "popularity", allowed=(0, 100)),
            "artist_followers": followers.astype("float64"),
            "explicit": (
                explicit.map({"true": 1.0, "false": 0.0}).astype("float64")
                if explicit is not None
                else np.nan
            ),
            "first_chart_year": chart_year.astype("float64"),
            "song_id": song_ids,
            "song_name": songs["song_name"],
        }
    )
    return finish(
        name=NAME,
        source=root,
        frame=frame,
        tasks=(Task.HIT, Task.POPULARITY, Task.TIER),
        extra_features=("artist_followers", "explicit"),
        id_columns=("song_id", "song_name"),
        group_keys={
            "song_id": frame["song_id"],
            "artist+title": recording_key(frame["artist"], frame["title"]),
        },
        notes=notes,
    )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.HIT, Task.POPULARITY, Task.TIER),
        description="MusicOSet: Billboard songs with Spotify metadata (relational, tab-separated)",
        detect=detect,
        load=load,
    )
)
