"""Adapters: native formats round-trip, refuse each other's artifacts and untrusted types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from hitpred.errors import ModelError
from hitpred.models import multitask, torch_mlp
from hitpred.models import sklearn as sklearn_adapter
from hitpred.models import xgboost as xgboost_adapter
from hitpred.models.base import Task, TaskModel
from hitpred.models.pipeline import ADAPTERS, load_bundle_model
from tests.unit.models.factories import fitted


def _roundtrip(model, tmp_path: Path):  # type: ignore[no-untyped-def]
    record = model.save(tmp_path)
    manifest = {
        "task": model.task.value,
        "name": model.name,
        "feature_set": model.feature_set,
        "features": list(model.features),
        "classes": list(model.classes) if model.classes else None,
        "model": record,
        "version": "7",
    }
    return record, load_bundle_model(tmp_path, manifest)


@pytest.mark.parametrize(
    ("task", "name", "adapter", "suffix"),
    [
        (Task.HIT, "xgboost", "xgboost", ".ubj"),
        (Task.HIT, "random-forest", "sklearn", ".skops"),
        (Task.GENRE, "logistic-regression", "sklearn", ".skops"),
        (Task.TIER, "mlp", "torch", ".safetensors"),
        (Task.POPULARITY, "ridge", "sklearn", ".skops"),
        (Task.MULTITASK, "multitask", "torch-multitask", ".safetensors"),
    ],
)
def test_round_trip_predicts_the_same(task, name, adapter, suffix, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, data = fitted(task, name)
    record, loaded = _roundtrip(model, tmp_path)
    assert record["estimator"]["adapter"] == adapter
    assert (tmp_path / f"model{suffix}").is_file()
    assert isinstance(loaded, TaskModel)
    assert loaded.version == "7"
    frame = data.X.iloc[:50]
    before, after = model.predict(frame), loaded.predict(frame)
    for a, b in ((before.values, after.values), (before.probabilities, after.probabilities)):
        if a is None:
            assert b is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert before.classes == after.classes


def test_xgboost_explains_with_tree_contributions(tmp_path: Path) -> None:
    model, data = fitted(Task.HIT, "xgboost")
    _, loaded = _roundtrip(model, tmp_path)
    explanation = loaded.explain(data.X.iloc[:3], top_k=4)
    assert explanation is not None and len(explanation) == 3
    names = {name for row in explanation for name, _, _ in row}
    assert names <= set(model.features)
    assert all(len(row) == 4 for row in explanation)
    # danceability drives the synthetic hit label: it must show up among the top features.
    assert "danceability" in names


@pytest.mark.parametrize("module", list(ADAPTERS.values()))
def test_loader_refuses_another_adapters_artifact(module, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other = next(name for name in ADAPTERS if name != module.ADAPTER)
    with pytest.raises(ModelError, match="adapter"):
        module.load_model(tmp_path, {"adapter": other, "file": "model.bin"})


def test_loaders_refuse_foreign_file_formats(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04N.")
    for module in (sklearn_adapter, xgboost_adapter, torch_mlp, multitask):
        with pytest.raises(ModelError):
            module.load_model(tmp_path, {"adapter": module.ADAPTER, "file": "model.pkl"})


class Gadget:
    """A type no allow-list knows: skops records it by module path."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


def test_sklearn_adapter_refuses_untrusted_types(tmp_path: Path) -> None:
    sio.dump({"model": Gadget()}, tmp_path / "model.skops")
    with pytest.raises(ModelError, match="untrusted"):
        sklearn_adapter.load_model(tmp_path, {"adapter": "sklearn", "file": "model.skops"})


def test_torch_adapter_refuses_weights_of_another_shape(tmp_path: Path) -> None:
    model, _ = fitted(Task.HIT, "mlp")
    info = torch_mlp.save_model(model.estimator, tmp_path)
    info["hidden"] = [7]
    with pytest.raises(ModelError, match="shape"):
        torch_mlp.load_model(tmp_path, info)
