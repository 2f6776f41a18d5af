"""Small synthetic data sets and fitted models for the model, registry and training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hitpred.datasets.base import Dataset
from hitpred.features.vector import complete_frame
from hitpred.models.base import Task
from hitpred.schemas import popularity_tier

GENRES = ("rock", "jazz", "rap")


def synthetic_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A canonical frame with learnable targets for every task."""
    rng = np.random.default_rng(seed)
    genre = rng.choice(GENRES, size=n)
    dance = rng.uniform(0, 1, n)
    energy = rng.uniform(0, 1, n) + 0.3 * (genre == "rock")
    speech = rng.uniform(0, 0.3, n) + 0.4 * (genre == "rap")
    logit = 4 * (dance - 0.5) + 2 * (energy - 0.6)
    hit = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))).astype(int)
    popularity = np.clip(20 + 50 * dance + 10 * (genre == "rap") + rng.normal(0, 5, n), 0, 100)
    words = np.array(["love", "night", "remastered", "live", "baby", "opus"])
    titles = [" ".join(rng.choice(words, 2)) + f" {i}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "track_id": [f"t{i}" for i in range(n)],
            "title": titles,
            "artist": [f"artist {i % 40}" for i in range(n)],
            "danceability": dance,
            "energy": np.clip(energy, 0, 1),
            "speechiness": np.clip(speech, 0, 1),
            "tempo": rng.uniform(60, 180, n),
            "loudness": rng.uniform(-20, -2, n),
            "release_year": rng.integers(1980, 2020, n).astype(float),
            "genre": genre,
        }
    )
    frame = complete_frame(frame)
    frame["y_hit"] = pd.array(hit, dtype="Int64")
    frame["y_popularity"] = popularity
    frame["y_tier"] = [popularity_tier(p).value for p in popularity]
    frame["y_genre"] = genre
    frame["group"] = frame["track_id"]
    frame["duplicate"] = False
    frame["usable"] = True
    return frame


def synthetic_dataset(n: int = 300, seed: int = 0) -> Dataset:
    """A :class:`Dataset` over :func:`synthetic_frame` with every single task."""
    return Dataset(
        name="synthetic",
        source=Path("synthetic"),
        frame=synthetic_frame(n, seed),
        targets={
            t.value: c
            for t, c in (
                (Task.HIT, "y_hit"),
                (Task.POPULARITY, "y_popularity"),
                (Task.TIER, "y_tier"),
                (Task.GENRE, "y_genre"),
            )
        },
        extra_features=(),
        id_columns=("track_id",),
        group_column="group",
    )


def fitted(task: Task, model: str, n: int = 240, feature_set: str = "release"):  # type: ignore[no-untyped-def]
    """A fitted TaskModel of ``task`` (via the training job's own fitting code)."""
    from training.data import FeatureSet, prepare
    from training.job import fit_pipeline

    data = prepare(synthetic_dataset(n), task, FeatureSet(feature_set))
    return fit_pipeline(data, model, np.arange(len(data.y)), seed=0), data
