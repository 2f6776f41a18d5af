"""Scoring processes (:mod:`hitpred.parallel`): same outputs as scoring in the worker, models
switched between batches, a dead process replaced without losing the batch."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hitpred.baseline import synthetic_release_events, train_baseline
from hitpred.errors import NeedsEnrichment
from hitpred.intake import RawMessage
from hitpred.models.base import Task
from hitpred.parallel import Generation, ScoringPool, ScoringPoolBroken, Wire, _private_dir
from hitpred.pipeline import process_releases
from hitpred.scoring import Scorer
from hitpred.settings import Settings, usable_cores

#: What differs between two scorings of the same release (clock readings).
_CLOCKS = ("timings", "scored_at")


def _wire(n: int, bad: int = 0) -> list[Wire]:
    events = synthetic_release_events(n, seed=3)
    wire: list[Wire] = [
        (orjson.dumps(e), str(e["track_id"]).encode(), "releases", i % 4, i, 1_700_000_000_000)
        for i, e in enumerate(events)
    ]
    wire += [(b"{not json", b"k", "releases", 0, n + i, None) for i in range(bad)]
    return wire


def _content(value: bytes) -> dict[str, Any]:
    prediction = orjson.loads(value)
    for clock in _CLOCKS:
        prediction.pop(clock)
    return prediction


async def _wait_ready(pool: ScoringPool) -> None:
    for _ in range(600):
        if pool.ready:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the scoring processes did not start in 30 s")


@contextlib.asynccontextmanager
async def _started(scorer: Scorer) -> AsyncIterator[tuple[ScoringPool, Generation]]:
    """A one-process pool with ``scorer`` staged, ready to take batches; closed afterwards."""
    pool = ScoringPool(1)
    try:
        generation = pool.stage(scorer, None)
        pool.start()
        await _wait_ready(pool)
        yield pool, generation
    finally:
        pool.close()


def _renamed(scorer: Scorer, version: str) -> Scorer:
    models = {
        task: [dataclasses.replace(m, version=version) for m in served]  # type: ignore[type-var]
        for task, served in scorer.models.items()
    }
    return Scorer(models)


def test_a_pool_scores_like_the_worker_and_switches_models_between_batches() -> None:
    scorer = Scorer(train_baseline())
    wire = _wire(300, bad=5)
    inline = process_releases(scorer, None, [RawMessage(*m) for m in wire])

    async def run() -> None:
        async with _started(scorer) as (pool, first):
            pooled = await pool.run(first, "pipeline", wire)
            assert [r.key for r in pooled.records] == [r.key for r in inline.records]
            assert [_content(r.value) for r in pooled.records] == [
                _content(r.value) for r in inline.records
            ]
            assert [(d.stage, d.source_offset) for d in pooled.dead_letters] == [
                (d.stage, d.source_offset) for d in inline.dead_letters
            ]
            assert len(pooled.dead_letters) == 5
            assert set(pooled.timings_s) >= {"decode", "frame", "predict", "serialize"}

            # A promotion: batches created after it score with the new set, a batch created
            # before it (still queued) with the one it was created for.
            second = pool.stage(_renamed(scorer, "v2"), None)
            new, old = await asyncio.gather(
                pool.run(second, "pipeline", wire[:20]), pool.run(first, "pipeline", wire[:20])
            )
            assert {orjson.loads(r.value)["hit"]["model"]["version"] for r in new.records} == {"v2"}
            assert {orjson.loads(r.value)["hit"]["model"]["version"] for r in old.records} == {
                "baseline"
            }
            with pytest.raises(ValueError, match="enrich"):
                await pool.run(second, "enrich", wire[:1])
            # Lyrics behind an escaped key pass the worker's byte test: sent back to it.
            escaped = wire[0][0].replace(b"{", b'{"lyr\\u0069cs":"la la",', 1)
            assert b'"lyrics"' not in escaped
            with pytest.raises(NeedsEnrichment):
                await pool.run(second, "pipeline", [(escaped, *wire[0][1:])])

    asyncio.run(run())


def test_a_dead_scoring_process_is_replaced_and_says_so() -> None:
    scorer = Scorer({Task.HIT: train_baseline()[Task.HIT]})
    wire = _wire(50)

    async def run() -> None:
        async with _started(scorer) as (pool, generation):
            assert len((await pool.run(generation, "pipeline", wire)).records) == 50
            # Died while idle: the next model swap (a preload) finds out and restarts it.
            (pid,) = pool.pids()
            os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            pool.preload(generation)
            await asyncio.sleep(0.1)
            assert pool.restarts == 1
            await _wait_ready(pool)
            assert len((await pool.run(generation, "pipeline", wire)).records) == 50
            # Died under a batch: that batch says so (the worker scores it), new ones start.
            (pid,) = pool.pids()
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ScoringPoolBroken, match="died"):
                await pool.run(generation, "pipeline", wire)
            assert pool.restarts == 2
            await _wait_ready(pool)
            assert pool.pids() != [pid]
            assert len((await pool.run(generation, "pipeline", wire)).records) == 50

    asyncio.run(run())


def test_the_first_models_are_loaded_in_every_process_before_the_worker_is_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scorer = Scorer(train_baseline())

    async def run() -> None:
        pool = ScoringPool(2)
        try:
            generation = pool.stage(scorer, None)
            pool.start()
            assert await pool.load(generation, timeout=120)
            assert pool.ready
            # A generation whose file is gone: reported, not raised (the worker starts anyway
            # and the processes load the models with their first batch).
            gone = Generation(generation.number + 1, generation.path + ".gone")
            assert not await pool.load(gone, timeout=120)
            # Too slow for the bound: the same.
            assert not await pool.load(generation, timeout=0.0)
            wire = _wire(50)
            assert len((await pool.run(generation, "pipeline", wire)).records) == 50
        finally:
            pool.close()

    asyncio.run(run())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert all("did not load the models" in w for w in warnings)


def test_usable_cores_are_at_most_the_affinity() -> None:
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cores", "workers", "expected"),
    [
        (1, 1, 0),  # one core: the worker scores on its own event loop
        (2, 1, 2),  # one scoring process per core: the worker's own needs well under one
        (2, 2, 0),  # a core per worker process
        (3, 2, 0),
        (4, 2, 2),
        (8, 1, 8),
        (64, 1, 8),  # each process holds a copy of the models: at most 8 unless asked
        (64, 16, 4),
    ],
)
def test_scoring_processes_default_to_the_worker_process_s_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, expected: int
) -> None:
    monkeypatch.setattr("hitpred.settings.usable_cores", lambda: cores)
    assert Settings(worker_processes=workers).scoring_process_count == expected
    # Asked for, the count is taken as it is.
    assert Settings(worker_processes=workers, scoring_processes=3).scoring_process_count == 3
    assert Settings(worker_processes=workers, scoring_processes=0).scoring_process_count == 0


def test_a_container_cpu_quota_limits_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.read_text

    def quota(self: Path, *args: Any, **kwargs: Any) -> str:
        if str(self) == "/sys/fs/cgroup/cpu.max":
            return "100000 100000\n"  # docker run --cpus 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", quota)
    assert usable_cores() == 1
    assert Settings().scoring_process_count == 0


def test_staged_models_of_a_process_that_is_gone_are_removed(tmp_path: Path) -> None:
    tempfile.tempdir = str(tmp_path)
    try:
        gone = tmp_path / "hitpred-scorers-999999999-abc"
        alive = tmp_path / f"hitpred-scorers-{os.getpid()}-def"
        for folder in (gone, alive):
            folder.mkdir()
            (folder / "scorers-1.pkl").write_bytes(b"x")
        made = _private_dir()
        assert made.parent == tmp_path and made.name.startswith(f"hitpred-scorers-{os.getpid()}-")
        assert not gone.exists() and alive.exists()
    finally:
        tempfile.tempdir = None


def test_models_that_cannot_be_pickled_are_scored_in_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import threading

    from streams.runtime import Runtime

    hit = train_baseline()[Task.HIT]
    unpicklable = dataclasses.replace(hit)  # type: ignore[type-var]
    unpicklable.lock = threading.Lock()  # type: ignore[attr-defined]
    runtime = Runtime(Settings(scoring_processes=1), "127.0.0.1:9")
    assert runtime.pool is not None
    try:
        assert runtime.stage_for_pool(Scorer({Task.HIT: unpicklable}), None) is None
        assert "scoring in the worker" in caplog.text
        assert runtime.stage_for_pool(Scorer({Task.HIT: hit}), None) is not None
    finally:
        runtime.pool.close()
