"""tcc-ceds "Music Dataset: 1950 to 2019" (Moura et al.), the 1,000-row sample: genre + topics.

The audio descriptors of this set were min-max scaled over the full data set (``loudness``
in 0..1, not dB; values with six or more significant digits where Spotify gives three). A
scaled value in a canonical column would mean something else than the same column in a
release event, so each descriptor is checked: only a column whose values look like
Spotify's (three significant digits or decimals, inside the release-event range, dB for
loudness) is used as the canonical descriptor; every other one is kept as an extra
``<name>_scaled``. Topic scores (``dating``, ``violence``, ...) and the lyrics word count
are extras too. ``age`` (the scaled
release year) is left out: it repeats ``release_year``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from hitpred.datasets.base import Dataset, DatasetLoader, descriptor_bounds, finish, register
from hitpred.datasets.reading import (
    files_with_columns,
    numeric,
    read_table,
    recording_key,
    text_column,
    year_column,
)
from hitpred.errors import DatasetError
from hitpred.models.base import Task

__all__ = ["LOADER", "load", "on_spotify_scale"]

NAME = "tcc-ceds-music-sample"
REQUIRED = ("artist_name", "track_name", "release_date", "genre", "lyrics")
AUDIO = ("danceability", "loudness", "acousticness", "instrumentalness", "valence", "energy")
TOPICS = (
    "dating",
    "violence",
    "world/life",
    "night/time",
    "shake the audience",
    "family/gospel",
    "romantic",
    "communication",
    "obscene",
    "music",
    "movement/places",
    "light/visual perceptions",
    "family/spiritual",
    "like/girls",
    "sadness",
    "feelings",
)
_SIGNATURE = {"artist_name", "track_name", "genre", "lyrics", "topic", "violence"}


def detect(path: Path) -> bool:
    """A CSV with the tcc-ceds columns (lyrics, genre, topic scores), or a folder of one."""
    return bool(files_with_columns(path, _SIGNATURE))


def _spotify_precision(values: np.ndarray) -> np.ndarray:
    """Spotify publishes three significant digits (0-1 scores) or three decimals (dB, BPM)."""
    exponent = np.floor(np.log10(np.abs(values)))
    scale = 10.0 ** (exponent - 2)
    significant = np.isclose(np.round(values / scale) * scale, values, rtol=1e-9, atol=0)
    decimals = np.isclose(np.round(values, 3), values, rtol=0, atol=1e-9)
    return significant | decimals


def on_spotify_scale(name: str, values: pd.Series) -> bool:
    """True when a descriptor column looks like raw Spotify values, not rescaled ones."""
    known = values.dropna().to_numpy(dtype="float64")
    if known.size == 0:
        return False
    low, _, high, _, _ = descriptor_bounds()[name]
    if (low is not None and known.min() < low) or (high is not None and known.max() > high):
        return False
    if name == "loudness" and known.max() > 0.5 and known.min() >= 0:
        return False  # all in 0..1: a rescaled dB value, not dB
    nonzero = known[known != 0]
    return nonzero.size == 0 or float(_spotify_precision(nonzero).mean()) >= 0.99


def _topic_column(name: str) -> str:
    return "topic_" + re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def load(path: Path) -> Dataset:
    """Load the tcc-ceds sample CSV (or the folder holding it)."""
    files = files_with_columns(path, _SIGNATURE)
    if not files:
        raise DatasetError(f"{path}: no tcc-ceds music file")
    file = files[0]
    notes: list[str] = []
    table = read_table(file, required=REQUIRED, notes=notes)
    raw = table.frame
    label = text_column(table, "genre", notes)
    artist = text_column(table, "artist_name", notes)
    columns: dict[str, object] = {
        "title": text_column(table, "track_name", notes),
        "artist": artist,
        "artists": artist,
        "lyrics": text_column(table, "lyrics", notes),
        "release_year": year_column(table, "release_date", notes),
        "genre": label,
        "y_genre": label,
    }
    extras: list[str] = []
    scaled: list[str] = []
    for name in AUDIO:
        if name not in raw:
            continue
        values = numeric(table, name, notes)
        if on_spotify_scale(name, values):
            columns[name] = values
        else:
            columns[f"{name}_scaled"] = values
            extras.append(f"{name}_scaled")
            scaled.append(name)
    if scaled:
        notes.append(
            f"min-max scaled descriptors kept as extras, not canonical: {', '.join(scaled)}"
        )
    for topic in TOPICS:
        if topic in raw:
            columns[_topic_column(topic)] = numeric(table, topic, notes)
            extras.append(_topic_column(topic))
    if "len" in raw:
        columns["lyrics_words"] = numeric(table, "len", notes)
        extras.append("lyrics_words")
    id_columns = [c for c in ("Unnamed: 0", "artist_name", "track_name") if c in raw]
    for column in id_columns:
        columns[column] = raw[column]
    if "topic" in raw:
        columns["topic"] = raw["topic"]
    frame = pd.DataFrame(columns)
    notes.append("lyrics are preprocessed (stop words removed) as published")
    return finish(
        name=NAME,
        source=file,
        frame=frame,
        tasks=(Task.GENRE,),
        extra_features=extras,
        id_columns=id_columns,
        group_keys={"artist+title": recording_key(frame["artist"], frame["title"])},
        notes=notes,
    )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.GENRE,),
        description="tcc-ceds Music Dataset 1950-2019 sample: genre, lyrics, topic scores",
        detect=detect,
        load=load,
    )
)
