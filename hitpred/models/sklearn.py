"""scikit-learn adapter: estimators and preprocessing pipelines saved with skops.

skops stores an object tree, not code; on load, every type outside skops' default trusted set
must be named explicitly. We trust only types from scikit-learn, numpy, scipy and HitPred's
own model package, so a file that asks for anything else (``os.system``, ``builtins.eval``...)
is refused before it is instantiated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hitpred.errors import ModelError

__all__ = ["ADAPTER", "TRUSTED_PREFIXES", "load_model", "save_model"]

ADAPTER = "sklearn"
#: Module prefixes whose types a skops file may ask for.
TRUSTED_PREFIXES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.", "hitpred.models.")


def save_model(estimator: Any, directory: Path, stem: str = "model") -> dict[str, Any]:
    """Write ``<stem>.skops`` into ``directory``; returns the artifact record for the manifest."""
    import skops.io as sio

    path = directory / f"{stem}.skops"
    sio.dump(estimator, path)
    return {"adapter": ADAPTER, "file": path.name, "format": "skops"}


def load_model(directory: Path, info: dict[str, Any]) -> Any:
    """Load an artifact written by :func:`save_model`, trusting only known-safe types."""
    import skops.io as sio

    if info.get("adapter") != ADAPTER:
        raise ModelError(
            f"artifact {info.get('file')!r} was written by the {info.get('adapter')!r} adapter, "
            f"not {ADAPTER!r}"
        )
    path = directory / str(info["file"])
    if path.suffix != ".skops":
        raise ModelError(f"{path.name}: the sklearn adapter only reads .skops files")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt or foreign file: skops raises various types
        raise ModelError(f"{path}: not a readable skops file ({exc})") from exc
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ModelError(f"{path}: refusing untrusted types {refused}")
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise ModelError(f"{path}: cannot load ({exc})") from exc
