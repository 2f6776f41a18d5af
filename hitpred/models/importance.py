"""Global feature importances of a loaded model, per input feature, summing to 1.

The registry does not store importances (the training report computes permutation importance
on hold-out rows but keeps it in its PNG only), so they are derived from the model itself:

- XGBoost (the baseline's native booster, or a pipeline's ``XGBModel``): total **gain** per
  feature (``Booster.get_score(importance_type="total_gain")``);
- other tree ensembles: scikit-learn's impurity-based ``feature_importances_``;
- linear models: the mean absolute coefficient (inputs are standardised by the pipeline).

Preprocessed columns (one-hot categories, text scores, embedding dimensions) are added up into
the input feature they came from. Models that expose none of these (k-NN, torch networks)
return None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hitpred.models.base import TaskModel

__all__ = ["Importance", "feature_importances"]


@dataclass(frozen=True)
class Importance:
    """Importances of one model: ``(feature, share)`` pairs, largest first, and the method."""

    method: str
    items: tuple[tuple[str, float], ...]


def feature_importances(model: TaskModel, top_k: int | None = None) -> Importance | None:
    """The model's importances per input feature (largest first), or None when it has none."""
    found = _raw(model)
    if found is None:
        return None
    method, names, values = found
    totals: dict[str, float] = {}
    for name, value in zip(names, values, strict=True):
        if np.isfinite(value):
            totals[name] = totals.get(name, 0.0) + float(abs(value))
    grand = sum(totals.values())
    if grand <= 0:
        return None
    ranked = sorted(((n, v / grand) for n, v in totals.items()), key=lambda item: -item[1])
    return Importance(method=method, items=tuple(ranked[:top_k] if top_k else ranked))


def _raw(model: TaskModel) -> tuple[str, list[str], list[float]] | None:
    booster = getattr(model, "booster", None)
    if booster is not None:  # hitpred.baseline.BaselineXGBModel: unnamed columns f0..fn
        scores = booster.get_score(importance_type="total_gain")
        features = list(model.features)
        values = [_number(scores.get(f"f{i}", 0.0)) for i in range(len(features))]
        return "xgboost total gain", features, values
    estimator = getattr(model, "estimator", None)
    names_out = getattr(model, "feature_names_out", None)
    if estimator is None or names_out is None:
        return None
    try:
        columns = list(names_out())
    except Exception:  # a preprocessor without output names: nothing to attribute to
        return None
    sources = [_source(c, model.features) for c in columns]
    return _estimator_importances(estimator, sources)


def _estimator_importances(
    estimator: Any, sources: list[str]
) -> tuple[str, list[str], list[float]] | None:
    import xgboost as xgb

    width = len(sources)
    if isinstance(estimator, xgb.XGBModel):
        scores = estimator.get_booster().get_score(importance_type="total_gain")
        values = [_number(scores.get(f"f{i}", 0.0)) for i in range(width)]
        return "xgboost total gain", sources, values
    importances = getattr(estimator, "feature_importances_", None)
    if importances is not None and len(importances) == width:
        return "impurity importance", sources, [float(v) for v in importances]
    coef = getattr(estimator, "coef_", None)
    if coef is not None:
        weights = np.abs(np.atleast_2d(np.asarray(coef, dtype="float64"))).mean(axis=0)
        if len(weights) == width:
            return "mean |coefficient|", sources, weights.tolist()
    return None


def _source(output_name: str, features: tuple[str, ...]) -> str:
    from hitpred.models.pipeline import _source_feature

    return _source_feature(output_name, features)


def _number(score: float | list[float]) -> float:
    """A booster score (a list per class for some multi-class importance types) as one float."""
    return float(sum(score)) if isinstance(score, list) else float(score)
