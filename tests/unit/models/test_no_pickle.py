"""The no-pickle guarantee: bundles hold no pickle and load with pickle switched off."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from hitpred.models.base import Task
from hitpred.models.pipeline import MultitaskModel, PipelineModel
from hitpred.registry import RegistryStore
from tests.unit.models.factories import fitted

_NAMES = ("xgboost", "random-forest", "mlp", "logistic-regression")


def _register_all(root: Path) -> RegistryStore:
    store = RegistryStore(root)
    for name in _NAMES:
        model, _ = fitted(Task.HIT, name)
        store.register(model, metrics={}, evaluation={}, data={})
    model, _ = fitted(Task.MULTITASK, "multitask")
    store.register(model, metrics={}, evaluation={}, data={}, classes=model.classes)
    store.register(_multimodal(), metrics={}, evaluation={}, data={})
    return store


def _multimodal() -> PipelineModel | MultitaskModel:
    """A hit model of the multimodal network, on generated embeddings."""
    from tests.unit.training.test_serving_feature_sets import full_dataset
    from training.data import FeatureSet, prepare
    from training.job import fit_pipeline

    data = prepare(full_dataset(120), Task.HIT, FeatureSet.MULTIMODAL)
    return fit_pipeline(data, "multimodal", np.arange(len(data.y)), seed=0)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RegistryStore:
    return _register_all(tmp_path_factory.mktemp("registry"))


def test_no_file_is_a_pickle(store: RegistryStore) -> None:
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert path.suffix in {".json", ".skops", ".ubj", ".safetensors"}, path
        head = path.read_bytes()[:2]
        # Every pickle protocol >= 2 starts with PROTO (0x80); .skops files are zip archives.
        assert head[:1] != b"\x80", path


def test_bundles_load_with_pickle_disabled(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used while loading a bundle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    _, data = fitted(Task.HIT, "xgboost", n=120)
    adapters = set()
    for task in (Task.HIT, Task.MULTITASK):
        for version in store.versions(task):
            loaded = store.load(task, version)
            output = loaded.predict(data.X.iloc[:10])
            assert output.task is task
            adapters.add(getattr(loaded, "manifest", {})["model"]["estimator"]["adapter"])
    assert "multimodal" in adapters
