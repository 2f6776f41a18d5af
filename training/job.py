"""The offline training job: prepare, cross-validate the zoo, hold-out check, report, publish.

Protocol (fixed seeds, recorded in every manifest as ``evaluation``):

1. the usable, de-duplicated rows are split into development (80 %) and hold-out (20 %),
   stratified and group-aware;
2. every model is cross-validated with k stratified group folds on the development rows;
   the leaderboard shows mean +- std across folds and the best model is chosen on it;
3. the chosen model is refitted on the development rows and measured once on the hold-out
   (plots come from there);
4. it is refitted on all rows and registered; it becomes champion only if it beats the
   current champion's cross-validated score measured with the same protocol on the same rows.

XGBoost's small search and early stopping happen inside each fit (nested), so no choice is
ever made on an evaluation fold. The ``lyrics`` and ``multimodal`` feature sets first embed
the lyrics (:mod:`training.embeddings`, cached); a run with the multimodal model also
cross-validates its ablations on the same folds (:mod:`training.ablation`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hitpred.models.base import Task
from hitpred.models.multitask import MultitaskNet
from hitpred.models.pipeline import MultitaskModel, PipelineModel
from hitpred.registry.remote import open_registry
from hitpred.registry.store import BundleInfo, RegistryStore
from training.ablation import plan_ablations, run_ablations
from training.data import EMBEDDING_SETS, FeatureSet, Kind, TrainingData, prepare
from training.embeddings import DEFAULT_CACHE_DIR, LyricsEncoder, embed_for_training, load_encoder
from training.evaluate import (
    PRIMARY,
    better,
    fold_splits,
    holdout_split,
    metrics_for,
    regression_metrics,
    summarise,
)
from training.progress import Progress, SilentProgress
from training.zoo import (
    MULTIMODAL,
    build_preprocessor,
    feature_set_for,
    fit_estimator,
    model_names,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "evaluation_key",
    "fit_pipeline",
    "run_training",
]

logger = logging.getLogger(__name__)

PROTOCOL = "holdout+stratified-group-kfold/v1"


@dataclass
class TrainConfig:
    """What ``hitpred train`` asks for."""

    task: Task
    data: Path
    registry_uri: str
    report_dir: Path
    feature_set: FeatureSet = FeatureSet.RELEASE
    models: list[str] | None = None
    exclude: tuple[str, ...] = ()  # input columns left out (ablations)
    folds: int = 5
    seed: int = 42
    holdout: float = 0.2
    promote: bool | None = None  # None: only when it beats the champion
    register: bool = True
    lyrics_encoder: LyricsEncoder | None = None  # None: the stream's (load_lyrics_encoder)
    embedding_cache: Path | None = DEFAULT_CACHE_DIR  # None: embed every run anew


@dataclass
class TrainResult:
    """Everything the report and the CLI show."""

    config: TrainConfig
    data: TrainingData
    dataset_notes: tuple[str, ...]
    leaderboard: dict[str, dict[str, Any]]  # model -> metric -> {mean, std}
    artist_disjoint: dict[str, dict[str, Any]]  # same, artist-disjoint folds (opt-in set)
    best: str
    primary: str
    holdout_metrics: dict[str, Any]
    holdout_truth: np.ndarray
    holdout_prediction: np.ndarray | dict[str, np.ndarray]
    holdout_model: Any
    holdout_rows: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    bundle: BundleInfo | None = None
    promoted: bool = False
    promotion_reason: str = ""
    report: Path | None = None
    ablation: dict[str, dict[str, Any]] = field(default_factory=dict)  # see training.ablation
    embeddings: dict[str, str] = field(default_factory=dict)  # modality -> encoder model id


# -- one fold ----------------------------------------------------------------------------------


def _predict(estimator: Any, X: np.ndarray, kind: Kind) -> np.ndarray:
    if kind is Kind.REGRESSION:
        return np.asarray(estimator.predict(X), dtype="float64")
    proba = np.asarray(estimator.predict_proba(X), dtype="float64")
    return proba[:, 1] if kind is Kind.BINARY else proba


def _fit_preprocessor(data: TrainingData, rows: np.ndarray, seed: int) -> tuple[Any, np.ndarray]:
    pre = build_preprocessor(data, seed)
    # Multitask: the text score is fitted on popularity (data.y), the regression head's target.
    Xt = np.asarray(pre.fit_transform(data.X.iloc[rows], data.y[rows]), dtype="float32")
    return pre, Xt


def _score(
    name: str, estimator: Any, Xt: np.ndarray, data: TrainingData, rows: np.ndarray
) -> tuple[dict[str, Any], Any]:
    if data.kind is not Kind.MULTITASK:
        single = _predict(estimator, Xt, data.kind)
        return metrics_for(data.kind, data.y[rows], single), single
    genre = data.y_genre
    assert genre is not None
    result: dict[str, Any] = {}
    prediction: dict[str, np.ndarray] = {}
    if isinstance(estimator, MultitaskNet):
        proba, popularity = estimator.predict_both(Xt)
        prediction = {"genre": proba, "popularity": popularity}
    elif name.endswith("-genre"):
        prediction = {"genre": np.asarray(estimator.predict_proba(Xt))}
    else:
        prediction = {"popularity": np.asarray(estimator.predict(Xt), dtype="float64")}
    if "genre" in prediction:
        genre_metrics = metrics_for(Kind.MULTICLASS, genre[rows], prediction["genre"])
        result.update({f"genre_{k}": v for k, v in genre_metrics.items()})
    if "popularity" in prediction:
        values = np.clip(prediction["popularity"], 0, 100)
        result.update(
            {f"popularity_{k}": v for k, v in regression_metrics(data.y[rows], values).items()}
        )
    return result, prediction


def _cross_validate(
    data: TrainingData,
    names: list[str],
    rows: np.ndarray,
    config: TrainConfig,
    progress: Progress,
    by: str,
) -> dict[str, dict[str, Any]]:
    folds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for k, (train, test) in enumerate(fold_splits(data, config.folds, config.seed, rows, by)):
        pre, Xt_train = _fit_preprocessor(data, train, config.seed)
        Xt_test = np.asarray(pre.transform(data.X.iloc[test]), dtype="float32")
        progress.advance(f"fold {k + 1}/{config.folds} ({by}): preprocessing")
        for name in names:
            started = time.perf_counter()
            estimator = fit_estimator(name, Xt_train, data, train, config.seed)
            metrics, _ = _score(name, estimator, Xt_test, data, test)
            metrics["fit_seconds"] = time.perf_counter() - started
            folds[name].append(metrics)
            progress.advance(f"fold {k + 1}/{config.folds} ({by}): {name}")
    return {name: summarise(results) for name, results in folds.items()}


# -- the job -----------------------------------------------------------------------------------


def _primary_value(task: Task, summary: dict[str, Any]) -> float:
    metric, higher = PRIMARY[task]
    value = summary.get(metric, {}).get("mean")
    if value is None:
        return -np.inf if higher else np.inf
    return float(value)


def _choose(task: Task, leaderboard: dict[str, dict[str, Any]]) -> str:
    candidates = leaderboard
    if task is Task.MULTITASK:
        candidates = {"multitask": leaderboard["multitask"]}  # the registered network
    best = None
    for name, summary in candidates.items():
        if best is None or better(
            task, _primary_value(task, summary), _primary_value(task, candidates[best])
        ):
            best = name
    assert best is not None
    return best


def _build_model(
    data: TrainingData, name: str, pre: Any, estimator: Any
) -> PipelineModel | MultitaskModel:
    if data.kind is Kind.MULTITASK:
        assert data.classes is not None
        return MultitaskModel(
            name=name,
            feature_set=data.feature_set.value,
            features=data.features,
            preprocessor=pre,
            estimator=estimator,
            classes=data.classes,
        )
    classes = data.classes if data.kind is Kind.MULTICLASS else None
    return PipelineModel(
        task=data.task,
        name=name,
        feature_set=data.feature_set.value,
        features=data.features,
        preprocessor=pre,
        estimator=estimator,
        classes=classes,
    )


def fit_pipeline(
    data: TrainingData, name: str, rows: np.ndarray, seed: int
) -> PipelineModel | MultitaskModel:
    """Fit the preprocessing and model ``name`` on ``rows`` of ``data``: a ready TaskModel."""
    pre, Xt = _fit_preprocessor(data, rows, seed)
    return _build_model(data, name, pre, fit_estimator(name, Xt, data, rows, seed))


def _holdout(
    model: PipelineModel | MultitaskModel, data: TrainingData, rows: np.ndarray
) -> tuple[dict[str, Any], Any]:
    output = model.predict(data.X.iloc[rows])
    if data.kind is Kind.MULTITASK:
        assert data.y_genre is not None and output.probabilities is not None
        assert output.values is not None
        genre = metrics_for(Kind.MULTICLASS, data.y_genre[rows], output.probabilities)
        pop = regression_metrics(data.y[rows], output.values)
        metrics = {
            **{f"genre_{k}": v for k, v in genre.items()},
            **{f"popularity_{k}": v for k, v in pop.items()},
        }
        return metrics, {"genre": output.probabilities, "popularity": output.values}
    prediction = output.values if output.probabilities is None else output.probabilities
    assert prediction is not None
    return metrics_for(data.kind, data.y[rows], prediction), prediction


def evaluation_key(config: TrainConfig, data: TrainingData) -> dict[str, Any]:
    """What two runs must share for their cross-validated scores to be comparable."""
    return {
        "protocol": PROTOCOL,
        "dataset": data.dataset,
        "data_fingerprint": data.fingerprint,
        "feature_set": data.feature_set.value,
        "folds": config.folds,
        "seed": config.seed,
        "holdout": config.holdout,
        "primary_metric": PRIMARY[config.task][0],
        "excluded_inputs": sorted(config.exclude),
    }


def run_training(
    config: TrainConfig,
    progress: Progress | None = None,
    load: Callable[[Path], Any] | None = None,
) -> TrainResult:
    """Run the whole job; see the module docstring for the protocol."""
    from hitpred.datasets import load_dataset

    progress = progress or SilentProgress()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    config = dataclasses.replace(
        config, feature_set=feature_set_for(config.feature_set, config.models)
    )
    dataset = (load or load_dataset)(config.data)
    embeddings: dict[str, str] = {}
    steps = 0
    if config.feature_set in EMBEDDING_SETS:
        encoder = config.lyrics_encoder or load_encoder()
        dataset, steps = embed_for_training(
            dataset, encoder, config.embedding_cache, progress.advance
        )
        embeddings["lyrics"] = str(encoder.model_id)
    data = prepare(dataset, config.task, config.feature_set, config.exclude)
    seconds["load"] = time.perf_counter() - started
    names = model_names(config.models, data.kind)
    variants = plan_ablations(dataset, data, config.exclude, names) if MULTIMODAL in names else []
    artist_split = config.feature_set is FeatureSet.RELEASE_ARTIST
    n_cv = (1 + len(names)) * (2 if artist_split else 1) + 2 * len(variants)
    progress.start(steps + config.folds * n_cv + 3)

    dev, test = holdout_split(data, config.holdout, config.seed)
    t = time.perf_counter()
    leaderboard = _cross_validate(data, names, dev, config, progress, by="group")
    seconds["cross_validation"] = time.perf_counter() - t
    disjoint: dict[str, dict[str, Any]] = {}
    if artist_split:
        t = time.perf_counter()
        disjoint = _cross_validate(data, names, dev, config, progress, by="artist")
        seconds["artist_disjoint_cv"] = time.perf_counter() - t
    ablation: dict[str, dict[str, Any]] = {}
    if variants:
        t = time.perf_counter()
        ablation = run_ablations(
            variants,
            leaderboard,
            data,
            dev,
            lambda d, n, r: _cross_validate(d, n, r, config, progress, by="group"),
        )
        seconds["ablation"] = time.perf_counter() - t
    best = _choose(config.task, leaderboard)

    t = time.perf_counter()
    holdout_model = fit_pipeline(data, best, dev, config.seed)
    holdout_metrics, holdout_prediction = _holdout(holdout_model, data, test)
    seconds["holdout"] = time.perf_counter() - t
    progress.advance(f"hold-out: {best}")

    result = TrainResult(
        config=config,
        data=data,
        dataset_notes=(*getattr(dataset, "notes", ()), *data.notes),
        leaderboard=leaderboard,
        artist_disjoint=disjoint,
        best=best,
        primary=PRIMARY[config.task][0],
        holdout_metrics=holdout_metrics,
        holdout_truth=data.y[test],
        holdout_prediction=holdout_prediction,
        holdout_model=holdout_model,
        holdout_rows=test,
        seconds=seconds,
        ablation=ablation,
        embeddings=embeddings if data.lyrics_embedding else {},
    )
    if config.register:
        t = time.perf_counter()
        final = fit_pipeline(data, best, np.arange(len(data.y)), config.seed)
        progress.advance(f"refit on all rows: {best}")
        _publish(result, final)
        seconds["refit_and_register"] = time.perf_counter() - t
    progress.advance("done")
    seconds["total"] = time.perf_counter() - started
    return result


def _publish(result: TrainResult, model: PipelineModel | MultitaskModel) -> None:
    config, data = result.config, result.data
    store = open_registry(config.registry_uri)
    key = evaluation_key(config, data)
    cv = result.leaderboard[result.best]
    metrics = {
        "cv": cv,
        "holdout": result.holdout_metrics,
        "primary": {"name": result.primary, "cv_mean": _primary_value(config.task, cv)},
    }
    info = store.register(
        model,
        metrics=metrics,
        evaluation=key,
        data={
            "dataset": data.dataset,
            "path": str(config.data),
            "fingerprint": data.fingerprint,
            "rows": len(data.y),
            "duplicates_dropped": data.n_duplicates_dropped,
        },
        classes=model.classes if getattr(model, "classes", None) else None,
        extra={
            "leaderboard": result.leaderboard,
            "artist_disjoint": result.artist_disjoint,
            "ablation": result.ablation,
            # The stream feeds this bundle only embeddings from the same encoders.
            **({"embeddings": result.embeddings} if result.embeddings else {}),
        },
    )
    result.bundle = info
    result.promoted, result.promotion_reason = _decide(store, config, info, key)
    if result.promoted:
        store.promote(config.task, info.version, result.promotion_reason)


def _decide(
    store: RegistryStore, config: TrainConfig, info: BundleInfo, key: dict[str, Any]
) -> tuple[bool, str]:
    if config.promote is not None:
        return config.promote, "forced by --promote" if config.promote else "--no-promote"
    # Champions are kept per feature set: a lyrics model competes with lyrics models only.
    feature_set = str(info.manifest.get("feature_set", ""))
    champion = store.champions(config.task).get(feature_set)
    if champion is None:
        return True, f"first {feature_set} model of the task"
    incumbent = store.manifest(config.task, champion)
    if incumbent.get("evaluation") != key:
        return False, (
            f"v{champion} was evaluated differently (other data or protocol); "
            f"compare by hand and run `hitpred models promote {config.task.value} "
            f"{info.version}` to switch"
        )
    new = float(info.manifest["metrics"]["primary"]["cv_mean"])
    old = float(incumbent["metrics"]["primary"]["cv_mean"])
    metric = PRIMARY[config.task][0]
    if better(config.task, new, old):
        return True, f"cv {metric} {new:.4f} beats v{champion}'s {old:.4f}"
    return False, f"cv {metric} {new:.4f} does not beat v{champion}'s {old:.4f}"
