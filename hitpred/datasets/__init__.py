"""Data set loaders: every supported format mapped onto the release-event field names.

Reading guide:

- :mod:`~hitpred.datasets.base`: :class:`Dataset`, the loader registry, and ``finish`` (the
  rules every loaded frame goes through: schema ranges, tiers, groups, usable rows);
- :mod:`~hitpred.datasets.tables`: robust table reading, whole or in chunks;
- :mod:`~hitpred.datasets.reading`: the cleaning helpers every loader shares;
- :mod:`~hitpred.datasets.detect`: :func:`detect_format`, :func:`load_dataset` and
  :func:`iter_dataset` (chunks for scoring: streamed where the format allows it);
- one module per format, each registering a loader that declares its tasks.

>>> dataset = load_dataset("../shared/datasets/music-genre")  # doctest: +SKIP
>>> dataset.targets
{'popularity': 'y_popularity', 'tier': 'y_tier', 'genre': 'y_genre'}
"""

from __future__ import annotations

# Imported to register their loaders (detection asks the catch-all generic loader last).
from hitpred.datasets import (  # noqa: F401
    billboard,
    generic,
    gtzan,
    music_genre,
    musicoset,
    poplyrics,
    spotify_hits,
    tcc_ceds,
)
from hitpred.datasets.base import LOADERS, Dataset, DatasetChunk, DatasetLoader
from hitpred.datasets.detect import detect_format, iter_dataset, load_dataset, loader_for

__all__ = [
    "LOADERS",
    "Dataset",
    "DatasetChunk",
    "DatasetLoader",
    "detect_format",
    "iter_dataset",
    "load_dataset",
    "loader_for",
]
