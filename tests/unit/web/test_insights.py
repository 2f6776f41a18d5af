"""The insights figures: from a small data set in the Spotify hit predictor's format, and the
baseline champions' importances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hitpred.errors import DatasetError
from hitpred.models.base import Task, TaskModel
from hitpred.models.importance import feature_importances
from hitpred.web.insights import TRENDS, dataset_insights, model_insights

COLUMNS = (
    "track,artist,uri,danceability,energy,key,loudness,mode,speechiness,acousticness,"
    "instrumentalness,liveness,valence,tempo,duration_ms,time_signature,chorus_hit,sections,target"
).split(",")


def _spotify_folder(root: Path, rows_per_decade: int = 40) -> Path:
    rng = np.random.default_rng(3)
    folder = root / "spotify-hit-predictor"
    folder.mkdir()
    for decade in ("60s", "90s", "10s"):
        rows = []
        for i in range(rows_per_decade):
            hit = i % 2
            rows.append(
                {
                    "track": f"{'Love' if hit else 'Sonata'} number {i} {decade}",
                    "artist": f"Artist {i}",
                    "uri": f"spotify:track:{decade}{i:04d}",
                    "danceability": 0.4 + 0.3 * hit + 0.05 * rng.random(),
                    "energy": 0.5 + 0.1 * rng.random(),
                    "key": int(rng.integers(0, 12)),
                    "loudness": -8.0 - 4 * (1 - hit),
                    "mode": 1,
                    "speechiness": 0.05,
                    "acousticness": 0.2,
                    "instrumentalness": 0.0,
                    "liveness": 0.1,
                    "valence": 0.5,
                    "tempo": 120.0,
                    "duration_ms": 200_000,
                    "time_signature": 4,
                    "chorus_hit": 30.0,
                    "sections": 9,
                    "target": hit,
                }
            )
        pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / f"dataset-of-{decade}.csv", index=False)
    return folder


def test_dataset_insights(tmp_path: Path) -> None:
    found = dataset_insights(_spotify_folder(tmp_path))
    assert found["dataset"]["rows"] == 120
    trends = found["trends"]
    assert trends["decades"] == ["1960s", "1990s", "2010s"]
    assert [s["descriptor"] for s in trends["series"]] == [t[0] for t in TRENDS]
    dance = next(s for s in trends["series"] if s["descriptor"] == "danceability")
    assert all(h > f for h, f in zip(dance["hit"], dance["flop"], strict=True))
    assert found["classes"]["total"] == {"hit": 60, "flop": 60}
    assert found["classes"]["hit"] == [20, 20, 20]
    assert len(found["scatter"]["hit"]) == 60 and len(found["scatter"]["hit"][0]) == 2
    words = {w["word"]: w for w in found["title_words"]}
    assert words["love"]["hits"] == 60  # in every hit title, in no flop title
    assert words["love"]["per_1000_hits"] == 1000.0 and words["love"]["per_1000_flops"] == 0.0
    assert words["number"]["per_1000_flops"] == 1000.0  # in every title
    assert "sonata" not in words  # flop titles only


def test_a_data_set_without_hit_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    pd.DataFrame(
        {"track_id": ["a"], "title": ["x"], "artists": ["y"], "popularity": [40], "tempo": [100]}
    ).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="no hit labels"):
        dataset_insights(path)


def test_importances_of_the_baseline(baseline_models: dict[Task, TaskModel]) -> None:
    found = feature_importances(baseline_models[Task.HIT])
    assert found is not None and found.method == "xgboost total gain"
    shares = [v for _, v in found.items]
    assert abs(sum(shares) - 1.0) < 1e-9 and shares == sorted(shares, reverse=True)
    served = model_insights({task: [m] for task, m in baseline_models.items()}, top_k=5)
    assert {m["task"] for m in served} == {"hit", "popularity", "genre"}
    assert all(len(m["features"]) == 5 for m in served)
