"""The model registry: versioned bundles in a folder, champions per task, a Redis cache.

- :class:`RegistryStore` (``store.py``): ``register``, ``versions``, ``champion``, ``promote``,
  ``load(task, version=None) -> TaskModel``
- :func:`load_champions` (``cache.py``): every task's champion, through Redis, so workers on
  other machines load the same verified bytes; :func:`load_feature_set_champions`: each task's
  champion per feature set (what the stream serves)
- ``integrity.py``: sha256 checks and the bundle archive format
"""

from hitpred.registry.cache import (
    BundleCache,
    load_bundle_bytes,
    load_champions,
    load_feature_set_champions,
)
from hitpred.registry.remote import MirroredStore, open_registry
from hitpred.registry.store import BundleInfo, RegistryStore

__all__ = [
    "BundleCache",
    "BundleInfo",
    "MirroredStore",
    "RegistryStore",
    "load_bundle_bytes",
    "load_champions",
    "load_feature_set_champions",
    "open_registry",
]
