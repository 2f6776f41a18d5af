"""Which loader reads a path: format detection and the :func:`load_dataset` entry point.

Each loader recognises its own layout (a folder structure, a file name, or the header of a
file). Specific loaders are asked first and the catch-all generic release-event loader last, so a
known data set is never read as a generic table. A folder no loader claims, holding exactly
one tabular file, is read as that file.

:func:`iter_dataset` reads a data set in chunks for scoring: through the loader's own
``chunks`` when its format can be mapped a chunk at a time, else by loading it whole and
slicing the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from hitpred.datasets.base import LOADERS, Dataset, DatasetChunk, DatasetLoader, chunks_of
from hitpred.datasets.reading import TABULAR_SUFFIXES, is_gzip, is_parquet, read_table
from hitpred.errors import DatasetError

__all__ = ["detect_format", "iter_dataset", "load_dataset", "loader_for"]

logger = logging.getLogger(__name__)


def _claimed(path: Path) -> str | None:
    ordered = sorted(LOADERS.values(), key=lambda loader: loader.catch_all)  # stable
    for loader in ordered:
        if loader.detect(path):
            return loader.name
    return None


def _only_table(folder: Path) -> Path | None:
    tables = [
        p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(TABULAR_SUFFIXES)
    ]
    return tables[0] if len(tables) == 1 else None


def _resolve(path: str | Path) -> tuple[str, Path]:
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty")
    name = _claimed(path)
    if name is not None:
        return name, path
    if path.is_file() and (is_gzip(path) or is_parquet(path)):
        read_table(path)  # a corrupt file: raise why it cannot be read, not "unknown format"
    if path.is_dir():
        table = _only_table(path)
        if table is not None:
            name = _claimed(table)
            if name is not None:
                return name, table
    known = ", ".join(LOADERS)
    raise DatasetError(
        f"{path}: unknown data set format (known: {known}); a generic file needs release-event "
        "columns such as title, artists and descriptors, with target columns hit, popularity, "
        "tier or genre"
    )


def detect_format(path: str | Path) -> str:
    """The name of the loader (a key of :data:`LOADERS`) that reads ``path``.

    Raises :class:`DatasetError` when the path does not exist or no loader recognises it.
    """
    return _resolve(path)[0]


def load_dataset(path: str | Path) -> Dataset:
    """Load the data set at ``path`` (a folder or a file), whatever its format."""
    name, resolved = _resolve(path)
    logger.info("reading %s as %s", resolved, name)
    return LOADERS[name].load(resolved)


def loader_for(path: str | Path) -> DatasetLoader:
    """The loader that reads ``path`` (see :func:`detect_format`)."""
    return LOADERS[_resolve(path)[0]]


def iter_dataset(path: str | Path, rows: int) -> Iterator[DatasetChunk]:
    """The data set at ``path`` as chunks of at most ``rows`` rows, in order (at least one).

    Streams when the format allows it (:attr:`DatasetLoader.streams`); otherwise the data
    set is loaded whole first. Errors are raised when the first chunk is asked for, or when a
    chunk with an unreadable row is reached.
    """
    if rows < 1:
        raise ValueError("rows must be positive")
    name, resolved = _resolve(path)
    loader = LOADERS[name]
    logger.info("reading %s as %s, %d rows at a time", resolved, name, rows)
    if loader.chunks is not None:
        yield from loader.chunks(resolved, rows)
    else:
        yield from chunks_of(loader.load(resolved), rows)
