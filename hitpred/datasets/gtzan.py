"""GTZAN genre collection, librosa features of the 30 s clips (Kaggle, A. Olteanu).

``label`` (10 genres) is the target; ``tempo`` is a canonical descriptor (BPM); every other
numeric feature (chroma, rms, spectral, zero-crossing, harmony, 20 MFCC means/variances) is an
extra. ``length`` (samples per clip) is kept but not a feature: it is the clip length, not the
song's. GTZAN has no artists or titles, and known repeated excerpts: rows with identical
feature vectors share a group so they never straddle a split.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hitpred.datasets.base import Dataset, DatasetLoader, finish, register
from hitpred.datasets.reading import files_with_columns, numeric, read_table, text_column
from hitpred.errors import DatasetError
from hitpred.models.base import Task

__all__ = ["LOADER", "load"]

NAME = "gtzan-features"
REQUIRED = ("filename", "label", "tempo")
_SIGNATURE = {"filename", "label", "tempo", "mfcc1_mean"}
_NOT_FEATURES = {"filename", "label", "tempo", "length"}


def detect(path: Path) -> bool:
    """A CSV of GTZAN librosa features (filename, label, mfcc...), or a folder of one."""
    return bool(files_with_columns(path, _SIGNATURE))


def load(path: Path) -> Dataset:
    """Load a GTZAN features CSV (30 s or 3 s clips), or the folder holding one."""
    files = files_with_columns(path, _SIGNATURE)
    if not files:
        raise DatasetError(f"{path}: no GTZAN features file")
    file = files[0]
    notes: list[str] = ["GTZAN has no artists or titles: artist-disjoint splits are impossible"]
    table = read_table(file, required=REQUIRED, notes=notes)
    raw = table.frame
    label = text_column(table, "label", notes)
    extras = [c for c in raw.columns if c not in _NOT_FEATURES]
    features = {c: numeric(table, c, notes) for c in extras}
    filename = text_column(table, "filename", notes)
    prefix = pd.Series(filename).map(lambda f: f.split(".")[0] if isinstance(f, str) else None)
    disagree = int((prefix.notna() & pd.Series(label).notna() & (prefix != pd.Series(label))).sum())
    if disagree:
        notes.append(f"{disagree:,} rows whose file name genre differs from 'label' (label used)")
    frame = pd.DataFrame(
        {
            "track_id": filename,
            "tempo": numeric(table, "tempo", notes),
            "genre": label,
            "y_genre": label,
            **features,
            "filename": raw["filename"],
            "length": numeric(table, "length", notes) if "length" in raw else None,
        }
    )
    numbers = pd.DataFrame(features, index=raw.index).round(9)
    fingerprint = pd.Series(  # a row's feature vector as text (also for missing cells, no rows)
        ["|".join(map(str, row)) for row in numbers.itertuples(index=False)],
        index=raw.index,
        dtype=object,
    ).where(numbers.notna().any(axis=1), None)
    return finish(
        name=NAME,
        source=file,
        frame=frame,
        tasks=(Task.GENRE,),
        extra_features=extras,
        id_columns=("filename",),
        group_keys={"filename": frame["filename"], "features": fingerprint},
        notes=notes,
    )


LOADER = register(
    DatasetLoader(
        name=NAME,
        tasks=(Task.GENRE,),
        description="GTZAN librosa features: 10 genres, no artists",
        detect=detect,
        load=load,
    )
)
