"""One root error type, with a named subclass per concern.

Agents turn a :class:`HitPredError` raised while processing an event into a dead letter with
its message as the reason; anything else is a programming error and surfaces loudly.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DatasetError",
    "EnrichmentError",
    "EventValidationError",
    "HitPredError",
    "IntegrityError",
    "MissingExtraError",
    "ModelError",
    "NeedsEnrichment",
    "RegistryError",
    "StackError",
]


class HitPredError(Exception):
    """Root of every error HitPred raises on purpose."""


class ConfigError(HitPredError):
    """A setting is missing or inconsistent."""


class MissingExtraError(HitPredError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: run `pip install 'hitpred[{extra}]'` "
            f"(or `pip install -e '.[{extra}]'` in a checkout)"
        )
        self.package = package
        self.extra = extra


class EventValidationError(HitPredError):
    """An incoming event is not valid JSON or does not match its schema."""


class EnrichmentError(HitPredError):
    """An event could not be enriched (lyrics or audio embedding failed)."""


class NeedsEnrichment(HitPredError):
    """A batch carries lyrics or audio where no enricher is at hand (a scoring process): it
    must go to one rather than be scored without them."""


class DataError(HitPredError):
    """Input data cannot be turned into features."""


class DatasetError(DataError):
    """A data set file cannot be read; the message names the file, row and column."""


class ModelError(HitPredError):
    """A model cannot be trained, loaded or used."""


class RegistryError(HitPredError):
    """The model registry cannot find, store or serve a bundle."""


class IntegrityError(RegistryError):
    """A bundle's file does not match the sha256 in its manifest."""


class StackError(HitPredError):
    """The embedded development stack (broker, Redis) cannot be started."""


def require(module: str, extra: str, package: str | None = None) -> object:
    """Import an optional module, or fail with the pip extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package or module, extra) from exc
