"""Scoring processes: a worker's batches scored on every core of its share of the machine.

Scoring a descriptors-only batch is pure Python and numpy under the GIL (decode, validate,
frame, predict, serialise: ~45 ms per 1,000 releases here), so a second thread would only
contend. A :class:`ScoringPool` runs the batch functions of :mod:`hitpred.pipeline` and
:class:`~hitpred.scoring.Scorer` in separate processes instead, while the worker process keeps
the broker work (fetch, produce, commits), enrichment and the models' lifecycle:

- the worker loads and verifies the models; :meth:`ScoringPool.stage` writes the scorer (and
  the challengers' set) once per generation to a file in a folder only this user can read
  (pickle, between a worker and the processes it started; registry bundles stay
  pickle-free), and every job names the generation it was created for, so a process switches
  models exactly between two batches, like the worker itself on a hot reload;
- a job carries the raw messages as plain tuples and returns plain tuples: the records stay
  bytes, nothing is decoded twice;
- results are handed back in submission order by the caller (``streams.batch`` keeps per
  partition order and commits after the broker acknowledged);
- a process that dies (killed, out of memory) breaks the pool: :meth:`ScoringPool.run` starts
  fresh processes and raises :class:`ScoringPoolBroken`, and the caller scores that batch
  itself. Nothing is lost: offsets are committed only after delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitpred import heap, metrics
from hitpred.errors import HitPredError
from hitpred.intake import BatchResult, OutRecord, RawMessage
from hitpred.scoring import Scorer

__all__ = ["POOL_STAGES", "Generation", "ScoringPool", "ScoringPoolBroken"]

logger = logging.getLogger(__name__)

#: The stages a pool can run: releases -> predictions without enrichment, and the score stage.
POOL_STAGES = frozenset({"pipeline", "score"})

#: A message as it travels to a scoring process (the fields of :class:`RawMessage`).
Wire = tuple[bytes | None, bytes | None, str, int | None, int | None, int | None]


class ScoringPoolBroken(HitPredError):
    """A scoring process died: the pool must be restarted; the batch is scored elsewhere."""


@dataclass(frozen=True, slots=True)
class Generation:
    """A set of scorers as the scoring processes load it: a number and a file."""

    number: int
    path: str


class ScoringPool:
    """``processes`` scoring processes (spawned, so no lock or thread of the worker is
    inherited); see the module docs."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("a scoring pool needs at least one process")
        self.processes = processes
        self._dir: Path | None = None  # made on the first stage(), removed by close()
        #: The staged generations still on disk: the newest and the one before it.
        self._kept: list[Generation] = []
        self._executor: ProcessPoolExecutor | None = None
        self._warm: asyncio.Future[Any] | None = None
        #: How many times the processes were started again after one died.
        self.restarts = 0

    # -- models ----------------------------------------------------------------------------

    def stage(self, scorer: Scorer, shadow: Scorer | None) -> Generation:
        """Write a scorer set for the processes (call from a thread: pickling a large model
        takes a while); jobs created afterwards with this generation score with it."""
        if self._dir is None:
            self._dir = _private_dir()
        number = self._kept[-1].number + 1 if self._kept else 1
        path = self._dir / f"scorers-{number}.pkl"
        partial = path.with_suffix(".tmp")
        with partial.open("wb") as out:
            pickle.dump((scorer, shadow), out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
        generation = Generation(number, str(path))
        # Keep the previous set too: batches created before the swap may still be queued.
        self._kept.append(generation)
        for old in self._kept[:-2]:
            Path(old.path).unlink(missing_ok=True)
        self._kept = self._kept[-2:]
        return generation

    # -- processes ----------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the processes (in the background: they import the libraries meanwhile;
        :attr:`ready` says when they can take batches)."""
        context = multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(
            max_workers=self.processes, mp_context=context, initializer=_initialize
        )
        _widen_pipes(self._executor)
        self._warm = self._load_everywhere(self._kept[-1] if self._kept else None, spread=True)
        self._warm.add_done_callback(_log_warm_up)

    def preload(self, generation: Generation) -> None:
        """Load ``generation`` in the processes now rather than on their next batch (best
        effort: a process that misses it loads it with its first batch)."""
        if self._executor is not None:
            self._load_everywhere(generation, spread=False).add_done_callback(_ignore)

    async def load(self, generation: Generation, timeout: float) -> bool:
        """Load ``generation`` in every process once they are up, and wait for it. A worker
        says it is ready only after this: a process's first load imports the models' libraries
        (xgboost, scikit-learn, scipy: seconds on 2 cores), which its first batches would
        otherwise wait for. False (logged) when it failed or took over ``timeout`` seconds:
        a process then loads the models with its first batch."""
        started = time.perf_counter()
        try:
            if self._warm is not None:  # every process initialised, so each takes one job
                await asyncio.wait_for(asyncio.shield(self._warm), timeout)
            await asyncio.wait_for(self._load_everywhere(generation, spread=True), timeout)
        except Exception as exc:  # TimeoutError, a process that died, the pool shut down
            logger.warning("the scoring processes did not load the models: %r", exc)
            return False
        logger.info("scoring processes loaded the models in %.1fs", time.perf_counter() - started)
        return True

    def _load_everywhere(
        self, generation: Generation | None, *, spread: bool
    ) -> asyncio.Future[Any]:
        executor = self._executor
        assert executor is not None
        loop = asyncio.get_running_loop()
        try:
            return asyncio.gather(
                *(
                    loop.run_in_executor(executor, _warm_up, generation, spread)
                    for _ in range(self.processes)
                )
            )
        except (BrokenProcessPool, RuntimeError) as exc:
            # A process died while no batch was there to notice (or the pool is shut down).
            failed: asyncio.Future[Any] = loop.create_future()
            failed.set_exception(ScoringPoolBroken(f"the scoring processes are down: {exc}"))
            if isinstance(exc, BrokenProcessPool) and executor is self._executor:
                loop.call_soon(self._restart_broken, executor, exc)
            return failed

    @property
    def ready(self) -> bool:
        """Whether the processes are up with the models (batches go elsewhere until then)."""
        warm = self._warm
        return warm is not None and warm.done() and warm.exception() is None

    async def run(
        self, generation: Generation, stage: str, messages: Sequence[Wire]
    ) -> BatchResult:
        """Score ``messages`` (one fetch) in a process with ``generation``'s scorers.

        Raises :class:`ScoringPoolBroken` when a process died (new ones are started then)."""
        executor = self._executor
        if executor is None:
            raise ScoringPoolBroken("the scoring processes are not running")
        loop = asyncio.get_running_loop()
        try:
            packed = await loop.run_in_executor(executor, _score, generation, stage, messages)
        except BrokenProcessPool as exc:
            self._restart_broken(executor, exc)
            raise ScoringPoolBroken(f"a scoring process died: {exc}") from exc
        return _unpack(packed)

    def _restart_broken(self, broken: ProcessPoolExecutor, error: BaseException) -> None:
        """Start new processes, once per broken pool (the first batch to find out does it)."""
        if broken is not self._executor:
            return
        logger.error("a scoring process died (%s): starting new ones", error)
        metrics.SCORING_PROCESS_RESTARTS.inc()
        self.restarts += 1
        self._executor = None
        # The survivors may be stuck writing to a pipe nobody reads any more: kill them, so
        # neither their memory nor the broken pool's clean-up outlives it.
        for process in list((getattr(broken, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        self.start()

    def close(self) -> None:
        """Stop the processes and remove the staged models."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def pids(self) -> list[int]:
        """The scoring processes' ids (for memory accounting)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)


_DIR_PREFIX = "hitpred-scorers-"


def _private_dir() -> Path:
    """A folder for this process's staged models (``hitpred-scorers-<pid>-...``); those of
    processes that are gone (killed before they could clean up) are removed."""
    root = Path(tempfile.gettempdir())
    stale = root.glob(f"{_DIR_PREFIX}*-*") if sys.platform == "linux" else ()  # /proc needed
    for folder in stale:
        owner = folder.name[len(_DIR_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-"))


#: fcntl's F_SETPIPE_SZ (Linux): a pipe's buffer size.
_F_SETPIPE_SZ = 1031


def _widen_pipes(executor: ProcessPoolExecutor) -> None:
    """Give the executor's job and result pipes 1 MiB buffers instead of 64 KiB (best effort,
    Linux; the system's ``fs.pipe-max-size`` caps it).

    A batch of 1,000 travels as ~0.6 MB of releases and comes back as ~1.4 MB of predictions;
    through 64 KiB pipes each transfer takes ~30 hand-offs between a scoring process and the
    worker's threads, each waiting for the worker's GIL. Measured: a scoring process sat idle ~5 ms
    between two 40 ms batches (12%) before this.
    """
    try:
        import fcntl

        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (ImportError, OSError, ValueError):
        return
    size = min(limit, 1 << 20)
    for queue in (getattr(executor, "_call_queue", None), getattr(executor, "_result_queue", None)):
        writer = getattr(queue, "_writer", None)
        with contextlib.suppress(OSError, AttributeError, ValueError):
            fcntl.fcntl(writer.fileno(), _F_SETPIPE_SZ, size)  # type: ignore[union-attr]


def _ignore(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a failed preload is retried by the next batch


def _log_warm_up(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        logger.error("the scoring processes could not start: %r (scoring in the worker)", error)
        return
    logger.info("scoring processes ready: %s", ", ".join(str(r) for r in future.result()))


# -- in the scoring processes ------------------------------------------------------------

_held: tuple[int, Scorer, Scorer | None] | None = None


_PR_SET_PDEATHSIG = 1


def _initialize() -> None:
    # Stopping is the worker's to do: a Ctrl-C or SIGTERM sent to its whole process group must
    # not kill the processes under a batch it is finishing (it closes them itself), so they
    # leave the group; a signal sent to one of them still works (the pool's own clean-up).
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    if sys.platform.startswith("linux"):  # and never outlive it, even after a SIGKILL
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The imports are what takes time (pandas, xgboost, pydantic): do them before any batch.
    import hitpred.pipeline  # noqa: F401


def _scorers(generation: Generation) -> tuple[Scorer, Scorer | None]:
    global _held
    if _held is None or _held[0] != generation.number:
        with open(generation.path, "rb") as staged:
            scorer, shadow = pickle.load(staged)
        # The previous set goes: back into the collector's reach, then collected.
        gc.unfreeze()
        _held = (generation.number, scorer, shadow)
        gc.collect()
        # As the worker does: what stays alive leaves the cyclic GC's generations.
        heap.settle()
    return _held[1], _held[2]


def _warm_up(generation: Generation | None, spread: bool) -> str:
    started = time.perf_counter()
    if generation is not None:
        _scorers(generation)
    if spread:  # at start-up: long enough that each process takes one of the jobs
        time.sleep(0.2)
    return f"pid {os.getpid()} in {time.perf_counter() - started:.1f}s"


def _score(generation: Generation, stage: str, messages: Sequence[Wire]) -> tuple[Any, ...]:
    from hitpred.pipeline import process_releases

    scorer, shadow = _scorers(generation)
    raw = [RawMessage(*m) for m in messages]
    if stage == "pipeline":
        # The worker sends only batches without lyrics or audio (a byte test); one that has
        # them after all (a key spelled with \u escapes) goes back to it, to be enriched.
        result = process_releases(scorer, None, raw, shadow=shadow, enrich_required=True)
    elif stage == "score":
        result = scorer.score_enriched(raw, shadow=shadow)
    else:
        raise ValueError(f"a scoring process does not run the {stage!r} stage")
    return _pack(result)


def _pack(result: BatchResult) -> tuple[Any, ...]:
    """A batch result as plain tuples (pickled several times faster than the dataclasses)."""
    return (
        [(r.key, r.value, r.event_id) for r in result.records],
        result.dead_letters,
        result.timings_s,
        result.end_to_end_s,
        [(r.key, r.value, r.event_id) for r in result.shadow_records],
    )


def _unpack(packed: tuple[Any, ...]) -> BatchResult:
    records, dead, timings, end_to_end, shadow = packed
    return BatchResult(
        records=[OutRecord(*r) for r in records],
        dead_letters=dead,
        timings_s=timings,
        end_to_end_s=end_to_end,
        shadow_records=[OutRecord(*r) for r in shadow],
    )
