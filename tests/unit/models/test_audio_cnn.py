"""The audio CNN encoder: windows, embeddings, save/load, refusal of foreign bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hitpred.errors import DataError, ModelError
from hitpred.features.vector import AUDIO_EMBEDDING_PREFIX, embedding_columns
from hitpred.models.audio_cnn import (
    AudioCNNConfig,
    AudioEncoder,
    build_audio_cnn,
    clip_windows,
    load_audio_encoder,
)
from hitpred.models.base import Task
from hitpred.registry import RegistryStore

torch = pytest.importorskip("torch")
pytest.importorskip("librosa")

SR = 22050
# Short windows keep the tests fast; the production default is 10 s windows of a 30 s excerpt.
CONFIG = AudioCNNConfig(classes=("a", "b", "c"), window_s=2.0, excerpt_s=6.0)


def _clip(seconds: float, seed: int, freq: float = 220.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t) + rng.normal(0, 0.05, len(t))).astype("float32")


@pytest.fixture(scope="module")
def encoder() -> AudioEncoder:
    torch.manual_seed(0)
    module = build_audio_cnn(CONFIG)
    # Non-default BatchNorm statistics, so a loader that dropped buffers would be caught.
    for buffer_name, buffer in module.named_buffers():
        if buffer_name.endswith("running_mean"):
            buffer.normal_(0, 0.1)
    return AudioEncoder(module=module, config=CONFIG)


def test_small_enough_for_a_cpu() -> None:
    module = build_audio_cnn(AudioCNNConfig(classes=tuple("abcdefghij")))
    assert sum(p.numel() for p in module.parameters()) < 500_000


@pytest.mark.parametrize(
    ("seconds", "n_windows"),
    [(1.0, 1), (2.0, 1), (4.0, 2), (4.9, 2), (5.2, 3), (6.0, 3), (20.0, 3)],
)
def test_clip_windows(seconds: float, n_windows: int) -> None:
    windows = clip_windows(np.ones(int(seconds * SR), dtype="float32"), CONFIG)
    assert windows.shape == (n_windows, CONFIG.window_samples)


def test_long_clip_is_cut_to_its_middle_and_short_clip_looped() -> None:
    ramp = np.arange(20 * SR, dtype="float32")
    windows = clip_windows(ramp, CONFIG)
    assert windows[0, 0] == 7 * SR  # the middle 6 s of 20 s start at 7 s
    assert windows[-1, -1] == 13 * SR - 1
    short = clip_windows(np.arange(SR, dtype="float32"), CONFIG)
    np.testing.assert_array_equal(short[0, SR:], np.arange(SR))


@pytest.mark.parametrize(
    "bad",
    [np.zeros(0, "float32"), np.zeros((2, 100), "float32"), np.array([0.0, np.nan], "float32")],
)
def test_clip_windows_rejects_bad_clips(bad: np.ndarray) -> None:
    with pytest.raises(DataError):
        clip_windows(bad, CONFIG)


def test_embeddings_are_unit_length_float32_of_dim_64(encoder: AudioEncoder) -> None:
    clips = [_clip(0.7, 1), _clip(3.0, 2, 440.0), _clip(9.0, 3, 110.0)]
    emb = encoder.embed(clips)
    assert emb.shape == (3, 64) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(emb[0], emb[1], atol=1e-3)
    assert encoder.embed([]).shape == (0, 64)
    assert encoder.features == tuple(embedding_columns(AUDIO_EMBEDDING_PREFIX, 64))
    assert (encoder.task, encoder.feature_set, encoder.dim, encoder.sample_rate) == (
        Task.AUDIO_EMBEDDING,
        "audio",
        64,
        SR,
    )


def test_batching_does_not_change_embeddings(encoder: AudioEncoder) -> None:
    clips = [_clip(5.0, 4), _clip(1.5, 5, 330.0)]
    together = encoder.embed(clips, batch_size=3)
    apart = np.concatenate([encoder.embed([c], batch_size=1) for c in clips])
    np.testing.assert_allclose(together, apart, atol=1e-5)


def test_loudness_is_normalised_away(encoder: AudioEncoder) -> None:
    clip = _clip(2.0, 6)
    quiet, loud = encoder.embed([clip * 0.1, clip])
    np.testing.assert_allclose(quiet, loud, atol=2e-3)  # without it: ~1.5e-2


def test_save_load_round_trip_is_exact(encoder: AudioEncoder, tmp_path: Path) -> None:
    record = encoder.save(tmp_path)
    assert record["kind"] == "audio-encoder" and record["embedding_dim"] == 64
    assert [p.name for p in tmp_path.iterdir()] == ["encoder.safetensors"]
    raw = (tmp_path / "encoder.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert json.loads(raw[8 : 8 + header_len])  # a safetensors JSON header, not a pickle
    loaded = load_audio_encoder(tmp_path, {"model": json.loads(json.dumps(record))})
    assert loaded.config == encoder.config
    assert loaded.model_id == encoder.model_id
    assert loaded.model_id.startswith("audio-cnn/sha256:")
    clips = [_clip(3.3, 7), _clip(8.0, 8, 500.0)]
    np.testing.assert_array_equal(loaded.embed(clips), encoder.embed(clips))


def test_registry_round_trip(encoder: AudioEncoder, tmp_path: Path) -> None:
    store = RegistryStore(tmp_path)
    info = store.register(encoder, metrics={}, evaluation={}, data={}, classes=encoder.classes)
    manifest = store.manifest(Task.AUDIO_EMBEDDING, info.version)
    assert manifest["features"] == list(encoder.features)
    loaded = load_audio_encoder(info.path, manifest)
    assert loaded.model_id.startswith("audio-cnn/v1@") and loaded.version == "1"
    clip = [_clip(2.5, 9)]
    np.testing.assert_array_equal(loaded.embed(clip), encoder.embed(clip))


def test_loader_refuses_other_bundles(encoder: AudioEncoder, tmp_path: Path) -> None:
    record = encoder.save(tmp_path)
    with pytest.raises(ModelError, match="kind 'pipeline'"):
        load_audio_encoder(tmp_path, {"model": {**record, "kind": "pipeline"}})
    with pytest.raises(ModelError, match="adapter"):
        network = {**record["network"], "adapter": "torch"}
        load_audio_encoder(tmp_path, {"model": {**record, "network": network}})
    with pytest.raises(ModelError, match="do not fit"):
        network = {**record["network"], "n_mels": 32}
        load_audio_encoder(tmp_path, {"model": {**record, "network": network}})


def test_importing_the_module_does_not_import_torch() -> None:
    code = "import sys, hitpred.models.audio_cnn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
