"""The folder registry: versions, champions, manifests, integrity, atomic layout."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from hitpred.errors import IntegrityError, RegistryError
from hitpred.models.base import Task
from hitpred.registry import RegistryStore, load_bundle_bytes
from hitpred.registry.integrity import file_sha256, unpack_bundle
from tests.unit.models.factories import fitted


@pytest.fixture(scope="module")
def model_and_data():  # type: ignore[no-untyped-def]
    return fitted(Task.HIT, "logistic-regression", n=150)


def test_register_versions_and_manifest(tmp_path: Path, model_and_data) -> None:  # type: ignore[no-untyped-def]
    model, _ = model_and_data
    store = RegistryStore(f"file://{tmp_path}")
    first = store.register(model, metrics={"cv": 1}, evaluation={"k": 1}, data={"rows": 150})
    second = store.register(model, metrics={}, evaluation={}, data={})
    assert (first.version, second.version) == ("1", "2")
    assert store.versions(Task.HIT) == ["1", "2"]
    assert store.tasks() == [Task.HIT]
    manifest = json.loads((tmp_path / "hit" / "1" / "manifest.json").read_text())
    for key in ("task", "feature_set", "features", "metrics", "data", "libraries", "created_at"):
        assert key in manifest
    assert manifest["features"] == list(model.features)
    assert set(manifest["files"]) == {"preprocess.skops", "model.skops"}
    for name, digest in manifest["files"].items():
        assert file_sha256(tmp_path / "hit" / "1" / name) == digest
    assert not [p for p in (tmp_path / "hit").iterdir() if p.name.startswith(".")]


def test_champion_promote_and_load(tmp_path: Path, model_and_data) -> None:  # type: ignore[no-untyped-def]
    model, data = model_and_data
    store = RegistryStore(tmp_path)
    assert store.champion(Task.HIT) is None
    with pytest.raises(RegistryError, match="no champion"):
        store.load(Task.HIT)
    info = store.register(model, metrics={}, evaluation={}, data={})
    store.promote(Task.HIT, info.version)
    assert store.champion("hit") == "1"
    loaded = store.load(Task.HIT)
    assert loaded.version == "1"
    np.testing.assert_allclose(
        loaded.predict(data.X).values, model.predict(data.X).values, rtol=1e-6
    )
    with pytest.raises(RegistryError):
        store.promote(Task.HIT, "9")


def test_tampered_or_extra_files_are_refused(tmp_path: Path, model_and_data) -> None:  # type: ignore[no-untyped-def]
    model, _ = model_and_data
    store = RegistryStore(tmp_path)
    info = store.register(model, metrics={}, evaluation={}, data={})
    (info.path / "evil.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(IntegrityError, match="not in the manifest"):
        store.load(Task.HIT, info.version)
    (info.path / "evil.pkl").unlink()
    with (info.path / "model.skops").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(IntegrityError, match="sha256"):
        store.load(Task.HIT, info.version)


def test_bundle_bytes_round_trip_and_unsafe_archives(tmp_path: Path, model_and_data) -> None:  # type: ignore[no-untyped-def]
    model, data = model_and_data
    store = RegistryStore(tmp_path)
    info = store.register(model, metrics={}, evaluation={}, data={})
    payload = store.bundle_bytes(Task.HIT, info.version)
    assert payload == store.bundle_bytes(Task.HIT, info.version)  # deterministic
    loaded = load_bundle_bytes(payload)
    assert loaded.predict(data.X.iloc[:3]).values is not None
    with pytest.raises(IntegrityError, match="expected"):
        load_bundle_bytes(payload, expected_sha256="0" * 64)
    evil = BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.json", "{}")
    target = tmp_path / "unpack"
    target.mkdir()
    with pytest.raises(IntegrityError, match="plain file name"):
        unpack_bundle(evil.getvalue(), target)
    assert not (tmp_path / "escape.json").exists()


def test_unknown_uri_scheme_is_refused() -> None:
    with pytest.raises(RegistryError, match="unsupported"):
        RegistryStore("s3://bucket/registry")
