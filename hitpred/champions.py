"""Which models a worker serves, decided here and nowhere else.

Each task may have one champion per feature set in the registry (see
:mod:`hitpred.registry.store`). The worker serves every champion whose feature set the stream
can feed (:data:`hitpred.routing.FEATURE_SET_PRIORITY`); :class:`hitpred.routing.Router` then
picks, per release, the first one whose inputs the release carries. A served task without a
``release`` champion falls back to the synthetic-catalog baseline (marked as such in every
prediction) for releases that carry descriptors, unless the fallback is off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hitpred.errors import ModelError
from hitpred.models.base import Task, TaskModel
from hitpred.routing import FEATURE_SET_PRIORITY

if TYPE_CHECKING:
    from hitpred.settings import Settings

__all__ = [
    "SERVED_TASKS",
    "STREAM_FEATURE_SETS",
    "load_audio_encoder",
    "load_models",
    "load_shadow_models",
]

logger = logging.getLogger(__name__)

#: The tasks a prediction carries (tier comes from popularity unless a tier model exists).
SERVED_TASKS: tuple[Task, ...] = (Task.HIT, Task.POPULARITY, Task.GENRE)
#: Feature sets the stream can supply. Bundles trained on ``all`` (other targets as inputs) or
#: ``release+artist`` (an artist record the stream does not keep) are for offline comparison
#: and batch scoring only.
STREAM_FEATURE_SETS: tuple[str, ...] = FEATURE_SET_PRIORITY
#: Tasks whose outputs the multi-task network also provides.
_MULTITASK_ANSWERS: tuple[Task, ...] = (Task.POPULARITY, Task.GENRE)


def load_models(settings: Settings) -> dict[Task, list[TaskModel]]:
    """Per served task, the models that may answer it (any order; the router ranks them).

    Champions come from the registry folder when this worker can see it (they are then
    published to the Redis cache), else from the Redis cache alone (workers on other
    machines). The multi-task network answers popularity and genre where no dedicated
    champion of its feature set does.
    """
    by_task = _registry_champions(settings)
    served: dict[Task, list[TaskModel]] = {}
    for task, by_set in by_task.items():
        for feature_set, model in by_set.items():
            if feature_set not in STREAM_FEATURE_SETS:
                logger.warning(
                    "not serving %s champion v%s (%s): its feature set %r needs inputs a release "
                    "event does not carry",
                    task.value,
                    model.version,
                    model.name,
                    feature_set,
                )
                continue
            if task is Task.MULTITASK:
                for answered in _MULTITASK_ANSWERS:
                    own = by_task.get(answered, {})
                    if feature_set not in own:
                        served.setdefault(answered, []).append(model)
            elif task in (*SERVED_TASKS, Task.TIER):
                served.setdefault(task, []).append(model)
    without_release = [
        t for t in SERVED_TASKS if not any(m.feature_set == "release" for m in served.get(t, []))
    ]
    if without_release and settings.baseline_fallback:
        from hitpred.baseline import train_baseline

        baseline = train_baseline()
        for task in without_release:
            if task in baseline:
                served.setdefault(task, []).append(baseline[task])
        logger.warning(
            "no registered `release` champion for %s: releases with descriptors are scored "
            "with the synthetic-catalog baseline for it",
            ", ".join(t.value for t in without_release),
        )
    if not served:
        raise ModelError(
            f"no champion in the registry at {settings.registry_uri} nor in Redis, and the "
            "baseline fallback is off (HITPRED_BASELINE_FALLBACK=false): train one with "
            "`hitpred train`"
        )
    return served


def load_shadow_models(
    settings: Settings, served: dict[Task, list[TaskModel]]
) -> dict[Task, list[TaskModel]] | None:
    """The served set with each task's challenger in place of the champion of its feature set
    (what a worker scores a second time, for the shadow topic), or None when no task has a
    challenger. Challengers are read, verified, from the registry (folder or object store), or
    from the Redis cache by a worker that sees neither."""
    from hitpred.registry import open_registry
    from hitpred.registry.live import challenger_from_redis

    store = open_registry(settings.registry_uri, settings.state_dir / "registry-mirror")
    have_registry = store.root.is_dir()
    shadow = {task: list(models) for task, models in served.items()}
    found = False
    for task in (*SERVED_TASKS, Task.TIER):
        if have_registry:
            version = store.challenger(task)
            model = None if version is None else store.load(task, version)
        else:
            model = challenger_from_redis(settings, task)
        if model is None:
            continue
        version = model.version
        if model.feature_set not in STREAM_FEATURE_SETS:
            logger.warning(
                "not shadow-scoring %s challenger v%s: the stream cannot feed %r",
                task.value,
                version,
                model.feature_set,
            )
            continue
        kept = [m for m in shadow.get(task, []) if m.feature_set != model.feature_set]
        shadow[task] = [*kept, model]
        found = True
    return shadow if found else None


def _registry_champions(settings: Settings) -> dict[Task, dict[str, TaskModel]]:
    """Champions per feature set, from the registry folder (if present) through Redis."""
    import redis

    from hitpred.errors import RegistryError
    from hitpred.registry import load_feature_set_champions, open_registry

    try:
        store = open_registry(settings.registry_uri, settings.state_dir / "registry-mirror")
    except RegistryError as exc:  # an object store out of reach: what Redis holds
        logger.warning("registry unreachable, loading the champions from Redis: %s", exc)
        store = None
    have_folder = store is not None and store.root.is_dir()
    tasks = (*SERVED_TASKS, Task.TIER, Task.MULTITASK)
    try:
        return load_feature_set_champions(
            store if have_folder else None,
            redis_url=settings.redis_connection_url,
            prefix=settings.registry_cache_prefix,
            tasks=tasks,
        )
    except (RegistryError, redis.RedisError) as exc:
        if have_folder:
            raise
        logger.warning(
            "no registry at %s and no champions from Redis: %s", settings.registry_uri, exc
        )
        return {}


def load_audio_encoder(settings: Settings) -> Any:
    """The champion audio encoder (``hitpred train audio-embedding``), or None when there is
    none: releases with audio are then analysed but not embedded."""
    import redis

    from hitpred.errors import RegistryError
    from hitpred.registry import load_champions, open_registry

    try:
        store = open_registry(settings.registry_uri, settings.state_dir / "registry-mirror")
        found = load_champions(
            store if store.root.is_dir() else None,
            redis_url=settings.redis_connection_url,
            prefix=settings.registry_cache_prefix,
            tasks=(Task.AUDIO_EMBEDDING,),
        )
    except (RegistryError, redis.RedisError) as exc:
        logger.warning("no audio encoder: %s", exc)
        return None
    return found.get(Task.AUDIO_EMBEDDING)
