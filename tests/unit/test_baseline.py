"""The synthetic catalog and the baseline models trained on it."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from hitpred.baseline import (
    BASELINE_NAME,
    BASELINE_VERSION,
    GENRES,
    MALFORMED_KINDS,
    malformed_release_messages,
    synthetic_catalog,
    synthetic_release_events,
)
from hitpred.errors import ModelError
from hitpred.features.vector import NUMERIC_FEATURES
from hitpred.models.base import Task, TaskModel
from hitpred.schemas import ReleaseEvent


def test_catalog_is_reproducible_and_plausible() -> None:
    a = synthetic_catalog(2000, seed=3)
    b = synthetic_catalog(2000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(synthetic_catalog(2000, seed=4))
    assert set(a["genre"]) == set(GENRES)
    for unit in ("danceability", "energy", "valence", "acousticness"):
        values = a[unit].dropna()
        assert values.between(0, 1).all()
    assert a["popularity"].between(0, 100).all()
    assert 0.1 < a["is_hit"].mean() < 0.4  # about one in four, as documented
    assert 0.0 < a["danceability"].isna().mean() < 0.1  # some descriptors are missing


def test_catalog_follows_its_documented_rule() -> None:
    frame = synthetic_catalog(5000, seed=5)
    # Hit-ness and popularity rise with the latent appeal, which rises with danceability.
    assert frame["appeal"].corr(frame["popularity"], method="spearman") > 0.9
    assert frame.groupby("is_hit")["appeal"].mean().diff().iloc[-1] > 0.5
    assert frame["danceability"].corr(frame["appeal"]) > 0.3
    assert frame["instrumentalness"].corr(frame["appeal"]) < -0.3
    by_genre = frame.groupby("genre")
    assert by_genre["speechiness"].mean().idxmax() == "hip-hop"
    assert by_genre["acousticness"].mean().idxmax() == "classical"


def test_release_events_are_valid_schema_events() -> None:
    events = synthetic_release_events(200, seed=2)
    parsed = [ReleaseEvent.model_validate_json(orjson.dumps(e)) for e in events]
    assert len({e.event_id for e in parsed}) == 200
    assert any(e.danceability is None for e in parsed)  # optional parts are exercised


def test_malformed_messages_are_all_kinds_and_all_invalid() -> None:
    bad = malformed_release_messages(len(MALFORMED_KINDS) * 2)
    assert [kind for kind, _, _ in bad[: len(MALFORMED_KINDS)]] == list(MALFORMED_KINDS)
    for kind, key, value in bad:
        if kind in ("missing-key", "key-mismatch"):
            event = ReleaseEvent.model_validate_json(value)  # the payload itself is fine
            assert key is None or key.decode() != event.track_id
        else:
            with pytest.raises(ValueError):
                ReleaseEvent.model_validate_json(value)


def test_models_honour_the_task_model_contract(baseline_models: dict[Task, TaskModel]) -> None:
    assert set(baseline_models) == {Task.HIT, Task.POPULARITY, Task.GENRE}
    for task, model in baseline_models.items():
        assert isinstance(model, TaskModel)
        assert model.task is task
        assert (model.name, model.version) == (BASELINE_NAME, BASELINE_VERSION)
        assert model.features == NUMERIC_FEATURES


def test_models_learned_the_rule(baseline_models: dict[Task, TaskModel]) -> None:
    from sklearn.metrics import r2_score, roc_auc_score

    holdout = synthetic_catalog(2000, seed=101)  # another seed: unseen tracks
    hit = baseline_models[Task.HIT].predict(holdout).values
    assert hit is not None and ((hit >= 0) & (hit <= 1)).all()
    assert roc_auc_score(holdout["is_hit"], hit) > 0.8
    pop = baseline_models[Task.POPULARITY].predict(holdout).values
    assert pop is not None and ((pop >= 0) & (pop <= 100)).all()
    assert r2_score(holdout["popularity"], pop) > 0.7
    genre = baseline_models[Task.GENRE].predict(holdout)
    assert genre.probabilities is not None and genre.classes == tuple(GENRES)
    np.testing.assert_allclose(genre.probabilities.sum(axis=1), 1.0, rtol=1e-4)
    predicted = np.array(genre.classes)[genre.probabilities.argmax(axis=1)]
    assert (predicted == holdout["genre"].to_numpy()).mean() > 0.6


def test_hit_explanations(baseline_models: dict[Task, TaskModel]) -> None:
    frame = synthetic_catalog(50, seed=9)
    explanation = baseline_models[Task.HIT].explain(frame, top_k=3)
    assert explanation is not None and len(explanation) == 50
    for row, triples in zip(frame.itertuples(), explanation, strict=True):
        assert len(triples) == 3
        magnitudes = [abs(c) for _, _, c in triples]
        assert magnitudes == sorted(magnitudes, reverse=True)
        for feature, value, _ in triples:
            assert feature in NUMERIC_FEATURES
            raw = getattr(row, feature)
            assert (value is None and pd.isna(raw)) or value == pytest.approx(raw, rel=1e-5)
    assert baseline_models[Task.GENRE].explain(frame) is None


def test_missing_feature_columns_are_a_model_error(
    baseline_models: dict[Task, TaskModel],
) -> None:
    with pytest.raises(ModelError, match="lacks feature columns"):
        baseline_models[Task.HIT].predict(pd.DataFrame({"energy": [0.5]}))
