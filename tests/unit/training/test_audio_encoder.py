"""Training the audio encoder on generated audio folders, registering it, and the CLI.

The toy classes (tones, clicks, noise bursts) are trivially separable: passing here shows the
training loop learns, never that the encoder is good on music.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from hitpred.cli import main
from hitpred.errors import DataError
from hitpred.models.audio_cnn import load_audio_encoder
from hitpred.models.base import Task
from hitpred.registry import RegistryStore
from training.audio_encoder import AudioTrainResult, read_folder, train_audio_encoder

sf = pytest.importorskip("soundfile")
pytest.importorskip("torch")

CLASSES = ("clicks", "noise", "tone")


def _tone(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = rng.uniform(200, 240)
    wave = np.sin(2 * np.pi * f0 * t) + rng.uniform(0, 0.4) * np.sin(4 * np.pi * f0 * t)
    return wave * rng.uniform(0.2, 0.8) + rng.normal(0, 0.005, n)


def _clicks(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = rng.normal(0, 0.002, n)
    click = np.exp(-np.arange(int(0.01 * sr)) / (0.002 * sr)) * rng.uniform(0.3, 0.9)
    for start in range(int(rng.uniform(0, 0.5) * sr), n - len(click), sr // 2):  # 120 BPM
        out[start : start + len(click)] += click * rng.choice([-1, 1], len(click))
    return out


def _noise_bursts(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    position = int(rng.uniform(0, 0.3) * sr)
    while position < n:
        length = int(rng.uniform(0.15, 0.5) * sr)
        out[position : position + length] = rng.normal(0, rng.uniform(0.1, 0.4), length)[
            : n - position
        ]
        position += length + int(rng.uniform(0.1, 0.4) * sr)
    return out


_MAKERS = {"clicks": _clicks, "noise": _noise_bursts, "tone": _tone}


def make_folder(
    root: Path, per_class: int, seconds: tuple[float, float], seed: int, classes: tuple[str, ...]
) -> Path:
    """``root/<class>/<class>.NNNNN.<ext>`` files of generated audio, random rates/formats."""
    rng = np.random.default_rng(seed)
    for label in classes:
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            sr = int(rng.choice([16000, 22050, 44100]))
            n = int(rng.uniform(*seconds) * sr)
            wave = np.clip(_MAKERS[label](n, sr, rng), -1, 1).astype("float32")
            ext = "flac" if i % 4 == 3 else "wav"
            sf.write(str(root / label / f"{label}.{i:05d}.{ext}"), wave, sr)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[AudioTrainResult, Path, Path]:
    root = tmp_path_factory.mktemp("audio")
    folder = make_folder(root / "toy", 12, (4.0, 6.0), seed=3, classes=CLASSES)
    (folder / "tone" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (folder / "tone" / "notes.txt").write_text("not audio: ignored")
    registry = root / "registry"
    result = train_audio_encoder(
        folder, epochs=8, seed=0, registry_uri=str(registry), window_s=3.0, batch_size=8
    )
    return result, folder, registry


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "tiny", 4, (1.0, 1.5), seed=5, classes=("clicks", "tone"))


@pytest.mark.slow
def test_learns_a_separable_toy_problem(trained: tuple[AudioTrainResult, Path, Path]) -> None:
    result, _, _ = trained
    metrics = result.metrics
    assert result.accuracy >= 0.8  # chance is 1/3
    assert metrics["files_per_class"] == {c: 12 for c in CLASSES}
    assert set(metrics["per_class_recall"]) == set(CLASSES)
    confusion = np.asarray(metrics["confusion_matrix"])
    assert confusion.shape == (3, 3)
    assert confusion.sum() == metrics["validation_files"] == 6  # round(0.2 * 12) per class
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result.accuracy)
    assert metrics["train_files"] == 30
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= 8
    assert metrics["validation_loss"] < 0.5 < result.history[0]["train_loss"]


@pytest.mark.slow
def test_unreadable_file_is_skipped_and_counted(
    trained: tuple[AudioTrainResult, Path, Path],
) -> None:
    result, _, _ = trained
    assert result.metrics["skipped_files"] == 1
    assert [s["file"] for s in result.skipped] == ["tone/broken.wav"]
    assert result.skipped[0]["reason"]


@pytest.mark.slow
def test_registered_bundle_loads_with_identical_embeddings(
    trained: tuple[AudioTrainResult, Path, Path],
) -> None:
    result, folder, registry = trained
    store = RegistryStore(registry)
    assert store.champion(Task.AUDIO_EMBEDDING) == "1"
    manifest = store.manifest(Task.AUDIO_EMBEDDING)
    assert manifest["model"]["kind"] == "audio-encoder"
    assert manifest["classes"] == list(CLASSES)
    assert manifest["feature_set"] == "audio"
    assert manifest["metrics"]["validation_accuracy"] == result.accuracy
    assert manifest["data"]["skipped"][0]["file"] == "tone/broken.wav"
    loaded = load_audio_encoder(store.path(Task.AUDIO_EMBEDDING, "1"), manifest)
    assert loaded.model_id == result.encoder.model_id
    assert loaded.model_id.startswith("audio-cnn/v1@")
    clips = read_folder(folder).clips[:5]
    np.testing.assert_array_equal(loaded.embed(clips), result.encoder.embed(clips))


@pytest.mark.slow
def test_embeddings_separate_the_classes(trained: tuple[AudioTrainResult, Path, Path]) -> None:
    result, folder, _ = trained
    data = read_folder(folder)
    emb = result.encoder.embed(data.clips)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    centroids = np.stack([emb[data.labels == k].mean(axis=0) for k in range(3)])
    nearest = (emb @ centroids.T).argmax(axis=1)
    assert (nearest == data.labels).mean() >= 0.8


def test_one_class_fails_clearly(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "one", 5, (0.5, 0.6), seed=1, classes=("tone",))
    with pytest.raises(DataError, match="at least 2"):
        train_audio_encoder(folder, epochs=1)


def test_too_few_files_fails_clearly(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "few", 5, (0.5, 0.6), seed=1, classes=("tone",))
    make_folder(folder, 2, (0.5, 0.6), seed=2, classes=("clicks",))
    with pytest.raises(DataError, match="clicks=2"):
        train_audio_encoder(folder, epochs=1)


def test_unreadable_files_count_against_the_minimum(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "bad", 4, (0.5, 0.6), seed=1, classes=("tone", "clicks"))
    (folder / "clicks" / "clicks.00000.wav").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"clicks=3.*1 file"):
        train_audio_encoder(folder, epochs=1)


def test_second_encoder_is_registered_but_not_promoted(tiny: Path, tmp_path: Path) -> None:
    registry = str(tmp_path / "registry")
    options: dict[str, Any] = {"epochs": 1, "registry_uri": registry, "window_s": 1.0}
    first = train_audio_encoder(tiny, **options)
    second = train_audio_encoder(tiny, **options)
    assert (first.promoted, second.promoted) == (True, False)
    assert "v1 stays champion" in second.promotion_reason
    assert RegistryStore(registry).champion(Task.AUDIO_EMBEDDING) == "1"
    forced = train_audio_encoder(tiny, promote=True, **options)
    assert forced.bundle is not None and forced.bundle.version == "3"
    assert RegistryStore(registry).champion(Task.AUDIO_EMBEDDING) == "3"


def test_unregistered_run_writes_nothing(tiny: Path, tmp_path: Path) -> None:
    result = train_audio_encoder(tiny, epochs=1, window_s=1.0)
    assert result.bundle is None and not result.promoted
    assert result.encoder.model_id.startswith("audio-cnn/sha256:")
    assert result.encoder.embed(read_folder(tiny).clips).shape == (8, 64)


def test_cli_trains_and_registers(tiny: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    args = ["train", "audio-embedding", "--data", str(tiny), "--epochs", "1"]
    outcome = CliRunner().invoke(main, [*args, "--registry", str(registry)])
    assert outcome.exit_code == 0, outcome.output
    assert "validation accuracy" in outcome.output
    assert "registered audio-embedding v1" in outcome.output
    champion = json.loads((registry / "audio-embedding" / "champion.json").read_text())
    assert champion["version"] == "1"


def test_cli_no_register_and_errors(tiny: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    args = ["train", "audio-embedding", "--data", str(tiny), "--epochs", "1"]
    outcome = CliRunner().invoke(main, [*args, "--registry", str(registry), "--no-register"])
    assert outcome.exit_code == 0, outcome.output
    assert not registry.exists()
    single = make_folder(tmp_path / "single", 4, (0.5, 0.6), seed=1, classes=("tone",))
    outcome = CliRunner().invoke(main, ["train", "audio-embedding", "--data", str(single)])
    assert outcome.exit_code != 0 and "at least 2" in outcome.output
    outcome = CliRunner().invoke(main, ["train", "hit", "--data", str(tiny), "--epochs", "3"])
    assert outcome.exit_code != 0 and "--epochs" in outcome.output
