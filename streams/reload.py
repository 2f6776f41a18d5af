"""Hot reload: a running worker follows the registry's champions without a restart.

:class:`ModelReloader` waits for a change announcement (Redis pub/sub, see
:mod:`hitpred.registry.live`) or the poll interval, compares the versions the registry says to
serve with those the worker holds, and on a difference loads the new set in the background
(every artifact checked against its manifest's sha256 on the way). The new scorer replaces the
old one between two batches: a batch is scored by one complete set of models, and every
prediction names the versions that produced it. A set that fails to load (a tampered or
truncated bundle, a missing file) is refused, counted and logged; the worker keeps serving what
it had, and tries again only when the registry changes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from mode import Service

from hitpred import metrics
from hitpred.errors import IntegrityError
from hitpred.registry.live import ChangeListener, served_state
from streams.runtime import Runtime, build_scorers, describe_models, export_model_info

__all__ = ["ModelReloader"]

logger = logging.getLogger(__name__)

State = dict[str, dict[str, str]]


class ModelReloader(Service):
    """Watches the registry for one worker and swaps its scorer when the champions change."""

    def __init__(self, runtime: Runtime, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runtime = runtime
        self.settings = runtime.settings
        # Waiting for announcements blocks: a thread of its own, never the scoring ones.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hitpred-reload")
        self._listener = ChangeListener(self.settings)
        self._task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    async def on_stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._listener.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _state(self) -> State | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, served_state, self.settings)
        except Exception as exc:  # the registry unreadable for now: keep serving, look again
            logger.warning("cannot read the registry's champions: %r", exc)
            return None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        await self.runtime.wait_ready()
        held = await self._state()
        refused: State | None = None
        while True:
            await loop.run_in_executor(
                self._executor, self._listener.wait, self.settings.registry_poll_s
            )
            state = await self._state()
            if state is None or state == held or state == refused:
                continue
            if await self._reload():
                held, refused = state, None
            else:
                refused = state

    async def _reload(self) -> bool:
        started = time.perf_counter()
        before = describe_models(self.runtime.models)
        try:
            loop = asyncio.get_running_loop()
            scorer, shadow = await loop.run_in_executor(
                self._executor, build_scorers, self.settings
            )
            generation = await loop.run_in_executor(
                self._executor, self.runtime.stage_for_pool, scorer, shadow
            )
        except Exception as exc:
            if isinstance(exc, IntegrityError):
                metrics.REGISTRY_INTEGRITY_FAILURES.inc()
            metrics.MODEL_RELOADS.labels("refused").inc()
            logger.error("registry change refused, still serving %s: %s", before, exc)
            return False
        self.runtime.swap_scorer(scorer, shadow, generation)
        models = scorer.models
        seconds = time.perf_counter() - started
        metrics.MODEL_RELOADS.labels("loaded").inc()
        metrics.MODEL_RELOAD_SECONDS.observe(seconds)
        export_model_info(models)
        logger.info(
            "models reloaded in %.1fs: %s -> %s%s",
            seconds,
            before,
            describe_models(models),
            "" if shadow is None else f"; shadow {describe_models(shadow.models)}",
        )
        return True
