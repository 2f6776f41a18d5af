"""The human-readable report of a training run: one HTML page plus matplotlib PNGs.

``<report_dir>/<task>-<dataset>-<feature set>-<timestamp>/index.html`` holds the leaderboard
(cross-validated mean +- std per metric), the hold-out figures of the chosen model, the
artist-disjoint leaderboard for the opt-in artist feature set, the ablations of the multimodal
model, the embedding encoders used, the data notes and what was registered; the plots sit next
to it.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hitpred.features.vector import AUDIO_EMBEDDING_PREFIX, LYRICS_EMBEDDING_PREFIX
from training.data import Kind
from training.evaluate import PRIMARY, metrics_for, regression_metrics
from training.job import TrainResult

__all__ = ["feature_importance", "write_report"]

logger = logging.getLogger(__name__)

_SHOWN = {
    Kind.BINARY: ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier"),
    Kind.MULTICLASS: ("accuracy", "precision_macro", "recall_macro", "f1_macro"),
    Kind.REGRESSION: ("rmse", "mae", "r2", "spearman"),
    Kind.MULTITASK: (
        "genre_accuracy",
        "genre_f1_macro",
        "popularity_rmse",
        "popularity_mae",
        "popularity_r2",
        "popularity_spearman",
    ),
}


def _score(kind: Kind, metric: str, y: np.ndarray, prediction: Any) -> float:
    return float(metrics_for(kind, y, prediction)[metric])


def feature_importance(
    result: TrainResult, max_rows: int = 2000, seed: int = 0
) -> list[tuple[str, float]]:
    """Permutation importance of each *input* column on the hold-out rows: how much the
    primary metric worsens when the column is shuffled (raw inputs, so text and encoded
    categories count as one feature each)."""
    data, model = result.data, result.holdout_model
    if data.kind is Kind.MULTITASK:
        return []
    rng = np.random.default_rng(seed)
    rows = result.holdout_rows
    if len(rows) > max_rows:
        rows = rng.choice(rows, size=max_rows, replace=False)
    X = data.X.iloc[rows].reset_index(drop=True)
    y = data.y[rows]
    metric, higher = PRIMARY[data.task]

    def predict(frame: Any) -> Any:
        out = model.predict(frame)
        return out.values if out.probabilities is None else out.probabilities

    base = _score(data.kind, metric, y, predict(X))
    scores: list[tuple[str, float]] = []
    for label, columns in _input_groups(data.features):
        shuffled = X.copy()
        # An embedding is shuffled as a whole (rows swap vectors): one dimension alone
        # means nothing.
        order = rng.permutation(len(shuffled))
        shuffled[columns] = shuffled[columns].to_numpy()[order]
        value = _score(data.kind, metric, y, predict(shuffled))
        scores.append((label, (base - value) if higher else (value - base)))
    return sorted(scores, key=lambda item: -item[1])


def _input_groups(features: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """Inputs as permutation units: each column alone, each embedding as one block."""
    groups: dict[str, list[str]] = {}
    for column in features:
        label = column
        for prefix, name in (
            (LYRICS_EMBEDDING_PREFIX, "lyrics embedding"),
            (AUDIO_EMBEDDING_PREFIX, "audio embedding"),
        ):
            if column.startswith(prefix):
                label = name
        groups.setdefault(label, []).append(column)
    return list(groups.items())


def _plots(result: TrainResult, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    data, y, pred = result.data, result.holdout_truth, result.holdout_prediction
    made: list[tuple[str, str]] = []

    def save(fig: Any, name: str, title: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        made.append((name, title))

    def confusion(truth: np.ndarray, proba: np.ndarray, labels: tuple[str, ...], name: str) -> None:
        matrix = confusion_matrix(
            truth, proba.argmax(axis=1), labels=range(len(labels)), normalize="true"
        )
        size = max(4.5, 0.55 * len(labels) + 2)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                color="white" if v > 0.5 else "black",
                fontsize=8,
            )
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        save(fig, name, "Confusion matrix (hold-out, rows normalised)")

    if data.kind is Kind.BINARY:
        p = np.asarray(pred)
        confusion(y, np.c_[1 - p, p], ("flop", "hit"), "confusion.png")
        fpr, tpr, _ = roc_curve(y, p)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot(fpr, tpr, label=f"AUC {result.holdout_metrics['roc_auc']:.3f}")
        ax.plot([0, 1], [0, 1], ls="--", c="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend()
        save(fig, "roc.png", "ROC curve (hold-out)")
        precision, recall, _ = precision_recall_curve(y, p)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot(recall, precision, label=f"AP {result.holdout_metrics['pr_auc']:.3f}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.legend()
        save(fig, "pr.png", "Precision-recall curve (hold-out)")
        frac, mean_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot(mean_pred, frac, marker="o")
        ax.plot([0, 1], [0, 1], ls="--", c="grey")
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed hit rate")
        save(fig, "calibration.png", "Calibration (hold-out, deciles)")
    elif data.kind is Kind.MULTICLASS:
        assert data.classes is not None
        confusion(y, np.asarray(pred), data.classes, "confusion.png")
    if data.kind in (Kind.REGRESSION, Kind.MULTITASK):
        values = np.asarray(pred["popularity"] if isinstance(pred, dict) else pred)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(y, values, s=3, alpha=0.25)
        ax.plot([0, 100], [0, 100], ls="--", c="grey")
        ax.set_xlabel("true popularity")
        ax.set_ylabel("predicted popularity")
        rmse = regression_metrics(y, values)["rmse"]
        ax.set_title(f"RMSE {rmse:.2f}")
        save(fig, "predicted_vs_true.png", "Predicted vs true (hold-out)")
    if data.kind is Kind.MULTITASK and isinstance(pred, dict) and data.y_genre is not None:
        assert data.classes is not None
        confusion(data.y_genre[result.holdout_rows], pred["genre"], data.classes, "confusion.png")
    importance = feature_importance(result)
    if importance:
        names = [n for n, _ in importance][:20][::-1]
        drops = [v for _, v in importance][:20][::-1]
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.5))
        ax.barh(names, drops)
        ax.set_xlabel(f"drop in {result.primary} when shuffled")
        save(fig, "feature_importance.png", "Permutation importance of the inputs (hold-out)")
    return made


def _fmt(summary: dict[str, Any]) -> str:
    mean, std = summary["mean"], summary["std"]
    return f"{mean:.4f} &plusmn; {std:.4f}"


def _table(
    board: dict[str, dict[str, Any]], metrics: tuple[str, ...], best: str, inputs: bool = False
) -> str:
    shown = [m for m in metrics if any(m in s for s in board.values())]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in shown)
    rows = []
    for name, summary in board.items():
        cells = "".join(
            f"<td>{_fmt(summary[m]) if m in summary else '&ndash;'}</td>" for m in shown
        )
        seconds = summary.get("fit_seconds", {}).get("mean", float("nan"))
        mark = ' class="best"' if name == best else ""
        said = f"<td class='inputs'>{html.escape(summary['inputs'])}</td>" if inputs else ""
        rows.append(
            f"<tr{mark}><td>{html.escape(name)}</td>{cells}<td>{seconds:.1f}</td>{said}</tr>"
        )
    extra = "<th>inputs</th>" if inputs else ""
    return f"<table><tr><th>model</th>{head}<th>fit s</th>{extra}</tr>{''.join(rows)}</table>"


def _inputs_text(features: tuple[str, ...]) -> str:
    return ", ".join(
        label if len(columns) == 1 else f"{label} ({len(columns)} columns)"
        for label, columns in _input_groups(features)
    )


def _ablation(result: TrainResult, metrics: tuple[str, ...]) -> list[str]:
    if not result.ablation:
        return []
    return [
        "<h2>Ablations of the multimodal model (same rows, same folds)</h2>",
        "<p>Each row is cross-validated on the development rows and folds of the "
        "leaderboard: what the multimodal network loses without a modality, and XGBoost on "
        "the inputs of other feature sets for the same songs.</p>",
        _table(result.ablation, metrics, "", inputs=True),
    ]


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}tr.best{background:#e6f4ea}
img{max-width:48%;margin:4px;border:1px solid #eee}code{background:#f4f4f4;padding:1px 4px}
td.inputs{text-align:left;font-size:85%;max-width:28em}"""


def write_report(result: TrainResult, command: str = "") -> Path:
    """Write the report folder; returns the path of ``index.html``."""
    config, data = result.config, result.data
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = (
        config.report_dir / f"{config.task.value}-{data.dataset}-{data.feature_set.value}-{stamp}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    plots = _plots(result, folder)
    metrics = _SHOWN[data.kind]
    parts = [
        f"<h1>HitPred training: {html.escape(config.task.value)} on "
        f"{html.escape(data.dataset)}</h1>",
        f"<p>Command: <code>{html.escape(command)}</code></p>" if command else "",
        f"<p>Feature set <b>{data.feature_set.value}</b>: {len(data.features)} inputs "
        f"(<code>{html.escape(_inputs_text(data.features))}</code>). "
        f"{len(data.y):,} usable rows after dropping {data.n_duplicates_dropped:,} repeated "
        f"recordings (of {data.n_rows_loaded:,} loaded).</p>",
        f"<h2>Leaderboard: {config.folds}-fold stratified group cross-validation "
        f"on the development rows (mean &plusmn; std)</h2>",
        _table(result.leaderboard, metrics, result.best),
        f"<p>Ranked by <b>{html.escape(result.primary)}</b>; chosen: "
        f"<b>{html.escape(result.best)}</b>. XGBoost picks its depth/learning rate and its "
        "number of rounds (early stopping) inside each training fold.</p>",
    ]
    if data.kind is Kind.MULTICLASS and data.classes:
        per_class = result.leaderboard[result.best].get("recall_per_class", {}).get("mean")
        if per_class:
            cells = "".join(
                f"<tr><td>{html.escape(c)}</td><td>{r:.3f}</td></tr>"
                for c, r in zip(data.classes, per_class, strict=False)
            )
            parts.append(
                "<h3>Per-class recall of the chosen model (cross-validated)</h3>"
                f"<table><tr><th>class</th><th>recall</th></tr>{cells}</table>"
            )
    if result.artist_disjoint:
        parts += [
            "<h2>Artist-disjoint cross-validation (no artist on both sides)</h2>",
            "<p>The artist feature set uses the artist's record in the training rows. "
            "Read this table, not the one above, for new artists: the labels of these data "
            "sets were built per artist, so the random split flatters it.</p>",
            _table(result.artist_disjoint, metrics, result.best),
        ]
    parts += _ablation(result, metrics)
    if result.embeddings:
        used = ", ".join(
            f"{k}: <code>{html.escape(v)}</code>" for k, v in result.embeddings.items()
        )
        parts.append(
            f"<p>Embedding encoders ({used}), recorded in the bundle: the stream serves it only "
            "embeddings from the same encoders.</p>"
        )
    holdout = {k: v for k, v in result.holdout_metrics.items() if isinstance(v, float)}
    parts += [
        f"<h2>Hold-out ({len(result.holdout_rows):,} rows, never used above)</h2>",
        "<table>"
        + "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in holdout.items())
        + "</table>",
        "<h2>Plots</h2>",
        "".join(
            f'<img src="{name}" alt="{html.escape(title)}" title="{html.escape(title)}">'
            for name, title in plots
        ),
    ]
    if result.bundle is not None:
        verdict = "champion" if result.promoted else "not promoted"
        parts.append(
            f"<h2>Registry</h2><p>Registered <b>{config.task.value} v{result.bundle.version}"
            f"</b> at <code>{html.escape(str(result.bundle.path))}</code>: {verdict} "
            f"({html.escape(result.promotion_reason)}).</p>"
        )
    if result.dataset_notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.dataset_notes)
        parts.append(f"<h2>Data notes</h2><ul>{notes}</ul>")
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
    parts.append(f"<p>Times: {html.escape(timing)}.</p>")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>HitPred "
        f"{config.task.value}</title><style>{_CSS}</style></head><body>"
        f"{''.join(parts)}</body></html>"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    summary = {
        "task": config.task.value,
        "dataset": data.dataset,
        "feature_set": data.feature_set.value,
        "best": result.best,
        "leaderboard": result.leaderboard,
        "artist_disjoint": result.artist_disjoint,
        "ablation": result.ablation,
        "embeddings": result.embeddings,
        "holdout": result.holdout_metrics,
        "seconds": result.seconds,
        "version": result.bundle.version if result.bundle else None,
        "promoted": result.promoted,
        "command": command,
    }
    (folder / "results.json").write_text(
        json.dumps(summary, indent=2, default=float), encoding="utf-8"
    )
    logger.info("report written to %s", index)
    return index
