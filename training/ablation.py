"""Ablations of the multimodal model, cross-validated on the same rows and folds.

When ``multimodal`` is trained, the job also measures what each modality adds:

- the multimodal network without the lyrics embedding, and without the descriptors
  (the same :class:`~training.data.TrainingData` minus those inputs);
- XGBoost on the ``release`` inputs (descriptors, metadata, title and lyrics TF-IDF scores)
  and on the ``lyrics`` inputs (the embedding plus metadata), prepared from the same data
  set rows.

Every variant keeps the rows, targets and groups of the run, so the fold splitter yields the
same folds and the figures sit side by side with the leaderboard's. A variant that would
equal another one (no descriptors in the data set) or cannot be built is listed with the
reason instead of figures.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hitpred.errors import DataError
from hitpred.schemas import DESCRIPTOR_FIELDS
from training.data import FeatureSet, TrainingData, prepare
from training.zoo import MULTIMODAL

__all__ = ["Variant", "drop_inputs", "plan_ablations", "run_ablations"]

logger = logging.getLogger(__name__)

#: ``cross_validate(data, names, rows)``: per model name, the summary across folds.
CrossValidate = Callable[[TrainingData, list[str], np.ndarray], dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Variant:
    """One ablation: a model on some inputs of the run's rows (``data`` None: skipped)."""

    name: str
    model: str
    inputs: str
    data: TrainingData | None


def drop_inputs(data: TrainingData, columns: tuple[str, ...]) -> TrainingData:
    """``data`` without the input ``columns`` (same rows, targets and groups)."""
    gone = set(columns)
    return dataclasses.replace(
        data,
        X=data.X.drop(columns=[c for c in data.X.columns if c in gone]),
        numeric=tuple(c for c in data.numeric if c not in gone),
        categorical=tuple(c for c in data.categorical if c not in gone),
        text=tuple(c for c in data.text if c not in gone),
        lyrics_embedding=tuple(c for c in data.lyrics_embedding if c not in gone),
        audio_embedding=tuple(c for c in data.audio_embedding if c not in gone),
    )


def _same_rows(other: TrainingData, data: TrainingData) -> bool:
    return bool(
        len(other.y) == len(data.y)
        and np.array_equal(other.y, data.y)
        and np.array_equal(other.groups, data.groups)
    )


def _describe(data: TrainingData) -> str:
    plain = [*data.numeric, *data.categorical, *data.text]
    blocks = [
        f"{len(b)}-d {label} embedding"
        for label, b in (("lyrics", data.lyrics_embedding), ("audio", data.audio_embedding))
        if b
    ]
    return ", ".join([*plain, *blocks]) or "none"


def _prepared(
    dataset: Any, data: TrainingData, feature_set: FeatureSet, exclude: tuple[str, ...]
) -> TrainingData | str:
    """The run's rows with the inputs of ``feature_set``, or why that is impossible."""
    try:
        other = prepare(
            dataset,
            data.task,
            feature_set,
            exclude,
            only_with_lyrics=bool(data.lyrics_embedding),
        )
    except DataError as exc:
        return f"skipped: {exc}"
    if not _same_rows(other, data):
        return "skipped: the rows differ from the run's"
    return other


def plan_ablations(
    dataset: Any, data: TrainingData, exclude: tuple[str, ...], names: list[str]
) -> list[Variant]:
    """The variants to cross-validate next to a run that trains the multimodal model
    (``names``: the run's models, whose figures are not measured twice)."""
    variants: list[Variant] = []
    if data.lyrics_embedding:
        without = drop_inputs(data, data.lyrics_embedding)
        variants.append(
            Variant("multimodal without lyrics", MULTIMODAL, _describe(without), without)
        )
    else:
        variants.append(
            Variant("multimodal without lyrics", MULTIMODAL, "skipped: no lyrics", None)
        )
    descriptors = tuple(c for c in data.numeric if c in DESCRIPTOR_FIELDS)
    if descriptors:
        without = drop_inputs(data, descriptors)
        variants.append(
            Variant("multimodal without descriptors", MULTIMODAL, _describe(without), without)
        )
    else:
        reason = "skipped: this data set has no descriptor inputs (same as multimodal)"
        variants.append(Variant("multimodal without descriptors", MULTIMODAL, reason, None))
    for feature_set in (FeatureSet.RELEASE, FeatureSet.LYRICS):
        name = f"xgboost on {feature_set.value} inputs"
        if feature_set is data.feature_set and "xgboost" in names:
            continue  # already on the leaderboard
        if feature_set is FeatureSet.LYRICS and not data.lyrics_embedding:
            variants.append(Variant(name, "xgboost", "skipped: no lyrics", None))
            continue
        other = _prepared(dataset, data, feature_set, exclude)
        if isinstance(other, str):
            variants.append(Variant(name, "xgboost", other, None))
        else:
            variants.append(Variant(name, "xgboost", _describe(other), other))
    return variants


def run_ablations(
    variants: list[Variant],
    leaderboard: dict[str, dict[str, Any]],
    data: TrainingData,
    rows: np.ndarray,
    cross_validate: CrossValidate,
) -> dict[str, dict[str, Any]]:
    """Cross-validate every variant on ``rows``; the table starts with the run's own models.

    Each entry is a leaderboard summary (metric -> mean/std) plus ``inputs``: what the model
    read, or why the variant was skipped.
    """
    table: dict[str, dict[str, Any]] = {}
    for name in (MULTIMODAL, "xgboost"):
        if name in leaderboard:
            label = f"{name} on {data.feature_set.value} inputs"
            table[label] = {"inputs": _describe(data), **leaderboard[name]}
    for variant in variants:
        if variant.data is None:
            table[variant.name] = {"inputs": variant.inputs}
            continue
        summary = cross_validate(variant.data, [variant.model], rows)[variant.model]
        table[variant.name] = {"inputs": variant.inputs, **summary}
        logger.info("ablation %s done", variant.name)
    return table
