"""Which models a worker serves: registry champions per feature set, else the baseline."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from hitpred.baseline import BASELINE_VERSION
from hitpred.champions import load_models
from hitpred.errors import ModelError
from hitpred.models.base import Task
from hitpred.settings import Settings


def _isolated_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings whose registry folder and Redis namespace no other test or run uses."""
    values: dict[str, Any] = {
        "registry_uri": str(tmp_path / "registry"),
        "registry_cache_prefix": f"hitpred-test-{uuid.uuid4().hex[:10]}:",
        # Nothing answers here: the models come from the folder, or the baseline.
        "redis_url": "redis://127.0.0.1:1/0",
    }
    values.update(overrides)
    return Settings(**values)


def test_load_models_returns_the_baseline_without_a_registry(tmp_path: Path) -> None:
    models = load_models(_isolated_settings(tmp_path))
    assert set(models) == {Task.HIT, Task.POPULARITY, Task.GENRE}
    assert all([m.version for m in ms] == [BASELINE_VERSION] for ms in models.values())


def test_load_models_prefers_registry_champions(tmp_path: Path) -> None:
    from hitpred.registry import RegistryStore
    from tests.unit.models.factories import fitted

    settings = _isolated_settings(tmp_path)
    store = RegistryStore(settings.registry_uri)
    hit, _ = fitted(Task.HIT, "xgboost", n=150)
    store.promote(Task.HIT, store.register(hit, metrics={}, evaluation={}, data={}).version)
    models = load_models(settings)
    assert [(m.version, m.name) for m in models[Task.HIT]] == [("1", hit.name)]
    # Tasks without a champion keep being served, by the clearly marked baseline.
    assert [m.version for m in models[Task.POPULARITY]] == [BASELINE_VERSION]
    assert [m.version for m in models[Task.GENRE]] == [BASELINE_VERSION]


def test_load_models_does_not_serve_champions_the_stream_cannot_feed(tmp_path: Path) -> None:
    from hitpred.registry import RegistryStore
    from tests.unit.models.factories import fitted

    settings = _isolated_settings(tmp_path)
    store = RegistryStore(settings.registry_uri)
    hit, _ = fitted(Task.HIT, "xgboost", n=150, feature_set="all")
    store.promote(Task.HIT, store.register(hit, metrics={}, evaluation={}, data={}).version)
    assert [m.version for m in load_models(settings)[Task.HIT]] == [BASELINE_VERSION]


def test_load_models_without_champions_or_fallback_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="hitpred train"):
        load_models(_isolated_settings(tmp_path, baseline_fallback=False))


def test_champions_of_several_feature_sets_are_all_served(tmp_path: Path) -> None:
    from hitpred.registry import RegistryStore
    from tests.unit.models.factories import fitted

    settings = _isolated_settings(tmp_path)
    store = RegistryStore(settings.registry_uri)
    for feature_set in ("release", "core", "all"):
        model, _ = fitted(Task.HIT, "logistic-regression", n=120, feature_set=feature_set)
        store.promote(Task.HIT, store.register(model, metrics={}, evaluation={}, data={}).version)
    assert store.champions(Task.HIT) == {"release": "1", "core": "2", "all": "3"}
    assert store.champion(Task.HIT) == "3"  # the last one promoted
    served = load_models(settings)[Task.HIT]
    assert sorted(m.feature_set for m in served) == ["core", "release"]
