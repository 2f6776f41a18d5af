"""A Hugging Face model from a local folder: its tokenizer, its config and its weights.

Never the network: ``HF_HUB_OFFLINE`` is set before transformers first imports
huggingface_hub (which reads it once), and every load is ``local_files_only``.

The tokenizer runs from the folder's ``tokenizer.json`` with the ``tokenizers`` library, the
Rust code a transformers "fast" tokenizer wraps, set up as transformers sets it up (truncation
to ``max_length``, padding to the longest text, the config's pad token and sides): importing
transformers costs a process ~400 MB (it imports torch), which a worker running an ONNX
export of the model does not need. A folder without ``tokenizer.json`` uses transformers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hitpred.errors import ModelError, require

__all__ = ["Tokenize", "load_config", "load_hf_model", "load_tokenizer"]


class Tokenize(Protocol):
    """Texts in; ``input_ids``, ``token_type_ids`` and ``attention_mask`` out, as int64 arrays
    of one row per text, cut at ``max_length`` tokens (special ones included) and padded to
    the longest row."""

    def __call__(self, texts: Sequence[str], max_length: int) -> dict[str, np.ndarray]: ...


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ModelError(f"{path} does not hold a JSON object")
    return loaded


def load_config(model_dir: Path) -> dict[str, Any]:
    """The folder's ``config.json`` as a dict."""
    config = _read_json(model_dir / "config.json")
    if not config:
        raise ModelError(f"{model_dir} has no readable config.json")
    return config


class _TokenizerFile:
    """``tokenizer.json`` run by the ``tokenizers`` library."""

    def __init__(self, model_dir: Path) -> None:
        tokenizers: Any = require("tokenizers", "lyrics")
        try:
            self._tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:  # the Rust library raises its own exception type
            raise ModelError(f"cannot load {model_dir / 'tokenizer.json'}: {exc}") from exc
        config = _read_json(model_dir / "tokenizer_config.json")
        saved = self._tokenizer.padding or {}
        pad = config.get("pad_token", saved.get("pad_token"))
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = self._tokenizer.token_to_id(pad) if isinstance(pad, str) else None
        if pad_id is None:
            raise ModelError(f"{model_dir}: the tokenizer has no pad token to pad batches with")
        self._pad = {
            "pad_id": pad_id,
            "pad_token": pad,
            "pad_type_id": int(saved.get("pad_type_id", 0)),
            "direction": str(config.get("padding_side", "right")),
        }
        self._truncation_side = str(config.get("truncation_side", "right"))
        self._max_length: int | None = None

    def __call__(self, texts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
        if max_length != self._max_length:
            self._tokenizer.enable_truncation(
                max_length, strategy="longest_first", direction=self._truncation_side
            )
            self._tokenizer.enable_padding(**self._pad)  # to the longest text of a batch
            self._max_length = max_length
        encoded = self._tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        }


class _TransformersTokenizer:
    """A transformers tokenizer, for a folder without ``tokenizer.json``."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def __call__(self, texts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
        encoded = self._tokenizer(
            list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="np"
        )
        return {name: np.asarray(values, dtype=np.int64) for name, values in encoded.items()}


def load_tokenizer(model_dir: Path) -> Tokenize:
    """The folder's tokenizer: from ``tokenizer.json`` without transformers where there is one."""
    if (model_dir / "tokenizer.json").is_file():
        return _TokenizerFile(model_dir)
    _offline()
    transformers: Any = require("transformers", "lyrics")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the tokenizer in {model_dir}: {exc}") from exc
    return _TransformersTokenizer(tokenizer)


def load_hf_model(model_dir: Path) -> Any:
    """transformers' model from ``model_dir``, in eval mode (its tokenizer is
    :func:`load_tokenizer`'s)."""
    _offline()
    require("torch", "lyrics")
    transformers: Any = require("transformers", "lyrics")
    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModel.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the lyrics model in {model_dir}: {exc}") from exc
    return model.eval()
