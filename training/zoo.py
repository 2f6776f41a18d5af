"""The model zoo of the seed projects, and the preprocessing every model shares.

Every model is a pair (preprocessor, estimator): the preprocessor (imputation + missing
flags + scaling for numbers, one-hot or target encoding for categories, a stacked TF-IDF
score for text, and for each embedding a missing flag plus the scaled vector, zeros when
absent) is fitted once per fold and shared by all estimators of that fold, which keeps
cross-validating seven models affordable on two cores. The embedding blocks come last, so
the multimodal network knows where its branches start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from sklearn.svm import LinearSVC

from hitpred.errors import ModelError
from hitpred.models.multimodal import MultimodalNet
from hitpred.models.multitask import MultitaskNet
from hitpred.models.text import TextScorer
from hitpred.models.torch_mlp import TorchMLP
from training.data import FeatureSet, Kind, TrainingData

__all__ = [
    "MODELS",
    "MULTIMODAL",
    "MULTITASK_MODELS",
    "ModelSpec",
    "balanced_weights",
    "build_preprocessor",
    "default_models",
    "feature_set_for",
    "fit_estimator",
    "fit_multimodal",
    "fit_xgboost",
    "model_names",
]

logger = logging.getLogger(__name__)

N_JOBS = 2


def build_preprocessor(data: TrainingData, seed: int) -> ColumnTransformer:
    """Imputation, scaling and encoding of ``data``'s inputs (a fresh, unfitted transformer)."""
    text_kind = {
        Kind.BINARY: "binary",
        Kind.MULTICLASS: "multiclass",
        Kind.REGRESSION: "regression",
        Kind.MULTITASK: "regression",
    }[data.kind]
    parts: list[tuple[str, Any, list[str]]] = []
    if data.numeric:
        numeric = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                ("scale", StandardScaler()),
            ]
        )
        parts.append(("num", numeric, list(data.numeric)))
    one_hot = [c for c in data.categorical if c != "artist"]
    if one_hot:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False
        )
        parts.append(("cat", encoder, one_hot))
    if "artist" in data.categorical:
        # The artist's record in the training rows, cross-fitted (out-of-fold) during fit.
        target_type = (
            "binary"
            if data.kind is Kind.BINARY
            else ("multiclass" if data.kind is Kind.MULTICLASS else "continuous")
        )
        # Shuffled cross-fitting folds, given as a splitter (scikit-learn 1.9 deprecates the
        # encoder's own shuffle/random_state).
        folds = (KFold if target_type == "continuous" else StratifiedKFold)(
            n_splits=5, shuffle=True, random_state=seed
        )
        parts.append(("artist", TargetEncoder(target_type=target_type, cv=folds), ["artist"]))
    for column in data.text:
        analyzer = "word" if column == "lyrics" else "char_wb"
        scorer = TextScorer(kind=text_kind, name=column, random_state=seed, analyzer=analyzer)
        parts.append((f"text_{column}", scorer, [column]))
    for name, columns in (
        ("lyrics_emb", data.lyrics_embedding),
        ("audio_emb", data.audio_embedding),
    ):
        parts += _embedding_parts(name, columns)
    return ColumnTransformer(
        parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=True
    )


def _embedding_parts(name: str, columns: tuple[str, ...]) -> list[tuple[str, Any, list[str]]]:
    """A missing flag (1 = no embedding) followed by the scaled vector, zeros when absent.

    Never the median imputation of the numeric inputs: an absent modality must not look like
    an average song's lyrics. Scaling is fitted on the rows that have the embedding.
    """
    if not columns:
        return []
    vector = Pipeline(
        [
            ("scale", StandardScaler()),
            ("fill", SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True)),
        ]
    )
    return [
        (f"{name}_missing", MissingIndicator(features="all"), [columns[0]]),
        (name, vector, list(columns)),
    ]


# -- XGBoost, tuned inside each fit (nested: never on the evaluation fold) -----------------

#: The small search: (max_depth, learning_rate, min_child_weight, colsample_bytree).
XGB_GRID: tuple[dict[str, Any], ...] = (
    {"max_depth": 4, "learning_rate": 0.05, "min_child_weight": 1, "colsample_bytree": 0.8},
    {"max_depth": 6, "learning_rate": 0.05, "min_child_weight": 3, "colsample_bytree": 0.7},
    {"max_depth": 8, "learning_rate": 0.04, "min_child_weight": 5, "colsample_bytree": 0.6},
)


def fit_xgboost(X: np.ndarray, y: np.ndarray, kind: Kind, seed: int) -> Any:
    """Pick the best of :data:`XGB_GRID` by early stopping on a 15 % validation slice of the
    training rows, then refit that configuration on all of them."""
    import xgboost as xgb

    classifier = kind is not Kind.REGRESSION
    stratify = y if classifier else None
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=0.15, random_state=seed, stratify=stratify
    )
    base = {
        "n_estimators": 3000,
        "subsample": 0.8,
        "tree_method": "hist",
        "n_jobs": N_JOBS,
        "random_state": seed,
        "early_stopping_rounds": 60,
        "reg_lambda": 1.0,
    }
    best: tuple[float, dict[str, Any], int] | None = None
    grid = XGB_GRID
    if kind is Kind.MULTICLASS:
        # One tree per class and round: a faster rate, a shorter patience and the two deeper
        # configurations keep ten-class problems affordable on two cores.
        grid = tuple({**p, "learning_rate": 2 * p["learning_rate"]} for p in XGB_GRID[1:])
        base["n_estimators"] = 1000
        base["early_stopping_rounds"] = 30
    for params in grid:
        model = (xgb.XGBClassifier if classifier else xgb.XGBRegressor)(**base, **params)
        weights = balanced_weights(y_fit) if kind is Kind.MULTICLASS else None
        val_weights = [balanced_weights(y_val)] if kind is Kind.MULTICLASS else None
        model.fit(
            X_fit,
            y_fit,
            sample_weight=weights,
            eval_set=[(X_val, y_val)],
            sample_weight_eval_set=val_weights,
            verbose=False,
        )
        history = model.evals_result()["validation_0"]
        loss = float(min(next(iter(history.values()))))
        if best is None or loss < best[0]:
            best = (loss, params, int(model.best_iteration) + 1)
    assert best is not None
    _, params, rounds = best
    final = {**base, **params, "n_estimators": max(20, int(rounds * 1.15))}
    final.pop("early_stopping_rounds")
    model = (xgb.XGBClassifier if classifier else xgb.XGBRegressor)(**final)
    model.fit(
        X, y, sample_weight=balanced_weights(y) if kind is Kind.MULTICLASS else None, verbose=False
    )
    logger.debug("xgboost: chose %s with %d rounds", params, final["n_estimators"])
    return model


@dataclass(frozen=True)
class ModelSpec:
    """One model of the zoo: a name and how to fit it on a preprocessed matrix."""

    name: str
    kinds: tuple[Kind, ...]
    fit: Callable[[np.ndarray, np.ndarray, Kind, int], Any]
    #: Part of the default list (slow or redundant ones are opt-in).
    default: bool = True


def _sk(
    classifier: Callable[[int], Any] | None, regressor: Callable[[int], Any] | None
) -> Callable[[np.ndarray, np.ndarray, Kind, int], Any]:
    def fit(X: np.ndarray, y: np.ndarray, kind: Kind, seed: int) -> Any:
        factory = regressor if kind is Kind.REGRESSION else classifier
        if factory is None:
            raise ModelError(f"no {kind.value} variant")
        estimator = factory(seed)
        if kind is Kind.MULTICLASS and _accepts_weights(estimator):
            return estimator.fit(X, y, sample_weight=balanced_weights(y))
        return estimator.fit(X, y)

    return fit


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-row weights that give every class the same total weight.

    Imbalanced multi-class tasks (``tier``: few blazing-hot tracks) are judged on macro-F1;
    unweighted models would never predict the rare class.
    """
    from sklearn.utils.class_weight import compute_sample_weight

    return np.asarray(compute_sample_weight("balanced", y), dtype="float64")


def _accepts_weights(estimator: Any) -> bool:
    import inspect

    return "sample_weight" in inspect.signature(estimator.fit).parameters


def _mlp(X: np.ndarray, y: np.ndarray, kind: Kind, seed: int) -> Any:
    estimator = TorchMLP(
        kind="regressor" if kind is Kind.REGRESSION else "classifier", random_state=seed
    )
    return estimator.fit(X, y)


def fit_multimodal(
    X: np.ndarray, y: np.ndarray, kind: Kind, seed: int, lyrics_dim: int = 0, audio_dim: int = 0
) -> MultimodalNet:
    """The multimodal network on a preprocessed matrix whose last blocks are the embeddings
    (``lyrics_dim`` / ``audio_dim`` wide, each after its missing flag)."""
    net = MultimodalNet(
        kind="regressor" if kind is Kind.REGRESSION else "classifier",
        lyrics_dim=lyrics_dim,
        audio_dim=audio_dim,
        random_state=seed,
    )
    return net.fit(X, y)


#: The model that reads one branch per modality (lyrics, audio, tabular).
MULTIMODAL = "multimodal"

_CLS = (Kind.BINARY, Kind.MULTICLASS)
_REG = (Kind.REGRESSION,)
_ALL = (*_CLS, *_REG)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "logistic-regression",
            _CLS,
            _sk(lambda s: LogisticRegression(C=1.0, max_iter=3000), None),
        ),
        ModelSpec(
            "linear-svm",
            _CLS,
            _sk(lambda s: CalibratedClassifierCV(LinearSVC(C=0.5, random_state=s), cv=3), None),
        ),
        ModelSpec("ridge", _REG, _sk(None, lambda s: Ridge(alpha=1.0))),
        ModelSpec("lasso", _REG, _sk(None, lambda s: Lasso(alpha=0.05, max_iter=5000))),
        ModelSpec(
            "knn",
            _ALL,
            _sk(
                lambda s: KNeighborsClassifier(n_neighbors=25, weights="distance", n_jobs=N_JOBS),
                lambda s: KNeighborsRegressor(n_neighbors=25, weights="distance", n_jobs=N_JOBS),
            ),
        ),
        ModelSpec(
            "random-forest",
            _ALL,
            _sk(
                lambda s: RandomForestClassifier(
                    n_estimators=200, min_samples_leaf=2, n_jobs=N_JOBS, random_state=s
                ),
                lambda s: RandomForestRegressor(
                    n_estimators=200,
                    min_samples_leaf=3,
                    max_features=0.5,
                    n_jobs=N_JOBS,
                    random_state=s,
                ),
            ),
        ),
        ModelSpec(
            "gradient-boosting",
            _ALL,
            _sk(
                lambda s: HistGradientBoostingClassifier(
                    max_iter=500, learning_rate=0.06, random_state=s
                ),
                lambda s: HistGradientBoostingRegressor(
                    max_iter=500, learning_rate=0.06, random_state=s
                ),
            ),
        ),
        ModelSpec("xgboost", _ALL, fit_xgboost),
        ModelSpec("mlp", _ALL, _mlp),
        # Opt-in: it needs the embedding layout, which fit_estimator passes from the data.
        ModelSpec(MULTIMODAL, _ALL, fit_multimodal, default=False),
    )
}


def default_models(kind: Kind) -> list[str]:
    """The zoo's models for a learning problem."""
    return [name for name, spec in MODELS.items() if kind in spec.kinds and spec.default]


def fit_estimator(
    name: str, Xt: np.ndarray, data: TrainingData, rows: np.ndarray, seed: int
) -> Any:
    """Fit model ``name`` on the preprocessed ``Xt`` of ``rows`` of ``data``.

    Multitask data trains the shared-trunk network or one of its single-task comparisons
    (``mlp-genre``, ``xgboost-popularity``...); the multimodal network gets the widths of the
    embedding blocks from ``data``.
    """
    if data.kind is Kind.MULTITASK:
        genre = data.y_genre
        assert genre is not None
        if name == "multitask":
            return MultitaskNet(random_state=seed).fit(Xt, genre[rows], data.y[rows])
        if name == "mlp-genre":
            return TorchMLP(kind="classifier", random_state=seed).fit(Xt, genre[rows])
        if name == "mlp-popularity":
            return TorchMLP(kind="regressor", random_state=seed).fit(Xt, data.y[rows])
        if name == "xgboost-genre":
            return fit_xgboost(Xt, genre[rows], Kind.MULTICLASS, seed)
        return fit_xgboost(Xt, data.y[rows], Kind.REGRESSION, seed)
    if name == MULTIMODAL:
        widths = (len(data.lyrics_embedding), len(data.audio_embedding))
        return fit_multimodal(Xt, data.y[rows], data.kind, seed, *widths)
    return MODELS[name].fit(Xt, data.y[rows], data.kind, seed)


def feature_set_for(feature_set: FeatureSet, models: list[str] | None) -> FeatureSet:
    """The feature set a run uses: asking for the multimodal model with the default
    ``release`` set means the ``multimodal`` set (its branches need the embeddings)."""
    if models and MULTIMODAL in models and feature_set is FeatureSet.RELEASE:
        logger.info("the multimodal model reads the multimodal feature set: using it")
        return FeatureSet.MULTIMODAL
    return feature_set


#: The models of the multitask task: the shared-trunk network and its single-task comparisons.
MULTITASK_MODELS = (
    "multitask",
    "mlp-genre",
    "mlp-popularity",
    "xgboost-genre",
    "xgboost-popularity",
)


def model_names(models: list[str] | None, kind: Kind) -> list[str]:
    """The models a run cross-validates (``None``: the default zoo of ``kind``); ModelError
    names the valid ones when a name does not fit the task."""
    if kind is Kind.MULTITASK:
        names = list(models or MULTITASK_MODELS)
        unknown = [n for n in names if n not in MULTITASK_MODELS]
        if unknown or "multitask" not in names:
            raise ModelError(
                f"multitask models are {', '.join(MULTITASK_MODELS)} (multitask required); "
                f"got {', '.join(names)}"
            )
        return names
    names = list(models or default_models(kind))
    wrong = [n for n in names if n not in MODELS or kind not in MODELS[n].kinds]
    if wrong:
        available = [n for n, spec in MODELS.items() if kind in spec.kinds]
        raise ModelError(
            f"unknown models for a {kind.value} task: {', '.join(wrong)}; "
            f"available: {', '.join(available)}"
        )
    return names
