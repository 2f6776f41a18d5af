"""A registry in an object store (``s3://bucket/prefix`` or any fsspec URL), for workers on
several machines.

The object store holds exactly the folder layout of :mod:`hitpred.registry.store`. Each process
works on a local mirror of it (``<mirror dir>/<hash of the URL>``): bundles are immutable and
downloaded once, when first needed, files first and the manifest last, into a staging folder
renamed into place; the small pointer files (champions, challenger, history) are fetched again
on every :meth:`MirroredStore.pull`, which every open does. Everything read from the store is
checked against its manifest's sha256 before a model is loaded, exactly as for a folder.

Writes (``register``, ``promote``) pull first, write the mirror, then upload: a bundle's files
before its manifest (a reader never sees a manifest without its files), pointers after. Two
writers racing on different machines can still pick the same version number or lose a history
line (object stores have no atomic rename): promote from one place, as a release process does.

Credentials and endpoint come from the environment as for any fsspec/boto client
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for an S3-compatible
server such as MinIO). Needs the ``s3`` extra (``s3fs``) for ``s3://`` URLs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hitpred.errors import MissingExtraError, RegistryError
from hitpred.models.base import Task
from hitpred.registry.integrity import MANIFEST
from hitpred.registry.store import BundleInfo, RegistryStore, SavableModel

__all__ = ["MirroredStore", "is_remote", "open_registry"]

logger = logging.getLogger(__name__)


def is_remote(uri: str | Path) -> bool:
    """Whether ``uri`` names an object store rather than a local folder."""
    text = str(uri)
    return "://" in text and not text.startswith("file://")


def open_registry(uri: str | Path, mirror_dir: Path | None = None) -> RegistryStore:
    """The registry at ``uri``: a folder (or ``file://``), or an object store mirrored under
    ``mirror_dir`` (default: ``hitpred-registry-mirror`` in the temporary folder)."""
    if not is_remote(uri):
        return RegistryStore(uri)
    mirror = mirror_dir or Path(tempfile.gettempdir()) / "hitpred-registry-mirror"
    return MirroredStore(str(uri), mirror)


class MirroredStore(RegistryStore):
    """A :class:`RegistryStore` on a local mirror of an object-store registry."""

    def __init__(self, uri: str, mirror_dir: Path) -> None:
        try:
            import fsspec

            self.fs, self.remote = fsspec.core.url_to_fs(uri)
        except ImportError as exc:
            raise MissingExtraError("fsspec/s3fs (an object-store registry)", "s3") from exc
        except ValueError as exc:
            raise RegistryError(f"cannot open the registry {uri!r}: {exc}") from exc
        self.remote = self.remote.rstrip("/")
        local = Path(mirror_dir) / hashlib.sha256(uri.encode()).hexdigest()[:16]
        local.mkdir(parents=True, exist_ok=True)
        self._bundles: dict[tuple[str, str], list[str]] = {}
        super().__init__(local)
        self.uri = uri
        self.pull()

    def __repr__(self) -> str:
        return f"MirroredStore({self.uri!r} at {self.root})"

    def _remote(self, relative: str) -> str:
        return f"{self.remote}/{relative}"

    def pull(self) -> None:
        """Bring the mirror up to date: the list of bundles, and every pointer file again.
        Safe to run from several threads and processes on one mirror."""
        try:
            self._pull()
        except RegistryError:
            raise
        except Exception as exc:  # a store that cannot be read: say which and why
            raise RegistryError(f"cannot read the registry {self.uri}: {exc!r}") from exc

    def _pull(self) -> None:
        self.fs.invalidate_cache()
        try:
            found = [str(p) for p in self.fs.find(self.remote)]
        except FileNotFoundError:
            found = []
        bundles: dict[tuple[str, str], list[str]] = defaultdict(list)
        pointers: set[str] = set()
        for path in found:
            relative = path[len(self.remote) + 1 :]
            parts = relative.split("/")
            if len(parts) == 3 and parts[1].isdigit():
                bundles[(parts[0], parts[1])].append(parts[2])
            elif parts[-1].endswith((".json", ".jsonl")) and len(parts) in (2, 3):
                pointers.add(relative)
        # Complete bundles (their manifest uploaded last), downloaded when first needed.
        self._bundles = {key: names for key, names in bundles.items() if MANIFEST in names}
        for relative in pointers:
            target = self.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            with os.fdopen(handle, "wb") as out:
                out.write(self.fs.cat_file(self._remote(relative)))
            os.replace(tmp, target)
        for task_dir in (p for p in self.root.iterdir() if p.is_dir()):
            for local in [*task_dir.glob("*.json"), *task_dir.glob("*.jsonl")]:
                if f"{task_dir.name}/{local.name}" not in pointers:
                    local.unlink(missing_ok=True)  # removed from the store (challenger cleared)

    def versions(self, task: Task | str) -> list[str]:
        name = Task(task).value
        remote = {version for t, version in self._bundles if t == name}
        return sorted(remote | set(super().versions(task)), key=int)

    def path(self, task: Task | str, version: str) -> Path:
        key = (Task(task).value, str(version))
        if not (self.root / key[0] / key[1] / MANIFEST).is_file() and key in self._bundles:
            self._download_bundle(*key, self._bundles[key])
        return super().path(task, version)

    def _download_bundle(self, task: str, version: str, names: list[str]) -> None:
        staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=self.root))
        try:
            for name in sorted(names, key=lambda n: n == MANIFEST):  # the manifest last
                (staging / name).write_bytes(
                    self.fs.cat_file(self._remote(f"{task}/{version}/{name}"))
                )
            (self.root / task).mkdir(exist_ok=True)
            os.rename(staging, self.root / task / version)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (self.root / task / version / MANIFEST).is_file():
                raise
        logger.info("mirrored %s v%s from %s", task, version, self.uri)

    def _push(self, relatives: list[str]) -> None:
        for relative in relatives:
            local = self.root / relative
            if local.is_file():
                self.fs.pipe_file(self._remote(relative), local.read_bytes())

    def register(self, model: SavableModel, **kwargs: Any) -> BundleInfo:
        self.pull()
        info = super().register(model, **kwargs)
        folder = f"{info.task.value}/{info.version}"
        files = sorted(p.name for p in info.path.iterdir() if p.is_file())
        self._push([f"{folder}/{n}" for n in files if n != MANIFEST] + [f"{folder}/{MANIFEST}"])
        return info

    def promote(
        self,
        task: Task | str,
        version: str,
        reason: str = "",
        *,
        alias: str = "champion",
        who: str | None = None,
    ) -> dict[str, Any]:
        self.pull()
        entry = super().promote(task, version, reason, alias=alias, who=who)
        name = Task(task).value
        changed = [f"{name}/history.jsonl"]
        if alias == "challenger":
            changed.append(f"{name}/challenger.json")
        else:
            changed += [f"{name}/champions/{entry['feature_set']}.json", f"{name}/champion.json"]
        self._push(changed)
        return entry

    def clear_challenger(self, task: Task | str, who: str | None = None) -> dict[str, Any] | None:
        self.pull()
        entry = super().clear_challenger(task, who)
        if entry is not None:
            name = Task(task).value
            self.fs.rm_file(self._remote(f"{name}/challenger.json"))
            self._push([f"{name}/history.jsonl"])
        return entry
