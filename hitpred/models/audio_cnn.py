"""A small torch CNN audio encoder: waveform -> L2-normalised 64-dim embedding.

The network (:class:`AudioCNN`) computes its own log-mel spectrogram (``torch.stft`` and a
mel filterbank held as a buffer), normalises it per example, runs four conv-BN-ReLU-pool
blocks, pools globally (mean and max) and projects to the embedding. A classification head
on top of the embedding is only used while training (see :mod:`training.audio_encoder`).

:class:`AudioEncoder` is the loaded, ready-to-use object: it embeds an excerpt (30 s by
default) as the mean of the embeddings of its consecutive fixed-length windows (10 s by
default). It is saved like the other torch adapters: weights as safetensors, the architecture
in the manifest record, never a pickle. ``AudioCNN`` is built on first access so that
importing this module does not import torch.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hitpred.errors import DataError, ModelError, require
from hitpred.features.vector import AUDIO_EMBEDDING_PREFIX, embedding_columns
from hitpred.models.base import Task
from hitpred.models.torch_mlp import check_adapter, load_weights, save_weights

__all__ = [
    "ADAPTER",
    "KIND",
    "AudioCNN",  # noqa: F822 - built on first access by __getattr__ (torch is optional)
    "AudioCNNConfig",
    "AudioEncoder",
    "build_audio_cnn",
    "clip_windows",
    "load_audio_encoder",
]

ADAPTER = "audio-cnn"
KIND = "audio-encoder"
_STEM = "encoder"
#: Unit-norm embeddings give tiny logits through a plain linear head; a fixed scale (as in
#: cosine-softmax classifiers) lets the cross-entropy reach confident predictions.
_LOGIT_SCALE = 10.0


@dataclass(frozen=True)
class AudioCNNConfig:
    """The architecture and signal settings of an encoder (stored in its manifest)."""

    classes: tuple[str, ...]
    sample_rate: int = 22050
    window_s: float = 10.0  # the network's fixed input length
    excerpt_s: float = 30.0  # what one clip is cut to before windowing
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embedding_dim: int = 64
    dropout: float = 0.2

    @property
    def window_samples(self) -> int:
        """Samples in one network input window."""
        return round(self.window_s * self.sample_rate)

    @property
    def excerpt_samples(self) -> int:
        """Samples of the excerpt that is embedded."""
        return round(self.excerpt_s * self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples as lists)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioCNNConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are ignored."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["classes"] = tuple(str(c) for c in values.get("classes", ()))
        values["channels"] = tuple(int(c) for c in values.get("channels", cls.channels))
        return cls(**values)


@functools.cache
def _audio_cnn_class() -> type:
    torch: Any = require("torch", "torch")
    nn = torch.nn

    class AudioCNN(nn.Module):  # type: ignore[name-defined]
        """Waveform batch ``(B, samples)`` -> ``(embedding (B, dim), logits (B, classes))``."""

        def __init__(self, config: AudioCNNConfig, mel_basis: np.ndarray | None = None) -> None:
            super().__init__()
            self.config = config
            n_freqs = config.n_fft // 2 + 1
            if mel_basis is None:
                # The loader passes zeros: the saved state dict holds the real filterbank, so
                # serving does not depend on librosa's version.
                mel_basis = np.zeros((config.n_mels, n_freqs), dtype="float32")
            self.register_buffer("mel_basis", torch.as_tensor(mel_basis, dtype=torch.float32))
            self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
            blocks: list[Any] = []
            width = 1
            for out in config.channels:
                blocks += [
                    nn.Conv2d(width, out, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
                width = out
            self.blocks = nn.Sequential(*blocks)
            self.dropout = nn.Dropout(config.dropout)
            self.projection = nn.Linear(2 * width, config.embedding_dim)
            self.head = nn.Linear(config.embedding_dim, max(1, len(config.classes)))

        def log_mel(self, waveform: Any) -> Any:
            """``(B, samples)`` -> per-example normalised log-mel ``(B, 1, n_mels, frames)``."""
            spec = torch.stft(
                waveform,
                n_fft=self.config.n_fft,
                hop_length=self.config.hop_length,
                window=self.window,
                center=True,
                return_complex=True,
            )
            mel = torch.matmul(self.mel_basis, spec.abs() ** 2)
            logmel = torch.log(1e-6 + mel)
            # Per-example normalisation removes loudness (a gain is a constant log offset).
            mean = logmel.mean(dim=(1, 2), keepdim=True)
            std = logmel.std(dim=(1, 2), keepdim=True)
            return ((logmel - mean) / (std + 1e-5)).unsqueeze(1)

        def embed(self, waveform: Any) -> Any:
            """``(B, samples)`` -> L2-normalised embeddings ``(B, dim)``."""
            features = self.blocks(self.log_mel(waveform))
            pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
            projected = self.projection(self.dropout(pooled))
            return torch.nn.functional.normalize(projected, dim=1)

        def forward(self, waveform: Any) -> tuple[Any, Any]:
            embedding = self.embed(waveform)
            return embedding, self.head(embedding) * _LOGIT_SCALE

    return AudioCNN


def __getattr__(name: str) -> Any:
    if name == "AudioCNN":
        return _audio_cnn_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_audio_cnn(config: AudioCNNConfig, mel_basis: np.ndarray | None = None) -> Any:
    """A fresh :class:`AudioCNN`; the mel filterbank comes from librosa unless given."""
    if mel_basis is None:
        librosa: Any = require("librosa", "audio")
        mel_basis = librosa.filters.mel(
            sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels
        ).astype("float32")
    return _audio_cnn_class()(config, mel_basis)


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Loop a short clip to ``length`` samples (silence would dilute the mean pooling)."""
    if len(samples) >= length:
        return samples[:length]
    return np.resize(samples, length)


def clip_windows(samples: np.ndarray, config: AudioCNNConfig) -> np.ndarray:
    """The consecutive windows ``(k, window_samples)`` a clip is embedded from.

    The clip is cut to its middle ``excerpt_s``; a tail longer than half a window gets one
    more window aligned to the clip's end; a clip shorter than a window is looped.
    """
    clip = np.asarray(samples, dtype="float32")
    if clip.ndim != 1 or len(clip) == 0:
        raise DataError(f"a clip is a non-empty 1-D array of samples, got shape {clip.shape}")
    if not np.isfinite(clip).all():
        raise DataError("a clip holds NaN or infinite samples")
    excerpt = config.excerpt_samples
    if len(clip) > excerpt:
        start = (len(clip) - excerpt) // 2
        clip = clip[start : start + excerpt]
    win = config.window_samples
    if len(clip) <= win:
        return _fit_length(clip, win)[None, :]
    starts = list(range(0, len(clip) - win + 1, win))
    tail = len(clip) - (starts[-1] + win)
    if tail > win // 2:
        starts.append(len(clip) - win)
    return np.stack([clip[s : s + win] for s in starts])


def _weights_digest(module: Any) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class AudioEncoder:
    """A trained encoder, ready to embed clips (mono float32 at ``sample_rate``)."""

    module: Any
    config: AudioCNNConfig
    version: str = ""
    name: str = ADAPTER
    task: Task = Task.AUDIO_EMBEDDING
    feature_set: str = "audio"
    features: tuple[str, ...] = field(default=())
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.module.eval()
        self.features = tuple(embedding_columns(AUDIO_EMBEDDING_PREFIX, self.dim))

    @property
    def dim(self) -> int:
        """Embedding width."""
        return self.config.embedding_dim

    @property
    def sample_rate(self) -> int:
        """The sample rate clips must have."""
        return self.config.sample_rate

    @property
    def classes(self) -> tuple[str, ...]:
        """The labels the training head distinguished."""
        return self.config.classes

    @property
    def model_id(self) -> str:
        """``audio-cnn/v<version>@<weights hash>`` once registered, else the hash alone: the
        weights are part of the id, so a recreated registry or another deployment sharing the
        Redis cache never gets this model's cached vectors for another model."""
        if not self.version:  # still training, perhaps: hash the weights as they are now
            return f"{ADAPTER}/sha256:{_weights_digest(self.module)}"
        if self._digest is None:  # a registered encoder's weights no longer change
            self._digest = _weights_digest(self.module)
        return f"{ADAPTER}/v{self.version}@{self._digest}"

    def embed(self, clips: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """``(n, dim)`` float32 L2-normalised embeddings, one per clip.

        Each clip is embedded as the renormalised mean of its windows' embeddings
        (:func:`clip_windows`); windows of all clips are batched together.
        """
        torch: Any = require("torch", "torch")
        if len(clips) == 0:
            return np.zeros((0, self.dim), dtype="float32")
        windows = [clip_windows(clip, self.config) for clip in clips]
        owners = np.repeat(np.arange(len(windows)), [len(w) for w in windows])
        stacked = np.concatenate(windows)
        parts: list[np.ndarray] = []
        self.module.eval()
        with torch.no_grad():
            for start in range(0, len(stacked), batch_size):
                batch = torch.from_numpy(stacked[start : start + batch_size])
                parts.append(self.module.embed(batch).numpy())
        per_window = np.concatenate(parts)
        sums = np.zeros((len(clips), self.dim), dtype="float64")
        np.add.at(sums, owners, per_window)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype("float32")

    def save(self, directory: Path) -> dict[str, Any]:
        """Write ``encoder.safetensors``; returns the manifest record (kind ``audio-encoder``)."""
        network = save_weights(self.module, directory, _STEM, ADAPTER, self.config.to_dict())
        return {
            "kind": KIND,
            "network": network,
            "embedding_dim": self.dim,
            "sample_rate": self.sample_rate,
            "weights_digest": _weights_digest(self.module),
        }


def load_audio_encoder(directory: Path, manifest: dict[str, Any]) -> AudioEncoder:
    """Rebuild an :class:`AudioEncoder` from a bundle folder and its manifest.

    Refuses a bundle of another kind or adapter; reads safetensors only (no pickle).
    """
    record = manifest.get("model") or {}
    if record.get("kind") != KIND:
        raise ModelError(f"{directory}: a bundle of kind {record.get('kind')!r}, not {KIND!r}")
    network = record.get("network") or {}
    check_adapter(network, ADAPTER)
    try:
        config = AudioCNNConfig.from_dict(network)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{directory}: unreadable audio encoder config ({exc})") from exc
    n_freqs = config.n_fft // 2 + 1
    module = build_audio_cnn(config, np.zeros((config.n_mels, n_freqs), dtype="float32"))
    load_weights(module, directory, network)
    return AudioEncoder(module=module, config=config, version=str(manifest.get("version") or ""))
