"""Which loader reads a path: format detection and the :func:`load_dataset` entry point.

Each loader recognises its own layout (a folder structure, a file name, or the header of a
file). Specific loaders are asked first and the catch-all generic release-event loader last, so a
known data set is never read as a generic table. A folder no loader claims, holding exactly
one tabular file, is read as that file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hitpred.datasets.base import LOADERS, Dataset
from hitpred.datasets.reading import TABULAR_SUFFIXES, is_gzip, is_parquet, read_table
from hitpred.errors import DatasetError

__all__ = ["detect_format", "load_dataset"]

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
