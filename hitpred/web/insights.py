"""What makes hits: the figures the insights page draws, computed once per server.

- :func:`dataset_insights`: from a training data set read with
  :func:`hitpred.datasets.load_dataset` (one with hit labels, e.g. the Spotify hit predictor):
  each descriptor's mean for hits and flops per decade, the class distribution (overall and
  per decade), a sample of danceability against energy per class, and the most frequent words
  of hit titles (with their frequency among flop titles for contrast);
- :func:`model_insights`: the served champions' feature importances
  (:func:`hitpred.models.importance.feature_importances`, which names its method);
- :func:`registry_reports`: what the registry's manifests record about each champion
  (metrics, data set, evaluation, created-at).

Duplicate recordings (the loader's ``duplicate`` column) and rows without a label are left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hitpred.errors import DatasetError
from hitpred.models.base import Task, TaskModel
from hitpred.models.importance import feature_importances

__all__ = [
    "TRENDS",
    "dataset_insights",
    "model_insights",
    "registry_reports",
    "title_words",
]

#: Descriptors drawn across decades: (column, label, how the value is shown).
TRENDS: tuple[tuple[str, str, str], ...] = (
    ("danceability", "Danceability", "0-1"),
    ("energy", "Energy", "0-1"),
    ("valence", "Valence", "0-1"),
    ("acousticness", "Acousticness", "0-1"),
    ("instrumentalness", "Instrumentalness", "0-1"),
    ("speechiness", "Speechiness", "0-1"),
    ("liveness", "Liveness", "0-1"),
    ("loudness", "Loudness", "dB"),
    ("tempo", "Tempo", "BPM"),
    ("duration_min", "Duration", "minutes"),
    ("mode", "Share in a major key", "0-1"),
)
SCATTER_PER_CLASS = 600
TOP_WORDS = 20
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_STOP = frozenset(
    """a all an and are as at be but by do for from he her his i i'm if in is it it's just me
    my no not of on one or our she so that the this to up we what when with you you're your
    feat ft featuring vs don't can't ain't de la le el en""".split()
)


def dataset_insights(path: Path, seed: int = 0) -> dict[str, Any]:
    """The data-set figures of the page; DatasetError when the data has no hit labels."""
    from hitpred.datasets import load_dataset

    dataset = load_dataset(path)
    if "hit" not in dataset.targets:
        raise DatasetError(
            f"{dataset.name} has no hit labels: the insights page needs a data set with hits "
            "and flops (e.g. the Spotify hit predictor)"
        )
    frame = _rows(dataset.frame, dataset.targets["hit"])
    return {
        "dataset": {"name": dataset.name, "path": str(path), "rows": len(frame)},
        "trends": _trends(frame),
        "classes": _classes(frame),
        "scatter": _scatter(frame, seed),
        "title_words": title_words(frame),
    }


def _rows(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    keep = frame[target].notna()
    if "duplicate" in frame.columns:
        keep &= ~frame["duplicate"].astype(bool)
    rows = frame.loc[keep].copy()
    rows["label"] = np.where(rows[target].astype(int) == 1, "hit", "flop")
    decade = rows["decade"] if "decade" in rows.columns else pd.Series(np.nan, index=rows.index)
    if "release_year" in rows.columns:
        decade = decade.fillna((rows["release_year"] // 10) * 10)
    rows["decade"] = decade
    rows["duration_min"] = rows["duration_ms"] / 60_000.0
    return rows


def _trends(frame: pd.DataFrame) -> dict[str, Any]:
    dated = frame[frame["decade"].notna()]
    decades = sorted(int(d) for d in dated["decade"].unique())
    series: list[dict[str, Any]] = []
    for column, label, unit in TRENDS:
        means = dated.groupby(["decade", "label"])[column].mean()
        by_class: dict[str, list[float | None]] = {}
        for cls in ("hit", "flop"):
            by_class[cls] = [_round(means.get((float(d), cls))) for d in decades]
        series.append({"descriptor": column, "label": label, "unit": unit, **by_class})
    return {"decades": [f"{d}s" for d in decades], "series": series}


def _classes(frame: pd.DataFrame) -> dict[str, Any]:
    counts = frame["label"].value_counts()
    dated = frame[frame["decade"].notna()]
    per = dated.groupby(["decade", "label"]).size()
    decades = sorted(int(d) for d in dated["decade"].unique())
    return {
        "total": {cls: int(counts.get(cls, 0)) for cls in ("hit", "flop")},
        "decades": [f"{d}s" for d in decades],
        "hit": [int(per.get((float(d), "hit"), 0)) for d in decades],
        "flop": [int(per.get((float(d), "flop"), 0)) for d in decades],
    }


def _scatter(frame: pd.DataFrame, seed: int) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    both = frame.dropna(subset=["danceability", "energy"])
    for cls in ("hit", "flop"):
        rows = both[both["label"] == cls]
        if len(rows) > SCATTER_PER_CLASS:
            rows = rows.sample(SCATTER_PER_CLASS, random_state=seed)
        points = rows[["danceability", "energy"]].round(3).to_numpy().tolist()
        out[cls] = points
    return out


def title_words(frame: pd.DataFrame, top: int = TOP_WORDS) -> list[dict[str, Any]]:
    """The most frequent words of hit titles: count, and frequency per 1,000 hit and flop
    titles (a word counts once per title)."""
    counts: dict[str, Counter[str]] = {}
    titles: dict[str, int] = {}
    for cls in ("hit", "flop"):
        column = frame.loc[frame["label"] == cls, "title"].dropna().astype(str)
        titles[cls] = max(len(column), 1)
        counter: Counter[str] = Counter()
        for title in column:
            words = {w for w in _WORD.findall(title.lower()) if len(w) > 1 and w not in _STOP}
            counter.update(words)
        counts[cls] = counter
    return [
        {
            "word": word,
            "hits": n,
            "per_1000_hits": round(1000.0 * n / titles["hit"], 2),
            "per_1000_flops": round(1000.0 * counts["flop"][word] / titles["flop"], 2),
        }
        # Ties broken by the word itself, so the chart is the same from one run to the next.
        for word, n in sorted(counts["hit"].items(), key=lambda item: (-item[1], item[0]))[:top]
    ]


def model_insights(
    models: Mapping[Task, Sequence[TaskModel]], top_k: int = 12
) -> list[dict[str, Any]]:
    """Per served model, its top feature importances and the method they come from."""
    out: list[dict[str, Any]] = []
    for task, served in models.items():
        for model in served:
            found = feature_importances(model, top_k)
            out.append(
                {
                    "task": str(task),
                    "name": model.name,
                    "version": model.version,
                    "feature_set": model.feature_set,
                    "method": found.method if found else None,
                    "features": [name for name, _ in found.items] if found else [],
                    "importances": [round(v, 4) for _, v in found.items] if found else [],
                }
            )
    return out


def registry_reports(registry_uri: str) -> list[dict[str, Any]]:
    """What the registry's manifests say about each task's champions (empty: no registry)."""
    from hitpred.models.base import PREDICTION_TASKS
    from hitpred.registry import open_registry

    store = open_registry(registry_uri)
    if not store.root.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for task in PREDICTION_TASKS:
        for feature_set, version in store.champions(task).items():
            manifest = store.manifest(task, version)
            metrics = manifest.get("metrics") or {}
            out.append(
                {
                    "task": task.value,
                    "version": version,
                    "name": manifest.get("name"),
                    "feature_set": feature_set,
                    "dataset": (manifest.get("data") or {}).get("dataset"),
                    "created_at": manifest.get("created_at"),
                    "metrics": {
                        k: round(float(v), 4)
                        for k, v in metrics.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)
                    },
                }
            )
    return out


def _round(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if np.isnan(number) else round(number, 4)
