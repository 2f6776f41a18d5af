"""A Hugging Face model from a local folder: tokenizer, config and, when asked, the weights.

Never the network: ``HF_HUB_OFFLINE`` is set before transformers first imports
huggingface_hub (which reads it once), and every load is ``local_files_only``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hitpred.errors import ModelError, require

__all__ = ["load_hf_folder"]


def load_hf_folder(model_dir: Path, *, weights: bool) -> tuple[Any, Any, Any | None]:
    """``(tokenizer, config, model)`` from ``model_dir``; ``model`` is None without ``weights``.

    A runtime that runs an exported copy of the model (ONNX) needs only the tokenizer and the
    config: loading the weights as well would cost the process the torch model's memory.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    if weights:
        require("torch", "lyrics")
    transformers: Any = require("transformers", "lyrics")
    transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        config = transformers.AutoConfig.from_pretrained(model_dir, local_files_only=True)
        model = (
            transformers.AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
            if weights
            else None
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the lyrics model in {model_dir}: {exc}") from exc
    return tokenizer, config, model
