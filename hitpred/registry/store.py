"""Durable model bundles in a folder: ``<root>/<task>/<version>/`` plus a champion alias.

Layout::

    <root>/<task>/<version>/manifest.json   task, feature set and list, metrics, evaluation,
                                            data fingerprint, library versions, created-at,
                                            sha256 of every file
    <root>/<task>/<version>/preprocess.skops, model.{skops,ubj,safetensors}
    <root>/<task>/champion.json             {"version": "3", "promoted_at": ...}: the task's
                                            champion (the last one promoted)
    <root>/<task>/champions/<feature set>.json  the champion among the bundles of one feature set:
                                            the stream serves one per servable feature set and
                                            picks, per release, one whose inputs it carries
    <root>/<task>/challenger.json           the version shadow-tested against the champion
    <root>/<task>/history.jsonl             append-only: one line per alias change (when, who,
                                            which alias, from which version to which, why)

Versions are consecutive integers. A bundle is written into a hidden temporary folder and
renamed into place, so readers never see half a bundle; the champion alias is replaced
atomically with ``os.replace``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from hitpred.errors import RegistryError
from hitpred.models.base import Task, TaskModel
from hitpred.registry.integrity import MANIFEST, file_sha256, pack_bundle, verify_folder

__all__ = ["ALIASES", "BundleInfo", "RegistryStore", "SavableModel", "library_versions"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_CHAMPION = "champion.json"
_CHAMPIONS = "champions"
_CHALLENGER = "challenger.json"
_HISTORY = "history.jsonl"
#: The aliases a version can hold.
ALIASES = ("champion", "challenger")


class SavableModel(Protocol):
    """A fitted model that can write its artifacts (see :mod:`hitpred.models.pipeline`)."""

    task: Task
    name: str
    feature_set: str
    features: tuple[str, ...]

    def save(self, directory: Path) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BundleInfo:
    """Where a registered bundle lives and what it is."""

    task: Task
    version: str
    path: Path
    manifest: dict[str, Any]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle depends on (recorded in every manifest)."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for package in (
        "hitpred",
        "numpy",
        "pandas",
        "scikit-learn",
        "skops",
        "xgboost",
        "torch",
        "safetensors",
    ):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            continue
    return versions


def _root_from_uri(uri: str | Path) -> Path:
    text = str(uri)
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme != "file":
            raise RegistryError(f"unsupported registry URI {text!r}: only folders / file:// URIs")
        text = parsed.path
    return Path(text).expanduser()


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


class RegistryStore:
    """A folder of versioned bundles, one sub-folder per task."""

    def __init__(self, uri: str | Path) -> None:
        self.uri = str(uri)
        self.root = _root_from_uri(uri)

    def __repr__(self) -> str:
        return f"RegistryStore({self.uri!r})"

    # -- reading -------------------------------------------------------------------------
    def tasks(self) -> list[Task]:
        """Tasks with at least one registered version."""
        return [t for t in Task if self.versions(t)]

    def versions(self, task: Task | str) -> list[str]:
        """Registered versions of ``task``, oldest first."""
        folder = self.root / Task(task).value
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        return sorted(found, key=int)

    def champion(self, task: Task | str) -> str | None:
        """The champion version of ``task``, or None when none was promoted."""
        path = self.root / Task(task).value / _CHAMPION
        if not path.is_file():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])

    def champions(self, task: Task | str) -> dict[str, str]:
        """The champion version of each feature set of ``task`` ({feature set: version})."""
        folder = self.root / Task(task).value / _CHAMPIONS
        found: dict[str, str] = {}
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                found[path.stem] = str(json.loads(path.read_text(encoding="utf-8"))["version"])
        primary = self.champion(task)
        if primary is not None:  # promoted before champions were kept per feature set
            feature_set = str(self.manifest(task, primary).get("feature_set", ""))
            found.setdefault(feature_set, primary)
        return found

    def path(self, task: Task | str, version: str) -> Path:
        """The folder of one bundle (it must exist)."""
        folder = self.root / Task(task).value / str(version)
        if not (folder / MANIFEST).is_file():
            raise RegistryError(f"{self}: no version {version!r} of task {Task(task).value!r}")
        return folder

    def manifest(self, task: Task | str, version: str | None = None) -> dict[str, Any]:
        """The manifest of a version (default: the champion)."""
        version = self.resolve(task, version)
        text = (self.path(task, version) / MANIFEST).read_text(encoding="utf-8")
        return dict(json.loads(text))

    def resolve(self, task: Task | str, version: str | None = None) -> str:
        """``version``, or the champion when None; raises when neither exists."""
        if version is not None:
            return str(version)
        champion = self.champion(task)
        if champion is None:
            raise RegistryError(
                f"{self}: task {Task(task).value!r} has no champion "
                f"(train one with `hitpred train {Task(task).value} --data ...`)"
            )
        return champion

    def load(self, task: Task | str, version: str | None = None) -> TaskModel:
        """Verify a bundle's sha256 sums and load it (default: the champion)."""
        from hitpred.registry.loading import load_bundle

        version = self.resolve(task, version)
        folder = self.path(task, version)
        manifest = self.manifest(task, version)
        verify_folder(folder, manifest)
        model = load_bundle(folder, manifest)
        logger.info("loaded %s v%s (%s) from %s", Task(task).value, version, model.name, folder)
        return model

    def bundle_bytes(self, task: Task | str, version: str | None = None) -> bytes:
        """A verified bundle as one archive (what the Redis cache stores)."""
        version = self.resolve(task, version)
        folder = self.path(task, version)
        verify_folder(folder, self.manifest(task, version))
        return pack_bundle(folder)

    # -- writing -------------------------------------------------------------------------
    def register(
        self,
        model: SavableModel,
        *,
        metrics: dict[str, Any],
        evaluation: dict[str, Any],
        data: dict[str, Any],
        classes: tuple[str, ...] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> BundleInfo:
        """Store ``model`` as the next version of its task; returns where it went.

        ``metrics`` are the measured figures, ``evaluation`` the protocol they were measured
        with (compared before a promotion), ``data`` the data set name and fingerprint.
        """
        task = Task(model.task)
        task_dir = self.root / task.value
        task_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=task_dir))
        try:
            record = model.save(staging)
            manifest: dict[str, Any] = {
                "format_version": FORMAT_VERSION,
                "task": task.value,
                "name": model.name,
                "feature_set": model.feature_set,
                "features": list(model.features),
                "classes": list(classes) if classes else None,
                "model": record,
                "metrics": metrics,
                "evaluation": evaluation,
                "data": data,
                "libraries": library_versions(),
                "created_at": datetime.now(UTC).isoformat(),
                **(extra or {}),
            }
            manifest["files"] = {
                p.name: file_sha256(p) for p in sorted(staging.iterdir()) if p.is_file()
            }
            version = self._claim_version(task_dir, staging, manifest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        path = task_dir / version
        logger.info("registered %s v%s (%s) at %s", task.value, version, model.name, path)
        return BundleInfo(task=task, version=version, path=path, manifest=manifest)

    def _claim_version(self, task_dir: Path, staging: Path, manifest: dict[str, Any]) -> str:
        # os.rename onto a missing folder is atomic; a concurrent writer that took the same
        # number makes it fail, and we try the next number.
        for _ in range(100):
            existing = [int(v) for v in self.versions(Task(manifest["task"]))]
            version = str(max(existing, default=0) + 1)
            manifest["version"] = version
            _write_json_atomic(staging / MANIFEST, manifest)
            try:
                os.rename(staging, task_dir / version)
            except OSError:
                continue
            return version
        raise RegistryError(f"{task_dir}: could not claim a version number")

    def challenger(self, task: Task | str) -> str | None:
        """The challenger version of ``task``, or None."""
        path = self.root / Task(task).value / _CHALLENGER
        if not path.is_file():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])

    def history(self, task: Task | str) -> list[dict[str, Any]]:
        """Every alias change of ``task``, oldest first."""
        path = self.root / Task(task).value / _HISTORY
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [dict(json.loads(line)) for line in lines if line.strip()]

    def previous_champion(self, task: Task | str) -> str | None:
        """The champion before the current one (what ``rollback`` returns to), or None."""
        current = self.champion(task)
        for entry in reversed(self.history(task)):
            if entry.get("alias") == "champion" and entry.get("to") == current:
                previous = entry.get("from")
                return None if previous is None else str(previous)
        return None

    def promote(
        self,
        task: Task | str,
        version: str,
        reason: str = "",
        *,
        alias: str = "champion",
        who: str | None = None,
    ) -> dict[str, Any]:
        """Give ``version`` an alias (by default: champion of ``task`` and of its feature set);
        appends the change to the task's history and returns that entry."""
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}: one of {', '.join(ALIASES)}")
        self.path(task, version)  # must exist
        feature_set = str(self.manifest(task, version).get("feature_set", ""))
        previous = self.champion(task) if alias == "champion" else self.challenger(task)
        now = datetime.now(UTC).isoformat()
        payload = {
            "version": str(version),
            "feature_set": feature_set,
            "promoted_at": now,
            "reason": reason,
        }
        task_dir = self.root / Task(task).value
        if alias == "challenger":
            _write_json_atomic(task_dir / _CHALLENGER, payload)
        else:
            if feature_set and "/" not in feature_set and not feature_set.startswith("."):
                (task_dir / _CHAMPIONS).mkdir(exist_ok=True)
                _write_json_atomic(task_dir / _CHAMPIONS / f"{feature_set}.json", payload)
            _write_json_atomic(task_dir / _CHAMPION, payload)
        entry = {
            "at": now,
            "task": Task(task).value,
            "alias": alias,
            "from": previous,
            "to": str(version),
            "feature_set": feature_set,
            "reason": reason,
            "who": who or _who(),
        }
        with (task_dir / _HISTORY).open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")
        logger.info("%s of %s is now v%s (%s)", alias, Task(task).value, version, reason)
        return entry

    def clear_challenger(self, task: Task | str, who: str | None = None) -> dict[str, Any] | None:
        """Remove the task's challenger (shadow scoring stops); returns the history entry."""
        previous = self.challenger(task)
        if previous is None:
            return None
        task_dir = self.root / Task(task).value
        (task_dir / _CHALLENGER).unlink(missing_ok=True)
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "task": Task(task).value,
            "alias": "challenger",
            "from": previous,
            "to": None,
            "feature_set": None,
            "reason": "challenger removed",
            "who": who or _who(),
        }
        with (task_dir / _HISTORY).open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry


def _who() -> str:
    """user@host of whoever changes an alias (recorded in the history)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
