"""The cleaning helpers every loader shares (and, re-exported, the raw table readers).

- :mod:`~hitpred.datasets.tables` reads CSV/TSV (plain or gzip, delimiter sniffed from the
  header) and Parquet as strings, whole (:func:`read_table`) or in chunks
  (:func:`read_table_chunks`); its names are importable from here too.
- :func:`numeric` coerces a column to numbers; values that are not known dirt become missing
  and are counted in the notes with the line of the first one, so nothing is dropped silently.
- :func:`recording_key` builds the normalised artist + title key that finds the same recording
  under slightly different spellings across rows and files.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from hitpred.datasets.tables import (
    TABULAR_SUFFIXES,
    TableFile,
    files_with_columns,
    header_of,
    is_gzip,
    is_parquet,
    read_table,
    read_table_chunks,
    require_columns,
    sniff_separator,
    tabular_files,
)
from hitpred.errors import DatasetError

__all__ = [
    "PITCH_CLASSES",
    "TABULAR_SUFFIXES",
    "TableFile",
    "credits_column",
    "files_with_columns",
    "header_of",
    "is_gzip",
    "is_parquet",
    "key_column",
    "main_artist",
    "mode_column",
    "numeric",
    "read_table",
    "read_table_chunks",
    "recording_key",
    "require_columns",
    "sniff_separator",
    "split_credit",
    "split_list",
    "strict_numeric",
    "tabular_files",
    "text_column",
    "year_column",
]


def numeric(
    table: TableFile,
    column: str,
    notes: list[str],
    *,
    known_missing: Iterable[str] = (),
    what: str = "",
) -> pd.Series:
    """The column as float64; unknown non-numeric values become missing and are counted.

    ``known_missing`` are the data set's documented placeholders (e.g. ``"?"``); they are
    counted in their own note (``what`` describes them) rather than as unreadable values.
    """
    raw = table.frame[column]
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64")
    text = raw.astype("string").str.strip()
    placeholders = text.isin(list(known_missing))
    if placeholders.any():
        notes.append(
            f"{int(placeholders.sum()):,} {what or repr(sorted(set(known_missing)))} "
            f"in '{column}' set missing"
        )
    text = text.mask(placeholders)
    if table.sep == ";":  # semicolon files come from locales that write 100,5 for 100.5
        comma = text.str.fullmatch(r"-?\d+,\d+").fillna(False).astype(bool)
        if comma.any():
            notes.append(f"{int(comma.sum()):,} decimal commas in '{column}' read as points")
            text = text.mask(comma, text.str.replace(",", ".", regex=False))
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    unreadable = values.isna() & text.notna()
    if unreadable.any():
        first = int(np.flatnonzero(unreadable.to_numpy())[0])
        notes.append(
            f"{int(unreadable.sum()):,} non-numeric values in '{column}' of {table.path.name} "
            f"set missing (first at {table.where(first)}: {text.iloc[first]!r:.40})"
        )
    return values


def strict_numeric(
    table: TableFile,
    column: str,
    *,
    allowed: tuple[float, float] | None = None,
    integer: bool = False,
) -> pd.Series:
    """A target column as float64: empty cells are missing, anything unreadable is an error.

    Labels are not coerced like features: training on a silently corrupted label is worse
    than stopping with the file, line and column of the bad value.
    """
    raw = table.frame[column]
    text = raw.astype("string").str.strip()
    lowered = text.str.lower()
    text = text.mask(lowered.isin(["true"]), "1").mask(lowered.isin(["false"]), "0")
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = values.isna() & text.notna()
    if allowed is not None:
        bad |= values.notna() & ((values < allowed[0]) | (values > allowed[1]))
    if integer:
        bad |= values.notna() & (values != np.round(values))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        expected = f"a number in [{allowed[0]:g}, {allowed[1]:g}]" if allowed else "a number"
        raise DatasetError(
            f"{table.path}: {table.where(first)}, column '{column}': cannot read "
            f"{text.iloc[first]!r:.60} as {expected} ({int(bad.sum()):,} such values)"
        )
    return values


def split_list(value: object, sep: str = ";") -> list[str]:
    """``"a; b;c"`` -> ``["a", "b", "c"]`` (also accepts list-likes, e.g. from Parquet)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        items: Iterable[object] = value.split(sep)
    elif isinstance(value, Iterable):
        items = value
    else:
        items = [value]
    return [str(item).strip() for item in items if str(item).strip()]


# Linear time on hostile text (a huge cell from an unbalanced quote): leading whitespace is
# matched only from the start of a whitespace run (not again from each of its characters),
# ``.*$`` runs to the end over newlines too, and brackets are removed only up to the last
# closing one (see _drop_brackets).
_BRACKETS = re.compile(r"[\(\[][^\)\]]*[\)\]]")
_VERSION = re.compile(r"(?<!\s)\s+-\s+.*$", re.DOTALL)
_FEATURING = re.compile(r"\b(feat\.?|featuring|ft\.?|with)\b.*$", re.DOTALL)
_ARTIST_SPLIT = re.compile(r"(?:(?<!\s)\s+)?(?:,|&|\+|\bx\b|\band\b|;|/)\s*")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def _fold(text: str) -> str:
    if text.isascii():  # the common case, ten times faster than decomposing
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _drop_brackets(text: str) -> str:
    """``_BRACKETS.sub(" ", text)`` without retrying every unclosed bracket to the end."""
    end = max(text.rfind(")"), text.rfind("]")) + 1  # no match reaches past the last one
    return _BRACKETS.sub(" ", text[:end]) + text[end:]


def _normal_title(title: object) -> str:
    if not isinstance(title, str):
        return ""
    text = _fold(title)
    text = _VERSION.sub("", _drop_brackets(text))  # "x - 2006 remastered version" -> "x"
    text = _FEATURING.sub("", text)
    return _NON_ALNUM.sub(" ", text).strip()


def _normal_artist(artist: object) -> str:
    if not isinstance(artist, str):
        return ""
    text = _FEATURING.sub("", _fold(artist))
    main = _ARTIST_SPLIT.split(text, maxsplit=1)[0]  # the main credited artist
    main = re.sub(r"^the\s+", "", main)
    return _NON_ALNUM.sub(" ", main).strip()


def _map_unique(values: pd.Series, function: Callable[[object], str | None]) -> pd.Series:
    """``values.map(function)``, computing each distinct value once (titles repeat a lot)."""
    distinct = pd.unique(values.astype(object))
    lookup = {value: function(value) for value in distinct}
    return pd.Series([lookup[v] for v in values.astype(object)], index=values.index, dtype=object)


def recording_key(artist: pd.Series, title: pd.Series) -> pd.Series:
    """A normalised main-artist + title key; missing when either part is unknown.

    Normalisation is deliberately aggressive (accents, case, bracketed parts, `` - Remastered``
    suffixes, featured artists): over-joining two versions of a song only makes a group
    bigger, while missing a duplicate would leak it across a train/test split.
    """
    artists = _map_unique(artist, _normal_artist)
    titles = _map_unique(title, _normal_title)
    key = artists + "|" + titles
    known = (artists != "") & (titles != "")
    return key.astype(object).where(known, None)


#: Pitch-class numbers of note names (sharps and flats), as Spotify's ``key`` field.
PITCH_CLASSES: dict[str, int] = {
    "C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4, "F": 5,
    "E#": 5, "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11,
    "CB": 11,
}  # fmt: skip
MODES: dict[str, int] = {"MAJOR": 1, "MAJ": 1, "MINOR": 0, "MIN": 0}


def _coded(
    table: TableFile, column: str, notes: list[str], codes: dict[str, int], what: str
) -> pd.Series:
    text = table.frame[column].astype("string").str.strip()
    upper = text.str.upper().str.replace("♯", "#").str.replace("♭", "B")
    named = upper.map(codes.get, na_action="ignore").astype("float64")
    n_named = int(named.notna().sum())
    if n_named:
        notes.append(f"{n_named:,} {what} in '{column}' mapped to numbers")
    as_number = pd.to_numeric(text.mask(named.notna()), errors="coerce").astype("float64")
    values = named.fillna(as_number)
    unreadable = values.isna() & text.notna()
    if unreadable.any():
        first = int(np.flatnonzero(unreadable.to_numpy())[0])
        notes.append(
            f"{int(unreadable.sum()):,} unreadable values in '{column}' of {table.path.name} "
            f"set missing (first at {table.where(first)}: {text.iloc[first]!r:.40})"
        )
    return values


def key_column(table: TableFile, column: str, notes: list[str]) -> pd.Series:
    """Spotify ``key`` (pitch class 0-11, -1 none) from numbers or note names (``C#``, ``Eb``)."""
    return _coded(table, column, notes, PITCH_CLASSES, "note-name keys")


def mode_column(table: TableFile, column: str, notes: list[str]) -> pd.Series:
    """Spotify ``mode`` (1 major, 0 minor) from numbers or ``Major``/``Minor``."""
    return _coded(table, column, notes, MODES, "Major/Minor modes")


def text_column(
    table: TableFile, column: str, notes: list[str], placeholders: Iterable[str] = ()
) -> pd.Series:
    """A stripped text column (object dtype, None for missing); placeholders become missing."""
    text = table.frame[column].astype("string").str.strip()
    text = text.mask(text == "")
    marked = text.isin(list(placeholders))
    if marked.any():
        notes.append(
            f"{int(marked.sum()):,} placeholder values {sorted(set(placeholders))} "
            f"in '{column}' set missing"
        )
    text = text.mask(marked)
    return text.astype(object).where(text.notna(), None)


_YEAR = re.compile(r"\b(1[89]\d\d|2[01]\d\d)\b")


def year_column(table: TableFile, column: str, notes: list[str]) -> pd.Series:
    """The year of a date column in any common layout (``2010-05-11``, ``May. 8, 2020``,
    ``1994``); unreadable dates become missing and are counted."""
    raw = table.frame[column]
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.dt.year.astype("float64")
    text = raw.astype("string").str.strip()
    years = text.str.extract(_YEAR, expand=False)
    values = pd.to_numeric(years, errors="coerce").astype("float64")
    unreadable = values.isna() & text.notna() & (text != "")
    if unreadable.any():
        first = int(np.flatnonzero(unreadable.to_numpy())[0])
        notes.append(
            f"{int(unreadable.sum()):,} dates without a year in '{column}' of {table.path.name} "
            f"set missing (first at {table.where(first)}: {text.iloc[first]!r:.40})"
        )
    return values


_FEATURED = re.compile(
    r"(?<!\s)\s+(?:featuring|feat\.?|ft\.?|duet\s+with|with|x)\s+", re.IGNORECASE
)
_FEATURED_LIST = re.compile(r"(?:(?<!\s)\s+)?(?:,|&|\band\b)\s*", re.IGNORECASE)


def split_credit(credit: object) -> str | None:
    """A chart credit as ``"; "``-joined artists (the canonical ``artists`` form).

    ``"Mario Featuring Gucci Mane & Sean Garrett"`` -> ``"Mario; Gucci Mane; Sean Garrett"``.
    Only the featured part is split on ``&`` and commas: the main part may be a band name
    (``"Earth, Wind & Fire"``, ``"Simon & Garfunkel"``).
    """
    if not isinstance(credit, str) or not credit.strip():
        return None
    main, *featured = _FEATURED.split(credit.strip())
    names = [main.strip()]
    for part in featured:
        names += [name.strip() for name in _FEATURED_LIST.split(part)]
    return "; ".join(name for name in names if name)


def credits_column(credits: pd.Series) -> pd.Series:
    """:func:`split_credit` over a column (object dtype, None when missing)."""
    return _map_unique(credits, split_credit)


def main_artist(artists: object) -> str | None:
    """The first of ``"; "``-joined artists (as a release event's ``artists[0]``)."""
    if not isinstance(artists, str) or not artists:
        return None
    return artists.split("; ")[0]
