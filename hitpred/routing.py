"""Which champion answers which release: per task, the best model whose inputs a release has.

A release may arrive with Spotify-style descriptors, an audio file, lyrics, or any mix. Each
servable champion reads some of those (its feature list says which: descriptor columns, the
GTZAN layout computed from audio, the lyrics or audio embedding columns). For every task the
:class:`Router` walks the task's candidates in :data:`FEATURE_SET_PRIORITY` order and gives each
release to the first one it can feed honestly:

- a model that reads an embedding gets only releases that have that embedding, from the same
  encoder it was trained on (the manifest records the encoder id);
- a model that reads the GTZAN layout gets only releases whose audio was analysed;
- a model that reads descriptors gets only releases that carry (or had estimated from their
  audio) at least :data:`MIN_DESCRIPTOR_SHARE` of the descriptors it reads, so no model is fed
  mostly imputed inputs in silence.

A task that no candidate can answer for a release is listed in the prediction's ``unanswered``
with the reason. Everything is vectorised per batch: the common case (one champion per task,
all releases with descriptors) costs a few numpy operations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hitpred.features.matrix import float_matrix
from hitpred.features.vector import (
    AUDIO_EMBEDDING_PREFIX,
    GTZAN_FEATURES,
    LYRICS_EMBEDDING_PREFIX,
    NUMERIC_FEATURES,
)
from hitpred.models.base import Task, TaskModel
from hitpred.schemas import DESCRIPTOR_FIELDS, EnrichedTrack

__all__ = [
    "FEATURE_SET_PRIORITY",
    "MIN_DESCRIPTOR_SHARE",
    "Availability",
    "Candidate",
    "Route",
    "Router",
]

#: The feature sets the stream serves, best first: the model that reads most of what a release
#: carries wins. ``all`` and ``release+artist`` need inputs an event does not carry.
FEATURE_SET_PRIORITY: tuple[str, ...] = ("multimodal", "release", "lyrics", "core", "audio")
#: A descriptor-reading model needs at least this share of its descriptors present per release.
MIN_DESCRIPTOR_SHARE = 0.5
#: Bit flags of the inputs a model used for a release (see :data:`INPUT_NAMES`).
_DESC, _EST, _LYR, _AUD = 1, 2, 4, 8
INPUT_NAMES: dict[int, list[str]] = {
    code: [
        name
        for bit, name in (
            (_DESC, "descriptors"),
            (_EST, "estimated descriptors"),
            (_LYR, "lyrics"),
            (_AUD, "audio"),
        )
        if code & bit
    ]
    for code in range(16)
}


@dataclass(frozen=True)
class Availability:
    """Per release of a batch, what the frame holds (boolean arrays, one row per release)."""

    given: dict[str, np.ndarray]  # descriptor -> carried by the release itself
    estimated: dict[str, np.ndarray]  # descriptor -> filled from the audio
    lyrics_model: np.ndarray  # encoder id of the lyrics embedding, "" when none
    audio_model: np.ndarray  # encoder id of the audio embedding, "" when none
    audio_features: np.ndarray  # the GTZAN layout was computed

    @classmethod
    def of(cls, frame: pd.DataFrame, tracks: Sequence[EnrichedTrack]) -> Availability:
        """What ``frame`` (built by ``tracks_to_frame(tracks)``) holds for each track."""
        n = len(tracks)
        given: dict[str, np.ndarray] = {}
        estimated: dict[str, np.ndarray] = {}
        any_estimate = any(t.estimated for t in tracks)
        # One matrix, not a Series per column (~20 µs each, whatever the batch size): the
        # numeric features', which begin with the descriptors, as the release-time models
        # read it (shared with them inside the scorer's batch).
        known = ~np.isnan(float_matrix(frame, NUMERIC_FEATURES)[:, : len(DESCRIPTOR_FIELDS)])
        for i, name in enumerate(DESCRIPTOR_FIELDS):
            present = known[:, i]
            if any_estimate:
                est = np.fromiter((name in t.estimated for t in tracks), dtype=bool, count=n)
                est &= present
                estimated[name] = est
                given[name] = present & ~est
            else:
                given[name] = present
                estimated[name] = np.zeros(n, dtype=bool)
        lyrics = np.array(
            [t.lyrics_embedding.model if t.lyrics_embedding else "" for t in tracks], dtype=object
        )
        audio = np.array(
            [t.audio_embedding.model if t.audio_embedding else "" for t in tracks], dtype=object
        )
        features = np.fromiter((bool(t.audio_features) for t in tracks), dtype=bool, count=n)
        return cls(given, estimated, lyrics, audio, features)


def _embedding_model(model: TaskModel, kind: str) -> str | None:
    """The encoder id a bundle was trained on, when its manifest records it."""
    manifest: Mapping[str, Any] = getattr(model, "manifest", None) or {}
    embeddings = manifest.get("embeddings") or {}
    value = embeddings.get(kind) if isinstance(embeddings, Mapping) else None
    return str(value) if value else None


@dataclass(frozen=True)
class Candidate:
    """A servable model and what it reads."""

    task: Task
    model: TaskModel
    feature_set: str
    descriptors: tuple[str, ...]
    reads_lyrics: bool
    reads_audio_embedding: bool
    reads_audio_features: bool
    lyrics_model: str | None = None
    audio_model: str | None = None

    @classmethod
    def of(cls, task: Task, model: TaskModel) -> Candidate:
        """What ``model`` reads, from its feature list and manifest."""
        features = set(model.features)
        return cls(
            task=task,
            model=model,
            feature_set=model.feature_set,
            descriptors=tuple(d for d in DESCRIPTOR_FIELDS if d in features),
            reads_lyrics=any(f.startswith(LYRICS_EMBEDDING_PREFIX) for f in features),
            reads_audio_embedding=any(f.startswith(AUDIO_EMBEDDING_PREFIX) for f in features),
            reads_audio_features=any(f in features for f in GTZAN_FEATURES),
            lyrics_model=_embedding_model(model, "lyrics"),
            audio_model=_embedding_model(model, "audio"),
        )

    def _embedding_ok(self, ids: np.ndarray, wanted: str | None) -> np.ndarray:
        have = ids != ""
        return have if wanted is None else have & (ids == wanted)

    def eligible(self, avail: Availability, n: int) -> np.ndarray:
        """Per release, whether this model can answer it from what the release has."""
        ok = np.ones(n, dtype=bool)
        if self.reads_lyrics:
            ok &= self._embedding_ok(avail.lyrics_model, self.lyrics_model)
        if self.reads_audio_embedding:
            ok &= self._embedding_ok(avail.audio_model, self.audio_model)
        if self.reads_audio_features:
            ok &= avail.audio_features
        if self.descriptors:
            have = sum(
                (avail.given[d] | avail.estimated[d]).astype(np.int16) for d in self.descriptors
            )
            ok &= have >= math.ceil(MIN_DESCRIPTOR_SHARE * len(self.descriptors))
        if not (self.reads_lyrics or self.reads_audio_embedding or self.reads_audio_features):
            ok &= bool(self.descriptors)  # a model of metadata alone answers nothing
        return ok

    def input_codes(self, avail: Availability, rows: np.ndarray) -> np.ndarray:
        """Per selected release, the bit flags of the inputs this model used."""
        code = np.zeros(int(rows.sum()), dtype=np.int8)
        if self.descriptors:
            given = np.zeros(len(rows), dtype=bool)
            est = np.zeros(len(rows), dtype=bool)
            for d in self.descriptors:
                given |= avail.given[d]
                est |= avail.estimated[d]
            code |= np.where(given[rows], _DESC, 0).astype(np.int8)
            code |= np.where(est[rows], _EST, 0).astype(np.int8)
        if self.reads_lyrics:
            code |= np.where(avail.lyrics_model[rows] != "", _LYR, 0).astype(np.int8)
        audio = np.zeros(len(rows), dtype=bool)
        if self.reads_audio_features:
            audio |= avail.audio_features
        if self.reads_audio_embedding:
            audio |= avail.audio_model != ""
        code |= np.where(audio[rows], _AUD, 0).astype(np.int8)
        return code


@dataclass(frozen=True)
class Route:
    """One model scoring a subset of a batch: ``rows`` is a boolean mask over the batch."""

    candidate: Candidate
    rows: np.ndarray
    codes: np.ndarray  # per selected row, the inputs used (bit flags)

    @property
    def everything(self) -> bool:
        """Whether the route covers the whole batch (no sub-frame needed)."""
        return bool(self.rows.all())


class Router:
    """Per task, the servable candidates in priority order."""

    def __init__(self, candidates: Mapping[Task, Sequence[Candidate]]) -> None:
        self.candidates = {task: list(items) for task, items in candidates.items() if items}

    @classmethod
    def from_models(cls, models: Mapping[Task, Sequence[TaskModel]]) -> Router:
        """Order each task's models by :data:`FEATURE_SET_PRIORITY` (stable otherwise)."""

        def rank(model: TaskModel) -> int:
            fs = model.feature_set
            return FEATURE_SET_PRIORITY.index(fs) if fs in FEATURE_SET_PRIORITY else 99

        return cls(
            {
                task: [Candidate.of(task, m) for m in sorted(items, key=rank)]
                for task, items in models.items()
            }
        )

    @property
    def tasks(self) -> list[Task]:
        return list(self.candidates)

    def route(self, avail: Availability, n: int) -> tuple[dict[Task, list[Route]], np.ndarray]:
        """The routes of every task, and per task which rows stayed unanswered.

        Returns ``(routes, unanswered)`` where ``unanswered`` is an (n, n_tasks) boolean array
        in :attr:`tasks` order.
        """
        routes: dict[Task, list[Route]] = {}
        unanswered = np.zeros((n, len(self.candidates)), dtype=bool)
        for t_index, (task, candidates) in enumerate(self.candidates.items()):
            remaining = np.ones(n, dtype=bool)
            for candidate in candidates:
                rows = remaining & candidate.eligible(avail, n)
                if rows.any():
                    routes.setdefault(task, []).append(
                        Route(candidate, rows, candidate.input_codes(avail, rows))
                    )
                    remaining &= ~rows
                if not remaining.any():
                    break
            unanswered[:, t_index] = remaining
        return routes, unanswered
