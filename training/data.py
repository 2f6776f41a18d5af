"""From a loaded data set to what a model is fitted on: rows, inputs, target, groups.

Feature sets (recorded in every bundle):

- ``release``: what is known when a track is released: the audio descriptors, release year
  or decade, number of credited artists, genre where given, and title/lyrics text;
- ``all``: ``release`` plus the data set's own extra columns and the *other* tasks' targets
  (e.g. popularity as an input to genre), as the seed projects did;
- ``release+artist``: ``release`` plus the artist's track record in the training rows
  (target-encoded artist). Opt-in: in these data sets the labels were built per artist, so it
  leaks; it is always also evaluated on an artist-disjoint split.

The servable sets, one per kind of release the stream sees (it picks a champion whose inputs
a release carries, from the model's feature list):

- ``core``: the descriptors an audio file yields (:data:`ESTIMABLE_DESCRIPTORS`), release
  year, decade, number of artists, genre and the title: what a label has that holds only the
  audio file (trained on Spotify descriptors, served with values estimated from audio);
- ``audio``: tempo and the GTZAN layout (:data:`GTZAN_FEATURES`), computed from audio;
- ``lyrics``: the lyrics embedding (``lyrics_emb_*``) plus release year, decade, number of
  artists and genre, no descriptors; rows without lyrics are left out;
- ``multimodal``: the lyrics embedding, the audio embedding where a data set has one, every
  descriptor, the metadata and the title; rows without lyrics are left out (the stream serves
  it only releases with lyrics; a missing audio embedding is masked by the network).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from hitpred.errors import DataError
from hitpred.features.vector import (
    AUDIO_EMBEDDING_PREFIX,
    ESTIMABLE_DESCRIPTORS,
    GTZAN_FEATURES,
    LYRICS_EMBEDDING_PREFIX,
    NUMERIC_FEATURES,
)
from hitpred.models.base import Task
from hitpred.models.pipeline import CATEGORY_INPUTS, TEXT_INPUTS, model_input
from hitpred.schemas import DESCRIPTOR_FIELDS

__all__ = [
    "EMBEDDING_SETS",
    "METADATA",
    "FeatureSet",
    "Kind",
    "TrainingData",
    "prepare",
    "task_kind",
]

logger = logging.getLogger(__name__)

#: A text column is used when at least this share of the rows has text.
MIN_TEXT_SHARE = 0.3
#: Targets that are a function of another target: never an input for that other task.
_DERIVED: dict[str, tuple[str, ...]] = {
    "y_popularity": ("y_tier",),
    "y_tier": ("y_popularity",),
}


class FeatureSet(StrEnum):
    """Which inputs a model may use."""

    RELEASE = "release"
    ALL = "all"
    RELEASE_ARTIST = "release+artist"
    CORE = "core"
    AUDIO = "audio"
    LYRICS = "lyrics"
    MULTIMODAL = "multimodal"


#: Release metadata every servable set but ``audio`` reads (genre added when not the target).
METADATA: tuple[str, ...] = ("release_year", "decade", "n_artists")
#: The feature sets that read the lyrics embedding, and so train only on rows with lyrics.
EMBEDDING_SETS: tuple[FeatureSet, ...] = (FeatureSet.LYRICS, FeatureSet.MULTIMODAL)


class Kind(StrEnum):
    """The learning problem behind a task."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    MULTITASK = "multitask"


def task_kind(task: Task) -> Kind:
    """The learning problem of ``task``."""
    return {
        Task.HIT: Kind.BINARY,
        Task.POPULARITY: Kind.REGRESSION,
        Task.TIER: Kind.MULTICLASS,
        Task.GENRE: Kind.MULTICLASS,
        Task.MULTITASK: Kind.MULTITASK,
    }[task]


@dataclass
class TrainingData:
    """The usable, de-duplicated rows of one task, ready for splitting and fitting."""

    task: Task
    kind: Kind
    feature_set: FeatureSet
    dataset: str
    X: pd.DataFrame  # model inputs (see hitpred.models.pipeline.model_input)
    y: np.ndarray  # class codes (int) or values (float); popularity for multitask
    classes: tuple[str, ...] | None  # labels of the codes (genre for multitask)
    groups: np.ndarray  # recording ids: never on both sides of a split
    artists: np.ndarray  # artist ids for artist-disjoint splits
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    text: tuple[str, ...]
    fingerprint: str
    n_rows_loaded: int
    n_duplicates_dropped: int
    y_genre: np.ndarray | None = None  # multitask only: genre codes next to popularity
    lyrics_embedding: tuple[str, ...] = ()  # lyrics_emb_* columns, read as one block
    audio_embedding: tuple[str, ...] = ()  # audio_emb_* columns, read as one block
    notes: tuple[str, ...] = ()  # what the feature set did to the rows

    @property
    def features(self) -> tuple[str, ...]:
        """Every input column, in the order the preprocessor sees them (embeddings last)."""
        return (
            *self.numeric,
            *self.categorical,
            *self.text,
            *self.lyrics_embedding,
            *self.audio_embedding,
        )


def _has_values(column: pd.Series) -> bool:
    if column.dtype == object or pd.api.types.is_string_dtype(column):
        text = column.astype("object").where(column.notna(), "").astype(str).str.strip()
        return bool((text != "").mean() >= MIN_TEXT_SHARE)
    return bool(column.notna().any() and column.nunique(dropna=True) > 1)


def _embedding(columns: pd.Index, prefix: str) -> list[str]:
    return sorted(str(c) for c in columns if str(c).startswith(prefix))


def _candidate_inputs(dataset: object, task: Task, feature_set: FeatureSet) -> list[str]:
    targets: dict[str, str] = dataset.targets  # type: ignore[attr-defined]
    columns: pd.Index = dataset.frame.columns  # type: ignore[attr-defined]
    lyrics = _embedding(columns, LYRICS_EMBEDDING_PREFIX)
    inputs = {
        FeatureSet.CORE: [*ESTIMABLE_DESCRIPTORS, *METADATA, "genre", "title"],
        FeatureSet.AUDIO: ["tempo", *GTZAN_FEATURES],
        FeatureSet.LYRICS: [*lyrics, *METADATA, "genre"],
        FeatureSet.MULTIMODAL: [
            *lyrics,
            *_embedding(columns, AUDIO_EMBEDDING_PREFIX),
            *DESCRIPTOR_FIELDS,
            *METADATA,
            "genre",
            "title",  # not the raw lyrics: the embedding is the lyrics branch
        ],
    }.get(feature_set, [*NUMERIC_FEATURES, "genre", *TEXT_INPUTS])
    if task in (Task.GENRE, Task.MULTITASK) and "genre" in inputs:
        inputs.remove("genre")  # on music_genre the input genre *is* the target
    if feature_set is FeatureSet.ALL:
        inputs += list(dataset.extra_features)  # type: ignore[attr-defined]
        own = {targets[t.value] for t in _task_targets(task) if t.value in targets}
        banned = own | {d for column in own for d in _DERIVED.get(column, ())}
        inputs += [c for c in targets.values() if c not in banned]
    if feature_set is FeatureSet.RELEASE_ARTIST:
        inputs.append("artist")
    return inputs


def _task_targets(task: Task) -> tuple[Task, ...]:
    return (Task.GENRE, Task.POPULARITY) if task is Task.MULTITASK else (task,)


def _fingerprint(X: pd.DataFrame, y: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(X.astype("object"), index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(",".join(X.columns).encode())
    return digest.hexdigest()


def _encode(values: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    classes = tuple(sorted(str(v) for v in values.unique()))
    index = {c: i for i, c in enumerate(classes)}
    return values.astype(str).map(index).to_numpy(dtype="int64"), classes


def _lyrics_rows(
    frame: pd.DataFrame, keep: pd.Series, name: str, why: str
) -> tuple[pd.Series, str]:
    """``keep`` narrowed to the rows that have a lyrics embedding, and the data note."""
    columns = _embedding(frame.columns, LYRICS_EMBEDDING_PREFIX)
    if not columns:
        raise DataError(
            f"{name}: {why} needs the lyrics embedding columns ({LYRICS_EMBEDDING_PREFIX}000...); "
            "add them with training.embeddings.with_lyrics_embeddings (run_training does)"
        )
    has_lyrics = frame[columns[0]].notna()
    dropped = int((keep & ~has_lyrics).sum())
    note = f"{dropped:,} of {int(keep.sum()):,} usable rows have no lyrics and are not used ({why})"
    return keep & has_lyrics, note


def _split_inputs(rows: pd.DataFrame, candidates: list[str]) -> tuple[tuple[str, ...], ...]:
    """(numeric, categorical, text, lyrics embedding, audio embedding) inputs that have values.

    An embedding is one block: all its columns or none (a network branch reads it whole).
    """
    lyrics = tuple(c for c in candidates if c.startswith(LYRICS_EMBEDDING_PREFIX))
    audio = tuple(c for c in candidates if c.startswith(AUDIO_EMBEDDING_PREFIX))
    plain = [c for c in dict.fromkeys(candidates) if c not in (*lyrics, *audio)]
    used = [c for c in plain if _has_values(rows[c])]
    text = tuple(c for c in used if c in TEXT_INPUTS)
    categorical = tuple(c for c in used if c in CATEGORY_INPUTS)
    numeric = tuple(c for c in used if c not in text and c not in categorical)

    def block(columns: tuple[str, ...]) -> tuple[str, ...]:
        return columns if columns and rows[list(columns)].notna().to_numpy().any() else ()

    return numeric, categorical, text, block(lyrics), block(audio)


def prepare(
    dataset: object,
    task: Task,
    feature_set: FeatureSet,
    exclude: tuple[str, ...] = (),
    only_with_lyrics: bool | None = None,
) -> TrainingData:
    """Select the usable rows of ``task``, drop repeated recordings, build the inputs.

    ``exclude`` removes input columns (for ablations, e.g. ``("title",)``).
    ``only_with_lyrics`` keeps only rows with a lyrics embedding (default: for the ``lyrics``
    and ``multimodal`` sets); ablations set it to compare other sets on the same rows.

    Raises :class:`DataError` with the reason when the data set cannot train ``task``.
    """
    name: str = dataset.name  # type: ignore[attr-defined]
    targets: dict[str, str] = dataset.targets  # type: ignore[attr-defined]
    frame: pd.DataFrame = dataset.frame  # type: ignore[attr-defined]
    missing = [t.value for t in _task_targets(task) if t.value not in targets]
    if missing:
        raise DataError(
            f"{name} has no target for {', '.join(missing)}: it can train "
            f"{', '.join(targets) or 'nothing'}"
            + (" (score it with `hitpred score` instead)" if targets else "")
        )
    target_columns = [targets[t.value] for t in _task_targets(task)]
    keep = frame["usable"].astype(bool) & ~frame["duplicate"].astype(bool)
    for column in target_columns:
        keep &= frame[column].notna()
    notes: list[str] = []
    if only_with_lyrics is None:
        only_with_lyrics = feature_set in EMBEDDING_SETS
    if only_with_lyrics:
        keep, note = _lyrics_rows(frame, keep, name, f"the {feature_set.value} feature set")
        notes.append(note)
    rows = frame.loc[keep].reset_index(drop=True)
    n_dropped = int((frame["usable"].astype(bool) & frame["duplicate"].astype(bool)).sum())
    if len(rows) < 50:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise DataError(f"{name}: only {len(rows)} usable rows for task {task.value}{why}")
    kind = task_kind(task)
    y_genre = None
    if kind is Kind.BINARY:
        y = rows[target_columns[0]].astype("int64").to_numpy()
        classes: tuple[str, ...] | None = ("0", "1")
        if len(np.unique(y)) < 2:
            raise DataError(
                f"{name}: every row has {task.value} = {int(y[0])}; a classifier needs both "
                "classes (this data set can be scored with `hitpred score`, not trained on)"
            )
    elif kind is Kind.MULTICLASS:
        y, classes = _encode(rows[target_columns[0]])
        if len(classes) < 2:
            raise DataError(f"{name}: only one {task.value} class ({classes[0]})")
    elif kind is Kind.REGRESSION:
        y, classes = rows[target_columns[0]].astype("float64").to_numpy(), None
    else:
        y_genre, classes = _encode(rows[targets[Task.GENRE.value]])
        y = rows[targets[Task.POPULARITY.value]].astype("float64").to_numpy()
    candidates = [c for c in _candidate_inputs(dataset, task, feature_set) if c in rows.columns]
    candidates = [c for c in candidates if c not in exclude]
    numeric, categorical, text, lyrics, audio = _split_inputs(rows, candidates)
    used = [*numeric, *categorical, *text]
    if len(used) < 2 and feature_set is FeatureSet.RELEASE:
        raise DataError(
            f"{name}: the release feature set has almost no inputs here "
            f"({', '.join(used) or 'none'}); train with `--features all` to use the data set's "
            f"own columns ({len(dataset.extra_features)} extra)"  # type: ignore[attr-defined]
        )
    if feature_set is FeatureSet.AUDIO and not set(used) & set(GTZAN_FEATURES):
        raise DataError(f"{name}: the audio feature set needs the GTZAN feature columns")
    if not used and not lyrics and not audio:
        raise DataError(f"{name}: the {feature_set.value} feature set has no inputs here")
    features = (*numeric, *categorical, *text, *lyrics, *audio)
    X = model_input(rows, features)
    artist = rows["artist"].astype("object").where(rows["artist"].notna(), None)
    artists = artist.map(lambda a: str(a).strip().lower() if a else None)
    artists = artists.where(artists.notna(), pd.Series([f"row:{i}" for i in range(len(rows))]))
    data = TrainingData(
        task=task,
        kind=kind,
        feature_set=feature_set,
        dataset=name,
        X=X,
        y=y,
        classes=classes,
        groups=rows["group"].astype(str).to_numpy(),
        artists=artists.astype(str).to_numpy(),
        numeric=numeric,
        categorical=categorical,
        text=text,
        fingerprint=_fingerprint(X, y if y_genre is None else np.c_[y, y_genre]),
        n_rows_loaded=len(frame),
        n_duplicates_dropped=n_dropped,
        y_genre=y_genre,
        lyrics_embedding=lyrics,
        audio_embedding=audio,
        notes=tuple(notes),
    )
    logger.info(
        "%s/%s/%s: %d rows, %d inputs (%s%s)",
        name,
        task.value,
        feature_set.value,
        len(rows),
        len(features),
        ", ".join(used),
        "".join(f", {len(b)}-d {b[0][:-3]}*" for b in (lyrics, audio) if b),
    )
    return data
