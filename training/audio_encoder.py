"""Train the audio CNN encoder on a folder of labelled audio files and register it.

Layout: one sub-folder per label, as GTZAN's ``genres_original`` (``blues/blues.00000.wav``
...); ``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ``.au`` files. Protocol (recorded in the
manifest as ``evaluation``): a stratified train/validation split by file with a fixed seed,
random fixed-length crops for training, Adam, early stopping on the validation loss; the
validation figures come from the windows the encoder embeds at inference (logits averaged
per file). Unreadable files are skipped and counted with their reason.

An encoder is promoted only when its task has no champion yet (or when forced): models
trained on one encoder's embeddings cannot read another's, so replacing it is a decision.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hitpred.errors import DataError, require
from hitpred.models.audio_cnn import AudioCNNConfig, AudioEncoder, build_audio_cnn, clip_windows
from hitpred.models.base import Task
from hitpred.models.torch_mlp import EarlyStopping
from hitpred.registry.remote import open_registry
from hitpred.registry.store import BundleInfo, RegistryStore
from training.progress import Progress, SilentProgress

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioTrainResult",
    "LabelledClips",
    "read_folder",
    "train_audio_encoder",
]

logger = logging.getLogger(__name__)

PROTOCOL = "stratified-file-holdout/v1"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".au")
#: Below this, a class cannot give both training crops and a validation file.
MIN_FILES_PER_CLASS = 4


@dataclass
class LabelledClips:
    """Decoded clips of a labelled folder, plus what could not be read."""

    clips: list[np.ndarray]
    labels: np.ndarray  # class codes, aligned with clips
    paths: list[str]  # relative to the folder
    classes: tuple[str, ...]
    skipped: list[dict[str, str]]  # {"file", "reason"}
    fingerprint: str  # sha256 of the relative paths, labels and sizes


@dataclass
class AudioTrainResult:
    """What the CLI prints and the caller keeps."""

    encoder: AudioEncoder
    metrics: dict[str, Any]
    skipped: list[dict[str, str]]
    seconds: float
    bundle: BundleInfo | None = None
    promoted: bool = False
    promotion_reason: str = ""
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Validation accuracy of the classification head."""
        return float(self.metrics["validation_accuracy"])


def _decode(path: Path, sample_rate: int, excerpt_s: float) -> np.ndarray:
    """Mono float32 at ``sample_rate``: the middle ``excerpt_s`` of the file, decoded exactly
    as the stream decodes a release's audio (same limits and refusals)."""
    from hitpred.features.audio import decode_audio

    return decode_audio(path.read_bytes(), sample_rate=sample_rate, excerpt_s=excerpt_s).samples


def read_folder(folder: Path, sample_rate: int = 22050, excerpt_s: float = 30.0) -> LabelledClips:
    """Decode every audio file under ``folder/<label>/``; unreadable files are skipped."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected one sub-folder per label)")
    classes = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    clips: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[str] = []
    skipped: list[dict[str, str]] = []
    digest = hashlib.sha256()
    for code, label in enumerate(classes):
        files = sorted(p for p in (folder / label).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        for path in files:
            relative = path.relative_to(folder).as_posix()
            digest.update(f"{relative}\0{path.stat().st_size}\n".encode())
            try:
                clip = _decode(path, sample_rate, excerpt_s)
            except Exception as exc:  # any decoder failure means "skip this file"
                reason = f"{type(exc).__name__}: {exc}"
                logger.warning("skipping %s: %s", relative, reason)
                skipped.append({"file": relative, "reason": reason})
                continue
            clips.append(clip)
            labels.append(code)
            paths.append(relative)
    return LabelledClips(
        clips=clips,
        labels=np.asarray(labels, dtype="int64"),
        paths=paths,
        classes=classes,
        skipped=skipped,
        fingerprint=digest.hexdigest(),
    )


def _check_counts(data: LabelledClips, folder: Path) -> dict[str, int]:
    counts = {c: int((data.labels == i).sum()) for i, c in enumerate(data.classes)}
    if len(counts) < 2:
        raise DataError(
            f"{folder}: found {len(counts)} label folder(s) {sorted(counts)}; an encoder needs "
            "at least 2 (one sub-folder per label, e.g. blues/blues.00000.wav)"
        )
    few = {c: n for c, n in counts.items() if n < MIN_FILES_PER_CLASS}
    if few:
        raise DataError(
            f"{folder}: too few readable audio files per class (need {MIN_FILES_PER_CLASS}): "
            + ", ".join(f"{c}={n}" for c, n in few.items())
            + (f"; {len(data.skipped)} file(s) were unreadable" if data.skipped else "")
        )
    return counts


def _split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified by class: at least one validation file and one training file per class."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for code in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == code))
        n_val = min(len(members) - 1, max(1, round(fraction * len(members))))
        val += members[:n_val].tolist()
        train += members[n_val:].tolist()
    return np.asarray(sorted(train)), np.asarray(sorted(val))


def _random_crop(clip: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    if len(clip) <= length:
        # Loop a short clip from a random phase, so crops of it still differ.
        offset = int(rng.integers(0, len(clip)))
        return np.resize(np.roll(clip, -offset), length)
    start = int(rng.integers(0, len(clip) - length + 1))
    return clip[start : start + length]


def _evaluate(
    module: Any, data: LabelledClips, rows: np.ndarray, config: AudioCNNConfig, batch_size: int
) -> tuple[float, np.ndarray]:
    """Validation loss and predicted codes, logits averaged over each file's windows."""
    torch: Any = require("torch", "torch")
    module.eval()
    logits: list[Any] = []
    with torch.no_grad():
        for row in rows:
            windows = torch.from_numpy(clip_windows(data.clips[row], config))
            per_window = [
                module(windows[s : s + batch_size])[1] for s in range(0, len(windows), batch_size)
            ]
            logits.append(torch.cat(per_window).mean(dim=0))
        stacked = torch.stack(logits)
        target = torch.as_tensor(data.labels[rows])
        loss = float(torch.nn.functional.cross_entropy(stacked, target))
    return loss, stacked.argmax(dim=1).numpy()


def _fit(
    module: Any,
    data: LabelledClips,
    train: np.ndarray,
    val: np.ndarray,
    config: AudioCNNConfig,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    seed: int,
    progress: Progress,
) -> tuple[list[dict[str, float]], np.ndarray]:
    """Adam on random crops with early stopping; restores the best weights.

    Returns the per-epoch history and the best epoch's validation predictions.
    """
    torch: Any = require("torch", "torch")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=1e-4)
    length = config.window_samples
    history: list[dict[str, float]] = []
    stopper, best_pred = EarlyStopping(patience, min_delta=1e-4), np.zeros(0)
    for epoch in range(1, epochs + 1):
        module.train()
        order = rng.permutation(train)
        total, seen = 0.0, 0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            if len(rows) < 2:
                continue  # BatchNorm cannot train on a single example
            crops = np.stack([_random_crop(data.clips[r], length, rng) for r in rows])
            optimiser.zero_grad()
            _, logits = module(torch.from_numpy(crops))
            loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(data.labels[rows]))
            loss.backward()
            optimiser.step()
            total, seen = total + float(loss.detach()) * len(rows), seen + len(rows)
        val_loss, predicted = _evaluate(module, data, val, config, batch_size)
        val_acc = float((predicted == data.labels[val]).mean())
        train_loss = total / max(seen, 1)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
        )
        progress.advance(f"epoch {epoch}: val loss {val_loss:.3f}, val acc {val_acc:.3f}")
        if stopper.update(module, val_loss):
            best_pred = predicted
        elif stopper.stop:
            break
    stopper.restore(module)
    return history, best_pred


def _metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    classes: tuple[str, ...],
    counts: dict[str, int],
    history: list[dict[str, float]],
) -> dict[str, Any]:
    n = len(classes)
    confusion = np.zeros((n, n), dtype="int64")
    np.add.at(confusion, (truth, predicted), 1)
    recall = {
        c: float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else 0.0
        for i, c in enumerate(classes)
    }
    best = min(history, key=lambda h: h["val_loss"])
    accuracy = float((truth == predicted).mean()) if len(truth) else 0.0
    return {
        "validation_accuracy": accuracy,
        "validation_loss": best["val_loss"],
        "per_class_recall": recall,
        "confusion_matrix": confusion.tolist(),  # rows: true class, columns: predicted
        "files_per_class": counts,
        "best_epoch": int(best["epoch"]),
        "epochs_run": len(history),
        "primary": {"name": "validation_accuracy", "value": accuracy},
    }


def train_audio_encoder(
    folder: Path,
    *,
    epochs: int = 30,
    seed: int = 42,
    progress: Progress | None = None,
    registry_uri: str | None = None,
    promote: bool | None = None,
    validation_fraction: float = 0.2,
    batch_size: int = 16,
    lr: float = 1e-3,
    patience: int = 5,
    window_s: float = 10.0,
    excerpt_s: float = 30.0,
    sample_rate: int = 22050,
) -> AudioTrainResult:
    """Train an :class:`AudioEncoder` on ``folder/<label>/*.wav`` (see the module docstring).

    With a ``registry_uri`` the encoder is registered as the next ``audio-embedding`` version
    and promoted when the task has no champion yet; ``promote`` True/False forces or forbids
    that. Raises :class:`DataError` when the folder has fewer than 2 labels or fewer than
    ``MIN_FILES_PER_CLASS`` readable files in a label.
    """
    torch: Any = require("torch", "torch")
    progress = progress or SilentProgress()
    started = time.perf_counter()
    progress.start(epochs + 1)
    data = read_folder(folder, sample_rate, excerpt_s)
    counts = _check_counts(data, folder)
    progress.advance(f"decoded {len(data.clips)} files ({len(data.skipped)} skipped)")
    train, val = _split(data.labels, validation_fraction, seed)
    config = AudioCNNConfig(
        classes=data.classes, sample_rate=sample_rate, window_s=window_s, excerpt_s=excerpt_s
    )
    torch.manual_seed(seed)
    module = build_audio_cnn(config)
    history, predicted = _fit(
        module,
        data,
        train,
        val,
        config,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        seed=seed,
        progress=progress,
    )
    metrics = _metrics(data.labels[val], predicted, data.classes, counts, history)
    metrics["skipped_files"] = len(data.skipped)
    metrics["train_files"], metrics["validation_files"] = len(train), len(val)
    result = AudioTrainResult(
        encoder=AudioEncoder(module=module, config=config),
        metrics=metrics,
        skipped=data.skipped,
        seconds=0.0,
        history=history,
    )
    if registry_uri is not None:
        evaluation = {
            "protocol": PROTOCOL,
            "data_fingerprint": data.fingerprint,
            "validation_fraction": validation_fraction,
            "seed": seed,
            "window_s": window_s,
            "primary_metric": "validation_accuracy",
        }
        _publish(result, open_registry(registry_uri), evaluation, data, folder, promote)
    result.seconds = time.perf_counter() - started
    progress.advance("done")
    logger.info(
        "audio encoder: validation accuracy %.3f on %d files in %.0f s",
        result.accuracy,
        len(val),
        result.seconds,
    )
    return result


def _publish(
    result: AudioTrainResult,
    store: RegistryStore,
    evaluation: dict[str, Any],
    data: LabelledClips,
    folder: Path,
    promote: bool | None,
) -> None:
    encoder = result.encoder
    info = store.register(
        encoder,
        metrics=result.metrics,
        evaluation=evaluation,
        data={
            "dataset": folder.name,
            "path": str(folder),
            "fingerprint": data.fingerprint,
            "files": len(data.clips),
            "skipped": data.skipped[:100],  # the count is in the metrics; the list is a sample
        },
        classes=encoder.classes,
        extra={"history": result.history},
    )
    encoder.version = info.version
    result.bundle = info
    champion = store.champion(Task.AUDIO_EMBEDDING)
    if promote is not None:
        result.promoted, result.promotion_reason = (
            promote,
            ("forced by --promote" if promote else "--no-promote"),
        )
    elif champion is None:
        result.promoted, result.promotion_reason = True, "first encoder"
    else:
        result.promoted, result.promotion_reason = (
            False,
            (
                f"v{champion} stays champion: models trained on its embeddings need it; run "
                f"`hitpred models promote {Task.AUDIO_EMBEDDING.value} {info.version}` to switch"
            ),
        )
    if result.promoted:
        store.promote(Task.AUDIO_EMBEDDING, info.version, result.promotion_reason)
