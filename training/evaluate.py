"""Splits and metrics: a stratified, group-aware hold-out plus k-fold cross-validation.

Rows of the same recording share a group and never sit on both sides of a split; with
``by="artist"`` every artist's rows stay on one side (the artist-disjoint evaluation).
Regression targets are stratified on their quintiles. Seeds are fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedGroupKFold

from hitpred.models.base import Task
from training.data import Kind, TrainingData

__all__ = [
    "PRIMARY",
    "better",
    "classification_metrics",
    "fold_splits",
    "holdout_split",
    "metrics_for",
    "regression_metrics",
    "summarise",
]

#: The metric that ranks models of a task, and whether higher is better.
PRIMARY: dict[Task, tuple[str, bool]] = {
    Task.HIT: ("roc_auc", True),
    Task.POPULARITY: ("rmse", False),
    Task.TIER: ("f1_macro", True),
    Task.GENRE: ("accuracy", True),
    Task.MULTITASK: ("genre_accuracy", True),
}


def _strata(data: TrainingData) -> np.ndarray:
    if data.kind in (Kind.REGRESSION, Kind.MULTITASK):
        if data.kind is Kind.MULTITASK and data.y_genre is not None:
            return data.y_genre
        edges = np.quantile(data.y, [0.2, 0.4, 0.6, 0.8])
        return np.searchsorted(edges, data.y)
    return data.y


def fold_splits(
    data: TrainingData,
    n_folds: int,
    seed: int,
    rows: np.ndarray | None = None,
    by: str = "group",
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of ``n_folds`` stratified group folds over ``rows``."""
    rows = np.arange(len(data.y)) if rows is None else rows
    groups = (data.artists if by == "artist" else data.groups)[rows]
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(rows)), _strata(data)[rows], groups):
        yield rows[train], rows[test]


def holdout_split(data: TrainingData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(development, hold-out) rows: one stratified group fold of size ~``fraction``."""
    n_splits = max(2, round(1 / fraction))
    return next(fold_splits(data, n_splits, seed + 1000))


def classification_metrics(y: np.ndarray, proba: np.ndarray, binary: bool) -> dict[str, Any]:
    """Accuracy, precision/recall/F1 (macro for multi-class), per-class recall; ROC-AUC,
    PR-AUC, Brier and log-loss for binary problems."""
    if binary:
        p = proba if proba.ndim == 1 else proba[:, 1]
        pred = (p >= 0.5).astype(int)
        return {
            "accuracy": accuracy_score(y, pred),
            "precision": precision_score(y, pred, zero_division=0),
            "recall": recall_score(y, pred, zero_division=0),
            "f1": f1_score(y, pred, zero_division=0),
            "roc_auc": roc_auc_score(y, p),
            "pr_auc": average_precision_score(y, p),
            "brier": brier_score_loss(y, p),
            "log_loss": log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)),
        }
    labels = np.arange(proba.shape[1])
    pred = proba.argmax(axis=1)
    per_class = recall_score(y, pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": accuracy_score(y, pred),
        "precision_macro": precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": recall_score(y, pred, average="macro", zero_division=0),
        "f1_macro": f1_score(y, pred, average="macro", zero_division=0),
        "recall_per_class": [float(r) for r in per_class],
    }


def regression_metrics(y: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, R2 and Spearman's rank correlation."""
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, values))),
        "mae": mean_absolute_error(y, values),
        "r2": r2_score(y, values),
        "spearman": float(spearmanr(y, values).statistic),
    }


def metrics_for(kind: Kind, y: np.ndarray, prediction: np.ndarray) -> dict[str, Any]:
    """The metrics of one learning problem (prediction: probabilities or values)."""
    if kind is Kind.REGRESSION:
        result = regression_metrics(y, prediction)
    else:
        result = classification_metrics(y, prediction, binary=kind is Kind.BINARY)
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in result.items()}


def summarise(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric: mean and standard deviation across folds (lists averaged element-wise)."""
    summary: dict[str, Any] = {}
    for name in folds[0]:
        values = [f[name] for f in folds if name in f]
        array = np.asarray(values, dtype="float64")
        if array.ndim == 1:
            summary[name] = {"mean": float(np.nanmean(array)), "std": float(np.nanstd(array))}
        else:
            summary[name] = {
                "mean": [float(v) for v in np.nanmean(array, axis=0)],
                "std": [float(v) for v in np.nanstd(array, axis=0)],
            }
    return summary


def better(task: Task, candidate: float, incumbent: float) -> bool:
    """True when ``candidate`` beats ``incumbent`` on the task's primary metric."""
    _, higher = PRIMARY[task]
    return candidate > incumbent if higher else candidate < incumbent
