"""Lyrics sentence embeddings for training, with an on-disk cache.

The training job turns each usable row's lyrics into the same 384 floats the stream computes
(``lyrics_emb_000`` ... in the canonical frame, see :mod:`hitpred.features.vector`), with the
same encoder (:func:`hitpred.features.lyrics.load_lyrics_encoder`). Encoding a thousand
lyrics on two cores takes about a minute, so every vector is cached as one ``.npy`` file
keyed by sha256 of the encoder's id and the text: a second run, or another task on the same
data set, re-embeds nothing. The id is the encoder's ``runtime_id`` when it has one (runtimes
differ in the last decimals), else its ``model_id``; bundles record the ``model_id`` (the
embedding space). Cache files hold plain float32 arrays (read with ``allow_pickle=False``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from hitpred.errors import ModelError
from hitpred.features.vector import LYRICS_EMBEDDING_PREFIX, embedding_frame

__all__ = [
    "DEFAULT_CACHE_DIR",
    "LyricsEncoder",
    "cache_path",
    "embed_for_training",
    "embed_lyrics",
    "load_encoder",
    "with_lyrics_embeddings",
]

logger = logging.getLogger(__name__)

#: Where vectors are cached by default (``/var/`` is git-ignored).
DEFAULT_CACHE_DIR = Path("var/cache/embeddings")
#: Texts handed to the encoder at once (the encoder batches further inside).
CHUNK = 64

#: ``progress(done, total)``: texts embedded (or found in the cache) so far.
EmbeddingProgress = Callable[[int, int], None]


class LyricsEncoder(Protocol):
    """What training needs of :func:`hitpred.features.lyrics.load_lyrics_encoder`'s result."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def load_encoder(model_dir: Path | None = None) -> LyricsEncoder:
    """The stream's lyrics encoder, configured as the workers are (the ``HITPRED_LYRICS_*``
    settings; local files only, nothing is downloaded)."""
    from hitpred.features.lyrics import load_lyrics_encoder
    from hitpred.settings import get_settings

    settings = get_settings()
    encoder: LyricsEncoder = load_lyrics_encoder(
        model_dir or settings.lyrics_model_dir,
        runtime=settings.lyrics_runtime,
        max_tokens=settings.lyrics_max_tokens,
        cache_dir=settings.model_cache_dir,
    )
    return encoder


def cache_path(cache_dir: Path, model_id: str, text: str) -> Path:
    """The cache file of ``text`` embedded by the encoder ``model_id`` (or runtime id)."""
    digest = hashlib.sha256(f"{model_id}\0{text}".encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.npy"


def _read(path: Path, dim: int) -> np.ndarray | None:
    try:
        vector = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # absent, or a torn write from a killed run: embed again
    return vector if vector.shape == (dim,) else None


def _write(path: Path, vector: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: concurrent runs never read half a file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, np.asarray(vector, dtype="float32"), allow_pickle=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def embed_lyrics(
    texts: Sequence[object],
    encoder: LyricsEncoder,
    *,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    progress: EmbeddingProgress | None = None,
) -> np.ndarray:
    """``(len(texts), encoder.dim)`` float32 embeddings; NaN rows for missing or empty text.

    Vectors found under ``cache_dir`` are not recomputed; new ones are written there
    (``cache_dir=None``: no cache).
    """
    dim, model_id = int(encoder.dim), str(getattr(encoder, "runtime_id", encoder.model_id))
    out = np.full((len(texts), dim), np.nan, dtype="float32")
    todo: list[int] = []
    for i, text in enumerate(texts):
        if not _is_text(text):
            continue
        cached = _read(cache_path(cache_dir, model_id, str(text)), dim) if cache_dir else None
        if cached is None:
            todo.append(i)
        else:
            out[i] = cached
    total = sum(1 for t in texts if _is_text(t))
    done = total - len(todo)
    logger.info("lyrics embeddings (%s): %d cached, %d to encode", model_id, done, len(todo))
    if progress is not None:
        progress(done, total)
    for start in range(0, len(todo), CHUNK):
        rows = todo[start : start + CHUNK]
        vectors = np.asarray(encoder.encode([str(texts[i]) for i in rows]), dtype="float32")
        if vectors.shape != (len(rows), dim):
            raise ModelError(
                f"lyrics encoder {model_id} returned shape {vectors.shape}, "
                f"expected {(len(rows), dim)}"
            )
        for i, vector in zip(rows, vectors, strict=True):
            out[i] = vector
            if cache_dir is not None:
                _write(cache_path(cache_dir, model_id, str(texts[i])), vector)
        done += len(rows)
        if progress is not None:
            progress(done, total)
    return out


def with_lyrics_embeddings(
    dataset: Any,
    encoder: LyricsEncoder,
    *,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    progress: EmbeddingProgress | None = None,
) -> Any:
    """``dataset`` with ``lyrics_emb_*`` columns added to its frame.

    Only usable, first-occurrence rows with lyrics are embedded (the others are never trained
    on); every other row gets NaN, which the ``lyrics`` and ``multimodal`` feature sets read
    as "no lyrics".
    """
    frame: pd.DataFrame = dataset.frame
    wanted = frame["usable"].astype(bool) & ~frame["duplicate"].astype(bool)
    texts = frame["lyrics"].where(wanted, None).tolist()
    matrix = embed_lyrics(texts, encoder, cache_dir=cache_dir, progress=progress)
    stale = [c for c in frame.columns if str(c).startswith(LYRICS_EMBEDDING_PREFIX)]
    embeddings = embedding_frame(LYRICS_EMBEDDING_PREFIX, matrix, index=frame.index)
    enriched = pd.concat([frame.drop(columns=stale), embeddings], axis=1)
    return dataclasses.replace(dataset, frame=enriched)


def embed_for_training(
    dataset: Any,
    encoder: LyricsEncoder,
    cache_dir: Path | None,
    advance: Callable[[str], None],
) -> tuple[Any, int]:
    """:func:`with_lyrics_embeddings` reporting to a progress bar: returns the enriched data
    set and the number of ``advance`` calls made (the job adds them to its bar's total)."""
    calls = 0

    def report(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        advance(f"lyrics embeddings {done}/{total} ({encoder.model_id})")

    enriched = with_lyrics_embeddings(dataset, encoder, cache_dir=cache_dir, progress=report)
    return enriched, calls
