"""The loaded data set, the loader registry, and the one place a loaded frame is finished.

Every loader maps its source columns onto the release-event field names, then hands the
result to :func:`finish`, which applies the same rules to every data set:

- descriptor values outside the :class:`~hitpred.schemas.ReleaseEvent` ranges become missing
  (the stream would reject them, so a model must not learn from them), counted in the notes;
- ``y_tier`` is derived from ``y_popularity`` with :func:`~hitpred.schemas.popularity_tier`;
- the canonical columns come first (:func:`~hitpred.features.vector.complete_frame`);
- ``group`` joins rows that are the same recording (shared uri, or same normalised
  artist + title), ``duplicate`` marks every row of a group but its first, and ``usable`` is
  False for rows without any input or without any target.

Rows are never dropped: one frame row per input row, in input order, so ``hitpred score``
can write one output row per input row. A loader that can map a file chunk by chunk also hands
each chunk to :func:`finish_chunk`, which applies the same row rules (everything above but
the grouping, which needs every row at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from hitpred.errors import DatasetError
from hitpred.features.vector import FRAME_COLUMNS, NUMERIC_FEATURES, complete_frame
from hitpred.models.base import Task
from hitpred.schemas import DESCRIPTOR_FIELDS, ReleaseEvent, popularity_tier

__all__ = [
    "DUPLICATE_COLUMN",
    "GROUP_COLUMN",
    "LOADERS",
    "TARGET_COLUMNS",
    "USABLE_COLUMN",
    "YEAR_RANGE",
    "Dataset",
    "DatasetChunk",
    "DatasetLoader",
    "chunks_of",
    "descriptor_bounds",
    "finish",
    "finish_chunk",
    "register",
]

logger = logging.getLogger(__name__)

#: Task -> the target column every loader uses for it.
TARGET_COLUMNS: dict[Task, str] = {
    Task.HIT: "y_hit",
    Task.POPULARITY: "y_popularity",
    Task.TIER: "y_tier",
    Task.GENRE: "y_genre",
}
GROUP_COLUMN = "group"
DUPLICATE_COLUMN = "duplicate"
USABLE_COLUMN = "usable"
_TEXT_COLUMNS = ("track_id", "title", "artist", "artists", "lyrics", "audio_ref")
#: Release years outside this range are treated as unreadable dates.
YEAR_RANGE: tuple[int, int] = (1900, 2100)


@dataclass(frozen=True)
class Dataset:
    """A loaded data set: the canonical frame plus what the training job needs to use it.

    ``frame`` holds one row per input row, in input order: the canonical columns
    (:data:`~hitpred.features.vector.FRAME_COLUMNS`), then the target columns
    (``y_hit`` nullable Int64 0/1, ``y_popularity`` float 0-100, ``y_tier`` and ``y_genre``
    str or None), then ``group``/``duplicate``/``usable`` and the data-set specific columns.
    """

    name: str
    source: Path
    frame: pd.DataFrame
    #: Task value -> target column, only for the tasks this data set supports.
    targets: dict[str, str]
    #: Data-set specific numeric input columns for the ``all`` feature set (never targets).
    extra_features: tuple[str, ...]
    #: Identifying columns in their original names (kept in ``frame``) for score output.
    id_columns: tuple[str, ...]
    #: Rows with the same value are the same recording: keep them on one side of a split.
    group_column: str
    #: For artist-disjoint splits (may be all missing, e.g. GTZAN has no artists).
    artist_column: str = "artist"
    #: What was cleaned, one human-readable line each.
    notes: tuple[str, ...] = ()

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks this data set has a target for."""
        return tuple(Task(name) for name in self.targets)

    def target(self, task: Task | str) -> pd.Series:
        """The target column of ``task``; DatasetError when the data set does not have it."""
        column = self.targets.get(str(task))
        if column is None:
            raise DatasetError(
                f"{self.name} ({self.source}) has no target for task {str(task)!r}; "
                f"it supports: {', '.join(self.targets) or 'none'}"
            )
        return self.frame[column]


@dataclass(frozen=True)
class DatasetChunk:
    """Consecutive rows of a data set read in chunks (:func:`finish_chunk`), for scoring.

    ``frame`` is laid out like :attr:`Dataset.frame` for rows ``first_row ...`` of the data
    set (use positions, not its index), except that a streamed chunk has no
    ``group``/``duplicate`` columns: telling repeated recordings apart needs every row at
    once. ``notes`` are about these rows (and, in the first chunk, about the whole file).
    """

    name: str
    source: Path
    frame: pd.DataFrame
    #: The 0-based position of the chunk's first row in the whole data set.
    first_row: int
    targets: dict[str, str]
    id_columns: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetLoader:
    """One data set format: how to recognise it and how to load it."""

    name: str
    #: The tasks every data set of this format supports.
    tasks: tuple[Task, ...]
    description: str
    #: True when the path (a file or a folder) is in this format.
    detect: Callable[[Path], bool]
    load: Callable[[Path], Dataset]
    #: Asked only after every specific format declined (the generic release-event table).
    catch_all: bool = False
    #: ``chunks(path, rows)``: the data set as :class:`DatasetChunk` of at most ``rows`` rows,
    #: in order (at least one), never holding the whole file. None for a format that needs
    #: every row at once to map one (a join across files, a per-column decision).
    chunks: Callable[[Path, int], Iterator[DatasetChunk]] | None = None

    @property
    def streams(self) -> bool:
        """True when :attr:`chunks` reads the data set without loading it whole."""
        return self.chunks is not None

    def __call__(self, path: str | Path) -> Dataset:
        return self.load(Path(path))


#: Format name -> loader; detection asks the ``catch_all`` ones last.
LOADERS: dict[str, DatasetLoader] = {}


def register(loader: DatasetLoader) -> DatasetLoader:
    """Add a loader to :data:`LOADERS` (each format module registers itself once)."""
    if loader.name in LOADERS:
        raise ValueError(f"dataset loader {loader.name!r} registered twice")
    LOADERS[loader.name] = loader
    return loader


@cache
def descriptor_bounds() -> dict[str, tuple[float | None, bool, float | None, bool, bool]]:
    """Per descriptor: (lower, lower inclusive, upper, upper inclusive, integer).

    Read from the ReleaseEvent JSON schema so the loaders and the stream validator can never
    disagree about a range.
    """
    properties = ReleaseEvent.model_json_schema()["properties"]
    bounds: dict[str, tuple[float | None, bool, float | None, bool, bool]] = {}
    for name in DESCRIPTOR_FIELDS:
        spec = next(
            s for s in properties[name].get("anyOf", [properties[name]]) if s.get("type") != "null"
        )
        if "enum" in spec:
            values = [float(v) for v in spec["enum"]]
            bounds[name] = (min(values), True, max(values), True, True)
            continue
        low, low_incl = spec.get("minimum"), True
        if "exclusiveMinimum" in spec:
            low, low_incl = spec["exclusiveMinimum"], False
        high, high_incl = spec.get("maximum"), True
        if "exclusiveMaximum" in spec:
            high, high_incl = spec["exclusiveMaximum"], False
        bounds[name] = (low, low_incl, high, high_incl, spec.get("type") == "integer")
    return bounds


@cache
def _text_limits() -> dict[str, int]:
    """``maxLength`` of the text fields a loader fills (from the ReleaseEvent schema)."""
    properties = ReleaseEvent.model_json_schema()["properties"]
    limits: dict[str, int] = {}
    for name in ("lyrics", "audio_ref"):  # inputs; a long title is still a fine identifier
        specs = properties[name].get("anyOf", [properties[name]])
        lengths = [s["maxLength"] for s in specs if "maxLength" in s]
        if lengths:
            limits[name] = int(lengths[0])
    return limits


def _out_of_range(values: pd.Series, name: str) -> pd.Series:
    low, low_incl, high, high_incl, integer = descriptor_bounds()[name]
    bad = pd.Series(False, index=values.index)
    if low is not None:
        bad |= values < low if low_incl else values <= low
    if high is not None:
        bad |= values > high if high_incl else values >= high
    if integer:
        bad |= values.notna() & (values != np.round(values))
    return bad & values.notna()


def _describe_range(name: str) -> str:
    low, low_incl, high, high_incl, integer = descriptor_bounds()[name]
    left = "[" if low_incl else "("
    right = "]" if high_incl else ")"
    kind = " integers" if integer else ""
    return f"{left}{low:g}, {high:g}{right}{kind}"


def _clip_to_schema(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Set descriptor values the stream would reject to missing, counting them."""
    for name in DESCRIPTOR_FIELDS:
        values = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        bad = _out_of_range(values, name)
        if bad.any():
            examples = ", ".join(f"{v:g}" for v in values[bad].unique()[:3])
            notes.append(
                f"{int(bad.sum()):,} {name} values outside the release-event range "
                f"{_describe_range(name)} set missing (e.g. {examples})"
            )
        frame[name] = values.mask(bad)
    for name, limit in _text_limits().items():
        lengths = frame[name].map(lambda t: len(t) if isinstance(t, str) else 0)
        too_long = (lengths > limit).astype(bool)
        if too_long.any():
            notes.append(
                f"{int(too_long.sum()):,} {name} values longer than the release-event limit "
                f"of {limit:,} characters set missing"
            )
            frame[name] = frame[name].mask(too_long)
    years = pd.to_numeric(frame["release_year"], errors="coerce").astype("float64")
    bad_year = years.notna() & ((years < YEAR_RANGE[0]) | (years > YEAR_RANGE[1]))
    if bad_year.any():
        notes.append(f"{int(bad_year.sum()):,} release years outside {YEAR_RANGE} set missing")
    frame["release_year"] = years.mask(bad_year)
    return frame


def _components(keys: Sequence[pd.Series], n_rows: int) -> np.ndarray:
    """Connected components of rows linked by any shared non-missing key value.

    Returns, per row, the index of the first row of its component (union-find, smallest
    index as root so the first occurrence in input order names the group).
    """
    parent = np.arange(n_rows)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for key in keys:
        values = key.reset_index(drop=True)
        values = values[values.notna() & (values.astype(str) != "")]
        first: dict[object, int] = {}
        for position, value in zip(values.index, values.to_numpy(), strict=True):
            seen = first.setdefault(value, position)
            if seen != position:
                a, b = root(seen), root(position)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(n_rows)], dtype=np.int64)


def _groups(
    frame: pd.DataFrame, keys: Mapping[str, pd.Series], notes: list[str]
) -> tuple[pd.Series, pd.Series]:
    """The ``group`` label (first row's key, or ``row:N``) and the ``duplicate`` flag."""
    n_rows = len(frame)
    roots = _components(list(keys.values()), n_rows)
    labels = np.array([f"row:{i}" for i in range(n_rows)], dtype=object)
    for kind, key in reversed(list(keys.items())):
        values = key.reset_index(drop=True)
        known = values.notna().to_numpy()
        labels[known] = [f"{kind}:{v}" for v in values[known]]
    group = pd.Series(labels[roots], index=frame.index, dtype=object)
    duplicate = pd.Series(roots != np.arange(n_rows), index=frame.index)
    if duplicate.any():
        n_groups = int(pd.Series(roots[roots != np.arange(n_rows)]).nunique())
        notes.append(
            f"{int(duplicate.sum()):,} rows repeat an earlier recording "
            f"({n_groups:,} recordings seen more than once, by {' or '.join(keys)}); "
            f"kept, sharing a '{GROUP_COLUMN}' value"
        )
    return group, duplicate


def finish(
    *,
    name: str,
    source: Path,
    frame: pd.DataFrame,
    tasks: Iterable[Task],
    extra_features: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    group_keys: Mapping[str, pd.Series] | None = None,
    notes: Sequence[str] = (),
) -> Dataset:
    """Turn a loader's frame (release-event names, ``y_*`` targets, extras) into a Dataset.

    ``group_keys`` maps a key kind (e.g. ``"uri"``, ``"artist+title"``) to a per-row key
    (missing where unknown); rows sharing any key are one recording. Without keys every row
    is its own group.
    """
    notes = list(notes)
    tasks = tuple(dict.fromkeys(tasks))
    out, targets = _row_rules(name, frame, tasks, extra_features, id_columns, notes, 0)
    keys = dict(group_keys or {})
    if any(len(key) != len(out) for key in keys.values()):  # a loader bug
        raise RuntimeError(f"{name} loader passed group keys not aligned with its rows")
    group, duplicate = _groups(out, keys, notes)
    out[GROUP_COLUMN] = group
    out[DUPLICATE_COLUMN] = duplicate
    out = _usable_and_ordered(out, targets, extra_features, notes)
    dataset = Dataset(
        name=name,
        source=source,
        frame=out,
        targets=targets,
        extra_features=tuple(extra_features),
        id_columns=tuple(id_columns),
        group_column=GROUP_COLUMN,
        notes=tuple(notes),
    )
    logger.info(
        "loaded %s from %s: %d rows, tasks %s, %d notes",
        name,
        source,
        len(out),
        ",".join(targets),
        len(notes),
    )
    return dataset


def finish_chunk(
    *,
    name: str,
    source: Path,
    frame: pd.DataFrame,
    tasks: Iterable[Task],
    first_row: int,
    extra_features: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> DatasetChunk:
    """:func:`finish` for rows ``first_row ...`` of a data set read in chunks.

    The same rules row by row (ranges, tiers, ids, ``usable``, column order); recordings are
    not grouped, as that needs every row at once.
    """
    notes = list(notes)
    tasks = tuple(dict.fromkeys(tasks))
    out, targets = _row_rules(name, frame, tasks, extra_features, id_columns, notes, first_row)
    out = _usable_and_ordered(out, targets, extra_features, notes)
    return DatasetChunk(
        name=name,
        source=source,
        frame=out,
        first_row=first_row,
        targets=targets,
        id_columns=tuple(id_columns),
        notes=tuple(notes),
    )


def chunks_of(dataset: Dataset, rows: int) -> Iterator[DatasetChunk]:
    """A loaded data set as chunks of ``rows`` rows (at least one, empty for no rows)."""
    if rows < 1:
        raise ValueError("rows must be positive")
    for start in range(0, max(len(dataset.frame), 1), rows):
        yield DatasetChunk(
            name=dataset.name,
            source=dataset.source,
            frame=dataset.frame.iloc[start : start + rows],
            first_row=start,
            targets=dataset.targets,
            id_columns=dataset.id_columns,
            notes=dataset.notes if start == 0 else (),
        )


def _row_rules(
    name: str,
    frame: pd.DataFrame,
    tasks: tuple[Task, ...],
    extra_features: Sequence[str],
    id_columns: Sequence[str],
    notes: list[str],
    first_row: int,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The rules that look at one row at a time; rows are numbered from ``first_row``."""
    out = complete_frame(frame.reset_index(drop=True))
    # Sources without ids (lyrics sets, GTZAN rows) get a stable one: events need a track_id.
    no_id = out["track_id"].isna()
    if no_id.any():
        generated = [f"{name}:{i}" for i in range(first_row, first_row + len(out))]
        out["track_id"] = out["track_id"].astype(object).where(~no_id, generated)
    out = _clip_to_schema(out, notes)
    for column in _TEXT_COLUMNS:  # one dtype whatever the source: object, None when missing
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    if Task.TIER in tasks and TARGET_COLUMNS[Task.POPULARITY] in out:
        popularity = out[TARGET_COLUMNS[Task.POPULARITY]]
        out[TARGET_COLUMNS[Task.TIER]] = popularity.map(
            lambda p: None if pd.isna(p) else popularity_tier(float(p)).value
        ).astype(object)
    targets = {task.value: TARGET_COLUMNS[task] for task in tasks}
    missing = [c for c in (*targets.values(), *extra_features, *id_columns) if c not in out]
    if missing:  # a loader bug, not a data problem
        raise RuntimeError(f"{name} loader did not produce columns {missing}")
    if extra_features:  # not bounded by the schema, but a model needs finite inputs
        extras = list(extra_features)
        values = out[extras].apply(pd.to_numeric, errors="coerce").astype("float64")
        infinite = np.isinf(values.to_numpy())
        for column, count in zip(extras, infinite.sum(axis=0), strict=True):
            if count:
                notes.append(f"{int(count):,} infinite {column} values set missing")
        if infinite.any():
            out[extras] = values.mask(infinite)
    if Task.HIT in tasks:
        out["y_hit"] = out["y_hit"].astype("Int64")
    for column in ("y_tier", "y_genre"):
        if column in out:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out, targets


def _usable_and_ordered(
    out: pd.DataFrame, targets: dict[str, str], extra_features: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    """Add ``usable``; put the canonical columns first, then the targets, then the rest."""
    inputs = [c for c in (*NUMERIC_FEATURES, "lyrics", "genre", *extra_features) if c in out]
    has_input = out[inputs].notna().any(axis=1)
    has_target = out[list(targets.values())].notna().any(axis=1) if targets else has_input
    out[USABLE_COLUMN] = has_input & has_target
    unusable = int((~out[USABLE_COLUMN]).sum())
    if unusable:
        notes.append(f"{unusable:,} rows without inputs or without a target marked usable=False")
    canonical = list(FRAME_COLUMNS)
    target_cols = list(targets.values())
    rest = [c for c in out.columns if c not in (*canonical, *target_cols)]
    return out[[*canonical, *target_cols, *rest]]
