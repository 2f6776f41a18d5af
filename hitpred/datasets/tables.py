"""Raw tables: CSV/TSV (plain or gzip, delimiter sniffed from the header) and Parquet files.

- :func:`read_table` reads a whole file; :func:`read_table_chunks` reads the same cells a
  bounded number of rows at a time (pandas' chunked CSV parser, pyarrow record batches), so
  a file far larger than memory can be mapped and scored piece by piece. Both use the same
  parser options, the same encoding choice and the same error messages.
- Every CSV cell is read as a string and only empty cells are missing (``NA``, ``null`` or
  ``None`` may be real titles); parser and decoding failures become a
  :class:`~hitpred.errors.DatasetError` naming the file and the line.
- A :class:`TableFile` (a whole file or one chunk) remembers where its rows came from, so a
  cleaning helper can name the line of a bad value in either case.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hitpred.errors import DatasetError

__all__ = [
    "TABULAR_SUFFIXES",
    "TableFile",
    "files_with_columns",
    "header_of",
    "is_gzip",
    "is_parquet",
    "read_table",
    "read_table_chunks",
    "require_columns",
    "sniff_separator",
    "tabular_files",
]

logger = logging.getLogger(__name__)

TABULAR_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".pq")
_SEPARATORS = ("\t", ",", ";", "|")
_ENCODINGS = ("utf-8-sig", "cp1252")
_BLOCK_BYTES = 1 << 20


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its suffix)."""
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def is_parquet(path: Path) -> bool:
    """True for a Parquet file (magic bytes ``PAR1``)."""
    with path.open("rb") as handle:
        return handle.read(4) == b"PAR1"


def _open_bytes(path: Path) -> io.BufferedIOBase:
    """The file's (decompressed) bytes."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def _text_head(path: Path, n_bytes: int = 65536) -> str:
    with _open_bytes(path) as handle:
        raw = handle.read(n_bytes)
    return raw.decode("utf-8-sig", errors="replace")


def sniff_separator(path: Path) -> str:
    """The field separator, from the header line: the candidate that occurs most often.

    A header is a single line of short names, so counting is more reliable than
    :class:`csv.Sniffer` on files whose later lines hold free text (lyrics).
    """
    head = _text_head(path)
    header = head.splitlines()[0] if head else ""
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def tabular_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the table files in the folder, sorted by name."""
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(TABULAR_SUFFIXES)
    )


def files_with_columns(path: Path, columns: Iterable[str]) -> list[Path]:
    """The table files at ``path`` (a file or a folder) whose header holds all ``columns``."""
    wanted = set(columns)
    return [p for p in tabular_files(path) if wanted <= set(header_of(p))]


def header_of(path: Path) -> list[str]:
    """Column names of a tabular file without reading it whole; [] when it is not tabular."""
    try:
        if is_parquet(path):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        head = _text_head(path)
    except (OSError, EOFError, zlib.error, ValueError) as exc:  # ArrowInvalid is a ValueError
        logger.debug("%s: no readable header (%s)", path, exc)
        return []
    if not head:
        return []
    first = head.splitlines()[0]
    return next(csv.reader([first], delimiter=sniff_separator(path)), [])


class _RecordLines:
    """The 1-based line where each data record of a CSV file starts (quoted newlines counted).

    Computed on first use only, once per file however many chunks share it: it re-reads the
    file, and is needed for messages only.
    """

    def __init__(self, path: Path, sep: str | None, encoding: str | None) -> None:
        self.path, self.sep, self.encoding = path, sep, encoding
        self._starts: list[int] | None = None

    def starts(self) -> list[int]:
        if self._starts is not None:
            return self._starts
        if self.sep is None:
            self._starts = []
            return self._starts
        opener = gzip.open if is_gzip(self.path) else open
        with opener(self.path, "rt", encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.sep)
            starts: list[int] = []
            line = 1
            try:
                for _ in reader:
                    starts.append(line)
                    line = reader.line_num + 1
            except csv.Error as exc:  # e.g. a field over csv's size limit: later rows by number
                logger.debug("%s: line numbers known up to line %d only (%s)", self.path, line, exc)
        self._starts = starts[1:]  # the header is record 0
        return self._starts


class TableFile:
    """A raw table read as strings, remembering where it came from (for error messages).

    ``frame`` is the whole file, or one chunk of it starting at data row ``first_row``
    (0-based, counted in the file); row positions given to :meth:`where` are positions in
    ``frame``.
    """

    def __init__(
        self,
        path: Path,
        frame: pd.DataFrame,
        sep: str | None,
        encoding: str | None,
        *,
        first_row: int = 0,
        lines: _RecordLines | None = None,
    ) -> None:
        self.path = path
        self.frame = frame
        self.sep = sep
        self.encoding = encoding
        self.first_row = first_row
        self._lines = lines or _RecordLines(path, sep, encoding)

    def with_frame(self, frame: pd.DataFrame) -> TableFile:
        """The same rows of the same file with other cells (e.g. a normalised column)."""
        return TableFile(
            self.path,
            frame,
            self.sep,
            self.encoding,
            first_row=self.first_row,
            lines=self._lines,
        )

    def where(self, row: int) -> str:
        """``line N`` (CSV) or ``row N`` (Parquet) of the 0-based data row ``row`` of ``frame``."""
        row += self.first_row
        lines = self._lines.starts()
        if row < len(lines):
            return f"line {lines[row]}"
        return f"row {row + 1}"


def read_table(
    path: Path,
    *,
    sep: str | None = None,
    required: Sequence[str] = (),
    notes: list[str] | None = None,
) -> TableFile:
    """Read a CSV/TSV (plain or gzip) or Parquet file whole, every CSV cell as a string.

    Raises :class:`DatasetError` naming the file (and the line) when it cannot be parsed, and
    naming the columns when ``required`` ones are absent.
    """
    return next(_tables(path, None, sep, required, notes))


def read_table_chunks(
    path: Path,
    rows: int,
    *,
    sep: str | None = None,
    required: Sequence[str] = (),
    notes: list[str] | None = None,
) -> Iterator[TableFile]:
    """:func:`read_table`, ``rows`` rows at a time, in file order.

    Always yields at least one chunk (an empty one for a file with a header and no rows), so
    a caller learns the columns. An unreadable file raises before the first chunk; a row the
    parser cannot read raises when its chunk is reached, with the same message as
    :func:`read_table` (chunks before it were already yielded).
    """
    if rows < 1:
        raise ValueError("rows must be positive")
    return _tables(path, rows, sep, required, notes)


def _tables(
    path: Path,
    rows: int | None,
    sep: str | None,
    required: Sequence[str],
    notes: list[str] | None,
) -> Iterator[TableFile]:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if is_parquet(path):
        lines = _RecordLines(path, None, None)
        tables = (
            TableFile(path, frame, None, None, first_row=first, lines=lines)
            for first, frame in _parquet_frames(path, rows)
        )
    else:
        try:
            sep = sep or sniff_separator(path)
        except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
            raise DatasetError(f"{path}: cannot read the file: {exc}") from exc
        encoding = _encoding(path, notes)
        lines = _RecordLines(path, sep, encoding)
        tables = (
            TableFile(path, frame, sep, encoding, first_row=first, lines=lines)
            for first, frame in _csv_frames(path, rows, sep, encoding)
        )
    for table in tables:
        if table.first_row == 0:
            require_columns(table, required)
            frame = table.frame
            if frame.empty and len(frame.columns) <= 1 and notes is not None:
                notes.append(f"{path.name} has a header and no rows")
        yield table


def _numbered(frames: Iterable[pd.DataFrame]) -> Iterator[tuple[int, pd.DataFrame]]:
    """(first row, frame) per frame; the frame's index counts rows from the file's start."""
    first = 0
    for frame in frames:
        frame.index = pd.RangeIndex(first, first + len(frame))
        yield first, frame
        first += len(frame)


def _plain_frame(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """A Parquet frame as the loaders expect it: rows numbered 0..n-1, plain cell values.

    A stored pandas index (e.g. of a filtered frame, [3, 7, ...]) would misalign the columns a
    loader builds (a named index level is kept as a column); bytes that are not UTF-8 would
    fail every text helper, so they are decoded with replacement characters; dictionary
    (categorical) columns become plain ones, as ``map`` on a categorical maps its categories.
    """
    import pyarrow as pa

    named = [name for name in frame.index.names if name is not None]
    if named:
        frame = frame.reset_index(level=named)
    frame = frame.reset_index(drop=True)
    for column, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    binary = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary)
    for field in schema:
        if any(test(field.type) for test in binary) and field.name in frame.columns:
            frame[field.name] = frame[field.name].map(
                lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
            )
    return frame


def _first_line(exc: BaseException) -> str:
    """An exception's message as one short line (pyarrow appends whole schemas)."""
    lines = str(exc).strip().splitlines()
    return f"{lines[0]:.200}" if lines else type(exc).__name__


def _parquet_frames(path: Path, rows: int | None) -> Iterator[tuple[int, pd.DataFrame]]:
    try:
        import pyarrow.parquet as pq

        if rows is None:
            yield 0, _plain_frame(pd.read_parquet(path), pq.read_schema(path))
            return
        parquet = pq.ParquetFile(path)
        batches = (
            _plain_frame(batch.to_pandas(), batch.schema)
            for batch in parquet.iter_batches(batch_size=rows)
        )
        empty = True
        for numbered in _numbered(batches):
            empty = False
            yield numbered
        if empty:
            schema = parquet.schema_arrow
            yield 0, _plain_frame(schema.empty_table().to_pandas(), schema)
    except DatasetError:
        raise
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DatasetError(f"{path}: cannot read Parquet: {_first_line(exc)}") from exc


def _encoding(path: Path, notes: list[str] | None) -> str:
    """The first of :data:`_ENCODINGS` that decodes the whole file (read once, in blocks).

    Decided before parsing so a chunked read never meets an undecodable byte after it has
    handed out rows decoded another way.
    """
    for encoding in _ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with _open_bytes(path) as handle:
                while block := handle.read(_BLOCK_BYTES):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            logger.warning("%s is not %s (%s); trying the next encoding", path, encoding, exc)
            continue
        except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
            raise DatasetError(f"{path}: cannot read the file: {exc}") from exc
        if encoding != _ENCODINGS[0] and notes is not None:
            notes.append(f"{path.name} is not UTF-8: decoded as {encoding}")
        return encoding
    raise DatasetError(f"{path}: cannot decode the text as any of {', '.join(_ENCODINGS)}")


def _csv_frames(
    path: Path, rows: int | None, sep: str, encoding: str
) -> Iterator[tuple[int, pd.DataFrame]]:
    options: dict[str, Any] = {
        "sep": sep,
        "dtype": str,
        "keep_default_na": False,
        "na_values": [""],
        "encoding": encoding,
        "compression": "gzip" if is_gzip(path) else None,
    }
    try:
        if rows is None:
            yield 0, _no_implicit_index(pd.read_csv(path, **options), path, sep)
            return
        with pd.read_csv(path, chunksize=rows, **options) as reader:
            yield from _numbered(_no_implicit_index(chunk, path, sep) for chunk in reader)
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{path}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        reason = _first_line(exc)
        raise DatasetError(f"{path}: cannot parse as {_sep_name(sep)} table: {reason}") from exc
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
        raise DatasetError(f"{path}: cannot read the file: {exc}") from exc


def _no_implicit_index(frame: pd.DataFrame, path: Path, sep: str) -> pd.DataFrame:
    """The frame, unless pandas took its first column(s) as the index: it does so when the
    first row has more fields than the header (e.g. a trailing separator), shifting every
    value under the wrong column name. Later rows with extra fields are a ParserError."""
    if not isinstance(frame.index, pd.RangeIndex):
        raise DatasetError(
            f"{path}: cannot parse as {_sep_name(sep)} table: the first row has more fields "
            f"than the {len(frame.columns)} in the header"
        )
    return frame


def _sep_name(sep: str) -> str:
    return {"\t": "tab-separated", ",": "comma-separated", ";": "semicolon-separated"}.get(
        sep, f"{sep!r}-separated"
    )


def require_columns(table: TableFile, required: Iterable[str]) -> None:
    """DatasetError naming the file and the absent columns (and the ones it has)."""
    missing = [c for c in required if c not in table.frame.columns]
    if missing:
        found = ", ".join(f"{c!s:.40}" for c in table.frame.columns[:30])
        raise DatasetError(
            f"{table.path}: missing required column(s) {', '.join(missing)} (found: {found})"
        )
