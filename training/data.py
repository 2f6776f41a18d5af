"""From a loaded data set to what a model is fitted on: rows, inputs, target, groups.

Feature sets (recorded in every bundle):

- ``release``: what is known when a track is released: the audio descriptors, release year
  or decade, number of credited artists, genre where given, and title/lyrics text;
- ``all``: ``release`` plus the data set's own extra columns and the *other* tasks' targets
  (e.g. popularity as an input to genre), as the seed projects did;
- ``release+artist``: ``release`` plus the artist's track record in the training rows
  (target-encoded artist). Opt-in: in these data sets the labels were built per artist, so it
  leaks; it is always also evaluated on an artist-disjoint split.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from hitpred.errors import DataError
from hitpred.features.vector import NUMERIC_FEATURES
from hitpred.models.base import Task
from hitpred.models.pipeline import CATEGORY_INPUTS, TEXT_INPUTS, model_input

__all__ = [
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

    @property
    def features(self) -> tuple[str, ...]:
        """Every input column, in the order the preprocessor sees them."""
        return (*self.numeric, *self.categorical, *self.text)


def _has_values(column: pd.Series) -> bool:
    if column.dtype == object or pd.api.types.is_string_dtype(column):
        text = column.astype("object").where(column.notna(), "").astype(str).str.strip()
        return bool((text != "").mean() >= MIN_TEXT_SHARE)
    return bool(column.notna().any() and column.nunique(dropna=True) > 1)


def _candidate_inputs(dataset: object, task: Task, feature_set: FeatureSet) -> list[str]:
    targets: dict[str, str] = dataset.targets  # type: ignore[attr-defined]
    inputs = [*NUMERIC_FEATURES, "genre", *TEXT_INPUTS]
    if task in (Task.GENRE, Task.MULTITASK):
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


def prepare(
    dataset: object, task: Task, feature_set: FeatureSet, exclude: tuple[str, ...] = ()
) -> TrainingData:
    """Select the usable rows of ``task``, drop repeated recordings, build the inputs.

    ``exclude`` removes input columns (for ablations, e.g. ``("title",)``).

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
    rows = frame.loc[keep].reset_index(drop=True)
    n_dropped = int((frame["usable"].astype(bool) & frame["duplicate"].astype(bool)).sum())
    if len(rows) < 50:
        raise DataError(f"{name}: only {len(rows)} usable rows for task {task.value}")
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
    used = [c for c in dict.fromkeys(candidates) if _has_values(rows[c])]
    text = tuple(c for c in used if c in TEXT_INPUTS)
    categorical = tuple(c for c in used if c in CATEGORY_INPUTS)
    numeric = tuple(c for c in used if c not in text and c not in categorical)
    if len(used) < 2 and feature_set is FeatureSet.RELEASE:
        raise DataError(
            f"{name}: the release feature set has almost no inputs here "
            f"({', '.join(used) or 'none'}); train with `--features all` to use the data set's "
            f"own columns ({len(dataset.extra_features)} extra)"  # type: ignore[attr-defined]
        )
    features = (*numeric, *categorical, *text)
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
    )
    logger.info(
        "%s/%s/%s: %d rows, %d inputs (%s)",
        name,
        task.value,
        feature_set.value,
        len(rows),
        len(features),
        ", ".join(features),
    )
    return data
