"""Loaded models: preprocessing + one framework's estimator, behind :class:`TaskModel`.

A bundle holds two artifacts: ``preprocess.skops`` (the scikit-learn ColumnTransformer that
imputes, scales, encodes and text-scores the raw canonical columns; sklearn adapter) and
``model.<ext>`` (the estimator, written by the adapter of its framework). Keeping them apart
means an XGBoost booster or a torch network is never serialised inside a Python object graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from hitpred.errors import ModelError
from hitpred.features.vector import feature_matrix
from hitpred.models import multimodal as multimodal_adapter
from hitpred.models import multitask as multitask_adapter
from hitpred.models import sklearn as sklearn_adapter
from hitpred.models import torch_mlp as torch_adapter
from hitpred.models import xgboost as xgboost_adapter
from hitpred.models.base import Explanation, Task, TaskOutput

__all__ = [
    "ADAPTERS",
    "CATEGORY_INPUTS",
    "TEXT_INPUTS",
    "MultitaskModel",
    "PipelineModel",
    "adapter_for",
    "load_bundle_model",
    "model_input",
]

#: adapter name -> module with save_model()/load_model()
ADAPTERS: dict[str, ModuleType] = {
    sklearn_adapter.ADAPTER: sklearn_adapter,
    xgboost_adapter.ADAPTER: xgboost_adapter,
    torch_adapter.ADAPTER: torch_adapter,
    multitask_adapter.ADAPTER: multitask_adapter,
    multimodal_adapter.ADAPTER: multimodal_adapter,
}


#: Inputs that are free text (scored by :class:`~hitpred.models.text.TextScorer`).
TEXT_INPUTS: tuple[str, ...] = ("title", "lyrics")
#: Inputs that are categories (one-hot or target encoded); every other input is numeric.
CATEGORY_INPUTS: tuple[str, ...] = ("genre", "artist", "y_genre", "y_tier")
#: The category a missing value becomes.
UNKNOWN = "unknown"


def model_input(frame: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """The columns a model reads, with the dtypes its preprocessing expects.

    Numbers become float64 (unreadable ones missing), categories lower-cased strings with
    ``"unknown"`` for missing, text plain strings with ``""`` for missing. Training and
    scoring both go through here, so they cannot disagree.
    """
    matrix = feature_matrix(frame, features).copy()
    for name in features:
        column = matrix[name]
        if name in TEXT_INPUTS or name in CATEGORY_INPUTS:
            filler = "" if name in TEXT_INPUTS else UNKNOWN
            text = column.astype("object").where(column.notna(), filler).astype(str)
            if name in CATEGORY_INPUTS:
                text = text.str.strip().str.lower().replace("", UNKNOWN)
            matrix[name] = text.astype("object")
        else:
            matrix[name] = pd.to_numeric(column, errors="coerce").astype("float64")
    return matrix


def adapter_for(estimator: Any) -> ModuleType:
    """The adapter that saves ``estimator`` in its framework's native format."""
    import xgboost as xgb

    if isinstance(estimator, xgb.XGBModel):
        return xgboost_adapter
    if isinstance(estimator, torch_adapter.TorchMLP):
        return torch_adapter
    if isinstance(estimator, multitask_adapter.MultitaskNet):
        return multitask_adapter
    if isinstance(estimator, multimodal_adapter.MultimodalNet):
        return multimodal_adapter
    return sklearn_adapter


def _source_feature(output_name: str, features: tuple[str, ...]) -> str:
    """Map a transformed column name (``num__missingindicator_tempo``) to its input column."""
    rest = output_name.split("__", 1)[-1].removeprefix("missingindicator_")
    matches = [f for f in features if rest == f or rest.startswith(f"{f}_")]
    return max(matches, key=len) if matches else rest


@dataclass
class PipelineModel:
    """A fitted preprocessing transformer plus an estimator of one task.

    Class-valued tasks are trained on integer codes; ``classes`` maps the codes back to labels.
    """

    task: Task
    name: str
    feature_set: str
    features: tuple[str, ...]
    preprocessor: Any
    estimator: Any
    classes: tuple[str, ...] | None = None
    version: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The preprocessed matrix the estimator sees."""
        matrix = model_input(frame, self.features)
        return np.asarray(self.preprocessor.transform(matrix), dtype="float32")

    def predict(self, frame: pd.DataFrame) -> TaskOutput:
        """Score a canonical frame (extra columns are ignored, missing ones imputed)."""
        if len(frame) == 0:
            return self._empty()
        X = self.transform(frame)
        if self.task in (Task.POPULARITY,):
            values = np.clip(np.asarray(self.estimator.predict(X), dtype="float64"), 0.0, 100.0)
            return TaskOutput(task=self.task, values=values)
        proba = np.asarray(self.estimator.predict_proba(X), dtype="float64")
        if self.task is Task.HIT:
            return TaskOutput(task=self.task, values=proba[:, 1])
        return TaskOutput(task=self.task, classes=self.classes, probabilities=proba)

    def _empty(self) -> TaskOutput:
        if self.task in (Task.HIT, Task.POPULARITY):
            return TaskOutput(task=self.task, values=np.empty(0))
        width = len(self.classes or ())
        return TaskOutput(task=self.task, classes=self.classes, probabilities=np.empty((0, width)))

    def feature_names_out(self) -> list[str]:
        """Names of the preprocessed columns."""
        return [str(n) for n in self.preprocessor.get_feature_names_out()]

    def explain(self, frame: pd.DataFrame, top_k: int = 5) -> Explanation | None:
        """Top input-feature contributions per row (tree SHAP for XGBoost, coef x value for
        linear models); None for models without a cheap exact attribution."""
        if len(frame) == 0:
            return []
        X = self.transform(frame)
        contributions = self._contributions(X)
        if contributions is None:
            return None
        sources = [_source_feature(n, self.features) for n in self.feature_names_out()]
        names = list(dict.fromkeys(sources))
        index = {name: i for i, name in enumerate(names)}
        per_input = np.zeros((len(X), len(names)))
        for column, source in enumerate(sources):
            per_input[:, index[source]] += contributions[:, column]
        raw = feature_matrix(frame, self.features)
        result: Explanation = []
        for row in range(len(X)):
            order = np.argsort(-np.abs(per_input[row]))[:top_k]
            items = []
            for i in order:
                name = names[i]
                value = raw[name].iloc[row] if name in raw.columns else None
                number = float(value) if isinstance(value, int | float | np.number) else None
                if number is not None and np.isnan(number):
                    number = None
                items.append((name, number, float(per_input[row, i])))
            result.append(items)
        return result

    def _contributions(self, X: np.ndarray) -> np.ndarray | None:
        import xgboost as xgb

        if isinstance(self.estimator, xgb.XGBModel):
            booster = self.estimator.get_booster()
            contribs = booster.predict(xgb.DMatrix(X), pred_contribs=True)
            if contribs.ndim == 3:  # multi-class: the predicted class's contributions
                chosen = contribs.sum(axis=2).argmax(axis=1)
                contribs = contribs[np.arange(len(X)), chosen]
            return np.asarray(contribs[:, :-1])  # last column: the bias
        coef = getattr(self.estimator, "coef_", None)
        if coef is None:
            return None
        coef = np.atleast_2d(np.asarray(coef))
        if coef.shape[0] == 1:
            return X * coef[0]
        chosen = np.asarray(self.estimator.predict(X), dtype=int)
        return X * coef[chosen]

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the artifacts into ``directory``; returns the manifest's ``model`` record."""
        pre = sklearn_adapter.save_model(self.preprocessor, directory, stem="preprocess")
        est = adapter_for(self.estimator).save_model(self.estimator, directory, stem="model")
        return {"kind": "pipeline", "preprocess": pre, "estimator": est}


@dataclass
class MultitaskModel:
    """The shared-trunk network: genre probabilities and popularity from one forward pass."""

    name: str
    feature_set: str
    features: tuple[str, ...]
    preprocessor: Any
    estimator: multitask_adapter.MultitaskNet
    classes: tuple[str, ...]
    version: str = ""
    task: Task = Task.MULTITASK
    manifest: dict[str, Any] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> TaskOutput:
        """``values`` = popularity, ``classes``/``probabilities`` = genre."""
        if len(frame) == 0:
            return TaskOutput(
                task=self.task,
                values=np.empty(0),
                classes=self.classes,
                probabilities=np.empty((0, len(self.classes))),
            )
        matrix = model_input(frame, self.features)
        X = np.asarray(self.preprocessor.transform(matrix), dtype="float32")
        proba, popularity = self.estimator.predict_both(X)
        return TaskOutput(
            task=self.task,
            values=np.clip(popularity.astype("float64"), 0.0, 100.0),
            classes=self.classes,
            probabilities=proba.astype("float64"),
        )

    def explain(self, frame: pd.DataFrame, top_k: int = 5) -> Explanation | None:
        """Not available for the network."""
        return None

    def save(self, directory: Path) -> dict[str, Any]:
        pre = sklearn_adapter.save_model(self.preprocessor, directory, stem="preprocess")
        est = multitask_adapter.save_model(self.estimator, directory, stem="model")
        return {"kind": "multitask", "preprocess": pre, "estimator": est}


def load_bundle_model(directory: Path, manifest: dict[str, Any]) -> PipelineModel | MultitaskModel:
    """Rebuild the model of a bundle folder whose files were already integrity-checked."""
    record = manifest.get("model") or {}
    kind = record.get("kind")
    if kind not in ("pipeline", "multitask"):
        raise ModelError(f"{directory}: unknown bundle kind {kind!r}")
    preprocessor = sklearn_adapter.load_model(directory, record["preprocess"])
    est_info = record["estimator"]
    adapter = ADAPTERS.get(str(est_info.get("adapter")))
    if adapter is None:
        raise ModelError(f"{directory}: unknown adapter {est_info.get('adapter')!r}")
    estimator = adapter.load_model(directory, est_info)
    classes = tuple(manifest["classes"]) if manifest.get("classes") else None
    common = {
        "name": str(manifest["name"]),
        "feature_set": str(manifest["feature_set"]),
        "features": tuple(manifest["features"]),
        "preprocessor": preprocessor,
        "version": str(manifest.get("version", "")),
        "manifest": manifest,
    }
    if kind == "multitask":
        if not isinstance(estimator, multitask_adapter.MultitaskNet) or classes is None:
            raise ModelError(f"{directory}: a multitask bundle needs a MultitaskNet and classes")
        return MultitaskModel(estimator=estimator, classes=classes, **common)
    return PipelineModel(
        task=Task(manifest["task"]), estimator=estimator, classes=classes, **common
    )
