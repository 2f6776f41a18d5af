"""The multimodal network, its adapter, the lyrics embedding cache and the training run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hitpred.datasets.base import Dataset
from hitpred.errors import ModelError
from hitpred.models import multimodal
from hitpred.models.base import Task
from hitpred.models.multimodal import MultimodalNet
from hitpred.registry import RegistryStore
from tests.unit.models.factories import synthetic_dataset
from tests.unit.training.test_serving_feature_sets import full_dataset
from training.ablation import drop_inputs, plan_ablations, run_ablations
from training.data import FeatureSet, TrainingData, prepare
from training.embeddings import cache_path, embed_lyrics, with_lyrics_embeddings
from training.evaluate import fold_splits
from training.job import TrainConfig, fit_pipeline, run_training
from training.report import write_report

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
HAPPY = ("sun", "dance", "party", "shine", "gold")
SAD = ("rain", "grey", "alone", "cold", "tears")


class FakeEncoder:
    """A deterministic bag-of-words encoder: each word adds to one hashed dimension."""

    def __init__(self, dim: int = 16, model_id: str = "fake/bow") -> None:
        self.dim = dim
        self.model_id = f"{model_id}-{dim}"
        self.encoded = 0  # texts encoded so far (cache hits are not encoded)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype="float32")
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def lyrical_dataset(n: int = 160, seed: int = 0) -> Dataset:
    """The synthetic data set with lyrics whose words follow the hit label (every 10th row has
    none) and a popularity that the lyrics raise."""
    base = synthetic_dataset(n, seed)
    rng = np.random.default_rng(seed)
    frame = base.frame.copy()
    hits = frame["y_hit"].to_numpy(dtype=int)
    frame["lyrics"] = [
        None if i % 10 == 0 else " ".join(rng.choice(HAPPY if hit else SAD, 6))
        for i, hit in enumerate(hits)
    ]
    return dataclasses.replace(base, frame=frame)


def _toy(n: int, seed: int, lyrics_dim: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Tabular noise, then a lyrics block (flag 0 + vector) whose direction gives the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    tabular = rng.normal(size=(n, 5))
    lyrics = rng.normal(size=(n, lyrics_dim))
    lyrics[:, 0] += np.where(y == 1, 1.5, -1.5)
    return np.c_[tabular, np.zeros(n), lyrics].astype("float32"), y


def test_the_net_learns_a_signal_carried_by_the_lyrics_branch() -> None:
    X, y = _toy(400, seed=1)
    X_test, y_test = _toy(300, seed=2)
    net = MultimodalNet(lyrics_dim=12, random_state=0).fit(X, y)
    accuracy = float((net.predict(X_test) == y_test).mean())
    assert accuracy > 0.8  # chance is 0.5; the Bayes rate ~0.93
    proba = net.predict_proba(X_test)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(axis=1), 1.0)
    blind = MultimodalNet(random_state=0).fit(X[:, :5], y)  # tabular noise only
    assert float((blind.predict(X_test[:, :5]) == y_test).mean()) < 0.65


def test_a_fit_is_reproducible_from_its_seed() -> None:
    X, y = _toy(200, seed=6)
    first = MultimodalNet(lyrics_dim=12, random_state=3).fit(X, y).predict_proba(X)
    again = MultimodalNet(lyrics_dim=12, random_state=3).fit(X, y).predict_proba(X)
    other = MultimodalNet(lyrics_dim=12, random_state=4).fit(X, y).predict_proba(X)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_missing_modality_contributes_nothing_whatever_its_values() -> None:
    X, y = _toy(300, seed=3, lyrics_dim=6)
    rng = np.random.default_rng(4)
    audio = rng.normal(size=(300, 4)).astype("float32")
    flag = (rng.uniform(size=300) < 0.4).astype("float32")
    audio[flag == 1] = 0.0
    X = np.c_[X, flag, audio]
    net = MultimodalNet(lyrics_dim=6, audio_dim=4, random_state=0).fit(X, y)
    garbage = X.copy()
    garbage[flag == 1, -4:] = 1e3  # values under a "missing" flag must be ignored
    assert np.array_equal(net.predict_proba(X), net.predict_proba(garbage))
    present = X.copy()
    present[flag == 0, -4:] += 5.0
    assert not np.allclose(net.predict_proba(X)[flag == 0], net.predict_proba(present)[flag == 0])


def test_the_regressor_predicts_on_the_target_scale() -> None:
    X, _ = _toy(400, seed=5)
    values = 50 + 20 * X[:, 6]  # the first lyrics dimension
    net = MultimodalNet(kind="regressor", lyrics_dim=12, random_state=0).fit(X, values)
    prediction = net.predict(X)
    assert np.corrcoef(prediction, values)[0, 1] > 0.8
    assert abs(float(prediction.mean()) - float(values.mean())) < 5


def test_a_bundle_round_trips_through_the_registry_with_identical_predictions(
    tmp_path: Path,
) -> None:
    data = prepare(full_dataset(), Task.TIER, FeatureSet.MULTIMODAL)
    model = fit_pipeline(data, "multimodal", np.arange(len(data.y)), seed=0)
    assert isinstance(model.estimator, MultimodalNet)
    assert model.estimator.lyrics_dim == 8 and model.estimator.audio_dim == 4
    store = RegistryStore(tmp_path)
    info = store.register(
        model,
        metrics={},
        evaluation={},
        data={},
        classes=data.classes,
        extra={"embeddings": {"lyrics": "fake/bow-8"}},
    )
    assert info.manifest["model"]["estimator"]["adapter"] == "multimodal"
    assert {p.suffix for p in info.path.iterdir()} == {".json", ".skops", ".safetensors"}
    loaded = store.load(Task.TIER, info.version)
    frame = full_dataset().frame  # raw rows, including rows without lyrics or audio
    before, after = model.predict(frame), loaded.predict(frame)
    assert before.probabilities is not None and after.probabilities is not None
    assert np.array_equal(before.probabilities, after.probabilities)
    assert getattr(loaded, "manifest", {})["embeddings"] == {"lyrics": "fake/bow-8"}


def test_the_adapter_refuses_another_adapters_artifact(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="torch"):
        multimodal.load_model(tmp_path, {"adapter": "torch", "file": "model.safetensors"})
    with pytest.raises(ModelError, match="fitted MultimodalNet"):
        multimodal.save_model(MultimodalNet(), tmp_path)


def test_the_embedding_cache_is_hit_on_the_second_run(tmp_path: Path) -> None:
    texts = ["sun dance", None, "rain", "  ", "sun dance"]
    encoder = FakeEncoder()
    seen: list[tuple[int, int]] = []
    first = embed_lyrics(
        texts, encoder, cache_dir=tmp_path, progress=lambda d, t: seen.append((d, t))
    )
    assert encoder.encoded == 3  # the repeated text is encoded twice in a cold run
    assert np.isnan(first[1]).all() and np.isnan(first[3]).all()
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    path = cache_path(tmp_path, encoder.model_id, "rain")
    assert np.array_equal(np.load(path, allow_pickle=False), first[2])
    second = embed_lyrics(texts, encoder, cache_dir=tmp_path)
    assert encoder.encoded == 3  # nothing re-encoded
    assert np.array_equal(first, second, equal_nan=True)
    other = FakeEncoder(model_id="fake/other")
    embed_lyrics(texts, other, cache_dir=tmp_path)
    assert other.encoded == 3  # another encoder never reads these vectors


def test_only_usable_first_rows_are_embedded(tmp_path: Path) -> None:
    dataset = lyrical_dataset(60)
    frame = dataset.frame.copy()
    frame.loc[1, "duplicate"] = True
    encoder = FakeEncoder(dim=8)
    enriched = with_lyrics_embeddings(
        dataclasses.replace(dataset, frame=frame), encoder, cache_dir=None
    )
    assert encoder.encoded == 60 - 6 - 1  # six rows without lyrics, one duplicate
    assert enriched.frame["lyrics_emb_007"].notna().sum() == 53
    assert len(enriched.frame) == 60


def test_ablations_keep_the_rows_and_folds_and_drop_one_modality_each() -> None:
    dataset = with_lyrics_embeddings(lyrical_dataset(150), FakeEncoder(), cache_dir=None)
    data = prepare(dataset, Task.HIT, FeatureSet.MULTIMODAL)
    variants = {v.name: v for v in plan_ablations(dataset, data, (), ["multimodal"])}
    assert list(variants) == [
        "multimodal without lyrics",
        "multimodal without descriptors",
        "xgboost on release inputs",
        "xgboost on lyrics inputs",
    ]
    built = {name: v.data for name, v in variants.items() if v.data is not None}
    assert len(built) == 4
    assert built["multimodal without lyrics"].lyrics_embedding == ()
    assert not [c for c in built["multimodal without lyrics"].X if c.startswith("lyrics_emb")]
    no_descriptors = built["multimodal without descriptors"]
    assert not set(no_descriptors.features) & {"danceability", "energy", "tempo", "loudness"}
    assert no_descriptors.lyrics_embedding == data.lyrics_embedding
    assert "lyrics" in built["xgboost on release inputs"].text  # TF-IDF of the same lyrics
    dev = np.arange(100)
    expected = [test.tolist() for _, test in fold_splits(data, 3, 42, dev)]
    for other in built.values():
        assert [test.tolist() for _, test in fold_splits(other, 3, 42, dev)] == expected

    calls: list[tuple[tuple[str, ...], list[str]]] = []

    def cross_validate(
        d: TrainingData, names: list[str], rows: np.ndarray
    ) -> dict[str, dict[str, Any]]:
        calls.append((d.features, names))
        return {names[0]: {"roc_auc": {"mean": 0.5 + 0.01 * len(calls), "std": 0.0}}}

    board = {"multimodal": {"roc_auc": {"mean": 0.9, "std": 0.01}}}
    table = run_ablations(list(variants.values()), board, data, dev, cross_validate)
    assert [names for _, names in calls] == [["multimodal"]] * 2 + [["xgboost"]] * 2
    assert table["multimodal on multimodal inputs"]["roc_auc"]["mean"] == 0.9
    assert table["xgboost on lyrics inputs"]["roc_auc"]["mean"] == 0.54
    assert table["xgboost on lyrics inputs"]["inputs"].endswith("16-d lyrics embedding")


def test_an_impossible_ablation_is_listed_with_its_reason() -> None:
    dataset = with_lyrics_embeddings(lyrical_dataset(150), FakeEncoder(), cache_dir=None)
    data = drop_inputs(
        prepare(dataset, Task.HIT, FeatureSet.MULTIMODAL),
        ("danceability", "energy", "speechiness", "tempo", "loudness"),
    )
    variants = {v.name: v for v in plan_ablations(dataset, data, (), ["multimodal"])}
    skipped = variants["multimodal without descriptors"]
    assert skipped.data is None and skipped.inputs.startswith("skipped: ")
    table = run_ablations([skipped], {}, data, np.arange(10), lambda d, n, r: {})
    assert table == {"multimodal without descriptors": {"inputs": skipped.inputs}}


@pytest.mark.slow
def test_run_training_with_multimodal_reports_ablations_and_the_encoder(tmp_path: Path) -> None:
    encoder = FakeEncoder()
    config = TrainConfig(
        task=Task.HIT,
        data=Path("synthetic"),
        registry_uri=str(tmp_path / "registry"),
        report_dir=tmp_path / "reports",
        models=["multimodal"],
        folds=2,
        lyrics_encoder=encoder,
        embedding_cache=tmp_path / "cache",
    )
    dataset = lyrical_dataset(140)
    result = run_training(config, load=lambda _: dataset)
    assert result.config.feature_set is FeatureSet.MULTIMODAL  # chosen for the model
    assert len(result.data.y) == 126  # 14 rows without lyrics left out
    assert result.leaderboard["multimodal"]["roc_auc"]["mean"] > 0.8  # the lyrics carry it
    assert list(result.ablation) == [
        "multimodal on multimodal inputs",
        "multimodal without lyrics",
        "multimodal without descriptors",
        "xgboost on release inputs",
        "xgboost on lyrics inputs",
    ]
    assert "roc_auc" in result.ablation["multimodal without lyrics"]
    assert "16-d lyrics embedding" not in result.ablation["multimodal without lyrics"]["inputs"]
    assert result.bundle is not None
    assert result.bundle.manifest["embeddings"] == {"lyrics": encoder.model_id}
    index = write_report(result, command="test")
    assert "Ablations of the multimodal model" in index.read_text()
    saved = json.loads((index.parent / "results.json").read_text())
    assert saved["ablation"]["xgboost on lyrics inputs"]["roc_auc"]["mean"] > 0.5
    assert saved["embeddings"] == {"lyrics": encoder.model_id}


@pytest.mark.slow
def test_popularity_on_poplyrics_with_the_real_encoder(tmp_path: Path) -> None:
    folder = SHARED / "poplyrics-1k"
    if not folder.is_dir():
        pytest.skip(f"real data sets not found at {SHARED}")
    from hitpred.datasets import load_dataset

    full = load_dataset(folder)
    dataset = dataclasses.replace(full, frame=full.frame.iloc[:200].reset_index(drop=True))
    config = TrainConfig(
        task=Task.POPULARITY,
        data=folder,
        registry_uri=str(tmp_path / "registry"),
        report_dir=tmp_path / "reports",
        models=["multimodal"],
        folds=3,
        embedding_cache=tmp_path / "cache",
    )
    result = run_training(config, load=lambda _: dataset)
    assert result.data.lyrics_embedding[0] == "lyrics_emb_000"
    assert len(result.data.lyrics_embedding) == 384
    rmse = result.leaderboard["multimodal"]["rmse"]["mean"]
    spread = float(np.std(result.data.y))
    assert 0 < rmse < 2 * spread  # trained and finite, not a claim that it is good
    assert result.embeddings["lyrics"].startswith("all-MiniLM-L6-v2@")
    assert "multimodal without lyrics" in result.ablation
    assert len(list((tmp_path / "cache").rglob("*.npy"))) >= 190
