"""The contract every trained model honours, whatever its framework.

The scorer in the stream and ``hitpred score`` only see :class:`TaskModel`: a model that takes
the canonical feature frame (see :mod:`hitpred.features.vector`) and returns a
:class:`TaskOutput`. Pipelines carry their own preprocessing, so raw events score directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["PREDICTION_TASKS", "Explanation", "Task", "TaskModel", "TaskOutput"]


class Task(StrEnum):
    """The prediction tasks."""

    HIT = "hit"  # binary: probability of being a hit
    POPULARITY = "popularity"  # regression 0-100
    TIER = "tier"  # 3 classes: ice-cold / lukewarm / blazing-hot
    GENRE = "genre"  # multi-class
    MULTITASK = "multitask"  # one network, genre head + popularity head
    # Not a prediction: the audio encoder whose embeddings feed the other tasks' models.
    # It has no TaskModel (see hitpred.models.audio_cnn); code that loops over Task must skip it.
    AUDIO_EMBEDDING = "audio-embedding"


#: The tasks whose bundles are :class:`TaskModel` predictions (every task but the encoder).
PREDICTION_TASKS: tuple[Task, ...] = tuple(t for t in Task if t is not Task.AUDIO_EMBEDDING)


@dataclass(frozen=True)
class TaskOutput:
    """A batch of predictions of one task, row-aligned with the input frame.

    - hit: ``values`` = P(hit) per row
    - popularity: ``values`` = popularity 0-100 per row
    - tier, genre: ``classes`` and ``probabilities`` (n_rows x n_classes)
    - multitask: ``values`` = popularity, plus ``classes``/``probabilities`` for genre
    """

    task: Task
    values: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    probabilities: np.ndarray | None = None


#: Per row, the top (feature, raw value or None, contribution) triples behind the score.
Explanation = list[list[tuple[str, float | None, float]]]


@runtime_checkable
class TaskModel(Protocol):
    """A loaded, ready-to-score model of one task."""

    task: Task
    name: str  # e.g. "xgboost", "random-forest", "baseline-synthetic-xgboost"
    version: str  # registry version, e.g. "3"; "baseline" for the synthetic start-up model
    feature_set: str  # "release", "all", "release+artist"
    features: tuple[str, ...]  # input columns, in order

    def predict(self, frame: pd.DataFrame) -> TaskOutput:
        """Score a canonical feature frame (it may hold more columns than ``features``)."""
        ...

    def explain(self, frame: pd.DataFrame, top_k: int = 5) -> Explanation | None:
        """Top feature contributions per row, or None when the model cannot explain."""
        ...
