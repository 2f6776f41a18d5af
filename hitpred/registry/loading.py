"""Rebuild the model of a verified bundle folder, whatever kind of bundle it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["load_bundle"]


def load_bundle(directory: Path, manifest: dict[str, Any]) -> Any:
    """A prediction model (:class:`~hitpred.models.base.TaskModel`) or, for an
    ``audio-embedding`` bundle, the audio encoder. The files were integrity-checked already."""
    kind = (manifest.get("model") or {}).get("kind")
    if kind == "audio-encoder":
        from hitpred.models.audio_cnn import load_audio_encoder

        return load_audio_encoder(directory, manifest)
    from hitpred.models.pipeline import load_bundle_model

    return load_bundle_model(directory, manifest)
