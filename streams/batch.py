"""Batch-consuming stages: the worker's hot path.

Faust runs the app (its CLI, services, sensors); the events themselves
go through :class:`BatchStage`, an aiokafka consumer that takes whole fetches (``getmany``),
runs the stage's pure batch function on them (see below for where) and produces the outputs
in one batch per partition. Faust's per-event stream machinery (an await and a future per event)
measured ~10x slower on this path, so it is not used for it.

The stages (see :mod:`streams.app`):

- ``pipeline`` releases -> predictions in one pass (:func:`hitpred.pipeline.process_releases`),
  when a worker runs both roles: one decode, no internal topic;
- ``enrich`` releases -> enriched topic, and ``score`` enriched topic -> predictions, when the
  roles run on different workers (``HITPRED_ROLES``).

Work is overlapped: while batch N is produced and its acknowledgements awaited, the next ones
are computed (aiokafka's fetcher prefetches in the background). Where it is computed:

- descriptors-only batches, when the worker has scoring processes (``HITPRED_SCORING_PROCESSES``,
  by default one per core of the worker's share, see :mod:`hitpred.parallel`): in those
  processes, up to two batches per process in flight while there is a backlog (one batch in
  all once caught up, so that light-load events gather into it), so the worker process keeps
  only the broker work;
- batches that need the lyrics encoder or audio analysis: in the stage's executor thread (the
  models live in the worker process);
- descriptors-only batches without scoring processes: on the event loop itself (with the GIL a
  thread hand-off only adds switches: measured 0.89x a plain aiokafka loop in the executor,
  1.16x inline, same machine and load).

Results are delivered strictly in fetch order: outputs are sent and offsets committed in order,
each only after its batch's outputs and dead letters were acknowledged by the broker
(at-least-once). A scoring process that dies costs its batch nothing: the batch is scored here
instead and new processes start. On shutdown the stage stops taking new batches, finishes and
commits the ones in hand, then leaves the consumer group so its partitions move at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from operator import attrgetter

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaError,
)
from mode import Service

from hitpred import metrics
from hitpred.errors import NeedsEnrichment
from hitpred.intake import BatchResult, RawMessage
from hitpred.parallel import Generation, ScoringPool, ScoringPoolBroken
from streams.publish import transient
from streams.runtime import Runtime

__all__ = ["BatchStage", "needs_models", "raw_messages", "record_values"]

logger = logging.getLogger(__name__)

Fetched = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


def raw_messages(fetched: Fetched) -> list[RawMessage]:
    """The records of one fetch as :class:`RawMessage` (bytes untouched, with coordinates)."""
    return [
        RawMessage(
            value=r.value,
            key=r.key,
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            timestamp_ms=r.timestamp,
        )
        for records in fetched.values()
        for r in records
    ]


class BatchStage(Service):
    """One pipeline stage: consume ``source`` in batches, compute, publish to ``target``."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        stage: str,
        source: str,
        target: str,
        group_id: str,
        bootstrap: str,
        batch_size: int | None = None,
        heavy_limit: int | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runtime = runtime
        self.stage = stage
        self.source = source
        self.target = target
        self.group_id = group_id
        self.bootstrap = bootstrap
        self.batch_size = batch_size or runtime.settings.batch_size
        #: At most this many releases with an audio reference per batch (audio analysis takes
        #: ~1.5 s each and a batch must finish within max_batch_interval_s); None: no cap.
        self.heavy_limit = heavy_limit
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._draining = False
        #: Per partition: the next offset to consume and the last consumed record's timestamp.
        self._positions: dict[TopicPartition, tuple[int, int | None]] = {}
        self._lag_reported_at = 0.0
        #: Batches in the executor (lyrics, audio): while one is, no new fetch is taken.
        self._enriching = 0

    async def on_start(self) -> None:
        settings = self.runtime.settings
        self._consumer = AIOKafkaConsumer(
            self.source,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            # A fetch that finds too little data waits this long on the broker: keep it at the
            # batch window, not aiokafka's 500 ms (tansu tends to wait it out; measured p50
            # latency ~240 ms at 500 ms).
            fetch_max_wait_ms=max(10, int(settings.batch_within_s * 1000)),
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            rebalance_timeout_ms=int(settings.rebalance_timeout_s * 1000),
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.session_timeout_s * 200),  # five per session
            # A batch of releases with audio takes minutes (about 1.5 s per 30 s excerpt, plus
            # fetches): the group must not evict the consumer while the executor works on it.
            max_poll_interval_ms=int(settings.max_batch_interval_s * 1000),
        )
        await self._consumer.start()
        self._task = asyncio.ensure_future(self._run())

    async def on_stop(self) -> None:
        """Finish the batch in hand (bounded by the shutdown timeout), then leave the group."""
        self._draining = True
        task, self._task = self._task, None
        if task is not None:
            timeout = self.runtime.settings.shutdown_timeout_s
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                logger.warning("%s: in-flight batch not finished in %.0fs", self, timeout)
                task.cancel()
            except Exception:  # already logged by _run
                pass
        if self._consumer is not None:
            await self._consumer.stop()  # commits nothing; sends LeaveGroup
            self._consumer = None

    async def _run(self) -> None:
        try:
            await self._consume()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Offsets of the failed batch stay uncommitted: after a restart it is consumed
            # again. Crash the worker so a supervisor restarts it, rather than idle silently.
            logger.exception("%s stopped on an error", self)
            await self.crash(exc)

    async def _consume(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        await self.runtime.wait_ready()
        within_ms = int(self.runtime.settings.batch_within_s * 1000)
        pool = self.runtime.pool
        # Batches computed at once: one per scoring process, plus one here (an audio batch in
        # the executor); results are delivered strictly in the order they were fetched.
        depth = 1 + (2 * pool.processes if pool is not None else 0)
        inflight: deque[tuple[asyncio.Future[BatchResult], int, dict[TopicPartition, int]]]
        inflight = deque()
        delivering: asyncio.Future[None] | None = None
        fetch: asyncio.Future[Fetched] | None = None
        stopped = False
        # Caught up (the last fetch came back short of a batch), a further fetch would only
        # queue a few events behind the batch in hand, each such batch paying the fixed costs
        # (a model call per task, a produce, a commit): the events wait on the broker instead
        # and make one batch when this one is done. p99 latency at 1,000 events/s on 2 cores,
        # four interleaved runs each: 77-157 -> 82-114 ms in a slow spell, 46-68 -> 45-68 ms
        # with cheaper small batches (21c7acc).
        caught_up = False
        try:
            while True:
                if (
                    fetch is None
                    and not (self._draining or stopped)
                    and len(inflight) < (1 if caught_up else depth)
                    and not self._enriching  # one batch of minutes at a time, as before
                ):
                    fetch = asyncio.ensure_future(
                        consumer.getmany(timeout_ms=within_ms, max_records=self.batch_size)
                    )
                waits = [f for f in (fetch, inflight[0][0] if inflight else None) if f]
                if not waits:
                    break  # stopping, and every batch taken is delivered (or on its way)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if fetch is not None and fetch.done():
                    done, fetch = fetch, None
                    try:
                        fetched = done.result()
                    except ConsumerStoppedError:
                        stopped, fetched = True, {}
                    if fetched:
                        started = self._start(consumer, fetched)
                        inflight.append(started)
                        caught_up = started[1] < self.batch_size  # its size
                    self._report_lag(consumer)
                while inflight and inflight[0][0].done():
                    future, size, offsets = inflight.popleft()
                    result = future.result()  # an unexpected compute error stops the stage
                    if delivering is not None:
                        await delivering  # keeps sends and commits in batch order
                    delivering = asyncio.ensure_future(self._deliver(result, size, offsets))
            if delivering is not None:
                await delivering
        finally:
            if fetch is not None:
                fetch.cancel()

    def _start(
        self, consumer: AIOKafkaConsumer, fetched: Fetched
    ) -> tuple[asyncio.Future[BatchResult], int, dict[TopicPartition, int]]:
        """Start computing one fetch; returns its future, its size and the offsets to commit
        once it is delivered."""
        values = record_values(fetched)
        if self.heavy_limit is not None and _AUDIO_REF in values:
            fetched = _bounded(consumer, fetched, self.heavy_limit)
            values = record_values(fetched)
        for tp, records in fetched.items():
            self._positions[tp] = (records[-1].offset + 1, records[-1].timestamp)
        offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
        size = sum(len(records) for records in fetched.values())
        # With the models served now (a hot reload swaps them between two batches).
        compute = _convert_then(self.runtime.stage_function(self.stage))
        future: asyncio.Future[BatchResult]
        if self.stage == "enrich" or needs_models(values):
            # Lyrics or audio: seconds of work, in the executor (the loop keeps heartbeating
            # and acknowledging the previous batch meanwhile). No further fetch until it is
            # done: the batches behind it would wait anyway, and a drain must not inherit a
            # queue of them.
            future = asyncio.ensure_future(self.runtime.run(compute, fetched, self.stage))
            self._enriching += 1
            future.add_done_callback(self._enriched)
            return future, size, offsets
        pooled = self.runtime.pool_for(self.stage)
        if pooled is not None:
            # Descriptors only, with scoring processes: computed there, on another core.
            future = asyncio.ensure_future(self._in_pool(*pooled, compute, fetched))
            return future, size, offsets
        # Descriptors only, no scoring process: tens of milliseconds, done right here. Handing
        # it to a thread only adds GIL hand-offs (measured slower than a plain loop).
        future = asyncio.get_running_loop().create_future()
        try:
            future.set_result(compute(fetched))
        except Exception as exc:
            future.set_exception(exc)
        return future, size, offsets

    def _enriched(self, _: asyncio.Future[BatchResult]) -> None:
        self._enriching -= 1

    async def _in_pool(
        self,
        pool: ScoringPool,
        generation: Generation,
        compute: Callable[[Fetched], BatchResult],
        fetched: Fetched,
    ) -> BatchResult:
        wire = [
            (r.value, r.key, r.topic, r.partition, r.offset, r.timestamp)
            for records in fetched.values()
            for r in records
        ]
        try:
            return await pool.run(generation, self.stage, wire)
        except ScoringPoolBroken:
            # A scoring process died (new ones are starting): this batch is scored here.
            pass
        except NeedsEnrichment:
            # Lyrics or audio the byte test missed (an escaped key): enriched and scored here.
            pass
        except Exception as exc:
            # Anything else that went wrong over there (a staged model file gone, the pool
            # shut down): scored here too; a fault of the batch function itself raises here.
            logger.warning("%s: a scoring process failed a batch, scoring it here: %r", self, exc)
        return await self.runtime.run(compute, fetched, self.stage)

    def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Export this stage's lag per partition (at most once a second): what the lag panel
        and alert read, without needing a Kafka exporter next to the broker."""
        now = time.time()
        if now - self._lag_reported_at < 1.0:
            return
        self._lag_reported_at = now
        assigned = consumer.assignment()
        for tp in list(self._positions):
            if tp not in assigned:  # moved to another worker: stop reporting it
                del self._positions[tp]
                labels = (self.group_id, tp.topic, str(tp.partition))
                with contextlib.suppress(KeyError):
                    metrics.CONSUMER_LAG.remove(*labels)
                    metrics.CONSUMER_LAG_SECONDS.remove(*labels)
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position, timestamp_ms = self._positions.get(tp, (None, None))
            if position is None:
                continue
            lag = max(0, highwater - position)
            behind = now - timestamp_ms / 1000.0 if lag and timestamp_ms else 0.0
            labels = (self.group_id, tp.topic, str(tp.partition))
            metrics.CONSUMER_LAG.labels(*labels).set(lag)
            metrics.CONSUMER_LAG_SECONDS.labels(*labels).set(max(0.0, behind))

    async def _deliver(
        self, result: BatchResult, size: int, offsets: dict[TopicPartition, int]
    ) -> None:
        consumer = self._consumer
        await self.runtime.emit(self.stage, self.target, size, result)
        if consumer is None:
            return
        # Commit only what was consumed AND delivered downstream, and only for partitions this
        # consumer still owns: one moved away meanwhile (a worker joined) is consumed again
        # from its last commit by its new owner (at-least-once; the duplicates carry the same
        # ids), and aiokafka refuses to commit it here.
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved during the batch: its outputs are out, and the new owner
            # consumes it again (at-least-once; the duplicates carry the same ids).
            logger.warning("%s: offsets not committed after a rebalance: %s", self, exc)
        except KafkaError as exc:
            if not transient(exc):
                raise
            # The broker (or the group coordinator) is away: the next batch's commit covers
            # these offsets too; if none comes before a crash, the batch is consumed again.
            logger.warning("%s: offsets not committed, the broker is unavailable: %r", self, exc)

    def __repr__(self) -> str:
        return f"BatchStage({self.stage}: {self.source} -> {self.target})"


def _bounded(consumer: AIOKafkaConsumer, fetched: Fetched, limit: int) -> Fetched:
    """The fetch cut after ``limit`` records that carry an audio reference; the consumer is
    moved back to the first record left out of each partition (fetched again next time).

    A substring test, not a decode: over-counting (``"audio_ref": null``) only makes a batch
    smaller.
    """
    heavy = 0
    kept: dict[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]] = {}
    for tp, records in fetched.items():
        if heavy >= limit:
            consumer.seek(tp, records[0].offset)
            continue
        for i, record in enumerate(records):
            if record.value is not None and _AUDIO_REF in record.value:
                heavy += 1
                if heavy >= limit and i + 1 < len(records):
                    kept[tp] = records[: i + 1]
                    consumer.seek(tp, records[i + 1].offset)
                    break
        else:
            kept[tp] = records
    return kept


_AUDIO_REF = b'"audio_ref"'
_LYRICS = b'"lyrics"'
_VALUE = attrgetter("value")


def record_values(fetched: Fetched) -> bytes:
    """Every record value of a fetch in one bytes object, NUL-separated, so the substring
    tests of :func:`needs_models` and :func:`_bounded`'s guard run once per fetch in C rather
    than once per record in Python (no pattern holds a NUL: no match spans two records)."""
    try:
        return b"\0".join(chain.from_iterable(map(_VALUE, rs) for rs in fetched.values()))
    except TypeError:  # a record without a value (a tombstone) among them
        return b"\0".join(r.value for rs in fetched.values() for r in rs if r.value is not None)


def needs_models(values: bytes) -> bool:
    """Whether some record of a fetch (its :func:`record_values`) may need the lyrics encoder
    or audio analysis (a substring test: a false positive only sends a light batch to the
    executor)."""
    return _LYRICS in values or _AUDIO_REF in values


def _convert_then(
    fn: Callable[[Sequence[RawMessage]], BatchResult],
) -> Callable[[Fetched], BatchResult]:
    """``fn`` applied to a fetch's records, with the conversion done in the executor too."""

    def run(fetched: Fetched) -> BatchResult:
        return fn(raw_messages(fetched))

    return run
