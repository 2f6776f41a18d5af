"""The parts of a prediction, built column-wise for a whole batch.

:class:`hitpred.scoring.Scorer` runs the models; this module turns their outputs into the
``hitpred.predictions.v1`` sections (one per task and row), the deterministic
:func:`prediction_id_of`, and the clock end-to-end latency starts from (:func:`latency_start`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from hitpred.models.base import Task, TaskOutput
from hitpred.schemas import popularity_tier

__all__ = [
    "FIELD",
    "HIT_THRESHOLD",
    "UNANSWERED",
    "answer_token",
    "end_to_end",
    "latency_start",
    "non_finite_rows",
    "prediction_id_of",
    "task_sections",
]

#: Probability at or above which a release is flagged ``is_hit``.
HIT_THRESHOLD = 0.5


def answer_token(answer: str) -> bytes:
    """One answer (``task=model@version``) as it enters :func:`prediction_id_of`'s hash."""
    return b"\x00" + answer.encode()


def prediction_id_of(event_id: str, tokens: bytes) -> str:
    """The id of a prediction: a hash of the event id and of what answered it, the
    :func:`answer_token` of each answered task joined in task order (the scorer keeps one token
    per model reference rather than formatting it per event). Re-scoring the same event with
    the same model versions gives the same id; a new version gives a new one."""
    return hashlib.blake2b(event_id.encode() + tokens, digest_size=16).hexdigest()


#: A producer's clock may run this far ahead of the broker's.
CLOCK_SKEW = timedelta(seconds=60)
#: An event stamped longer than this before the broker received it is not trusted for latency.
MAX_PRODUCER_DELAY = timedelta(days=1)


def latency_start(
    produced_at: datetime, broker_ms: int | None, scored_at: datetime
) -> tuple[datetime, str]:
    """Where an event's end-to-end latency starts, and which clock that is.

    ``produced_at`` is what the producer claims; it is used when it is plausible: not after
    the broker received the event (give or take a minute of clock skew) and not more than a
    day before it. Otherwise the broker's timestamp is used (``"broker"``), so one event dated
    9999-12-31 cannot drive the latency metric negative for the rest of a worker's life.
    Without a broker timestamp an implausible ``produced_at`` gives ``"unknown"`` (no latency).
    """
    received = datetime.fromtimestamp(broker_ms / 1000.0, UTC) if broker_ms else None
    reference = received or scored_at
    if reference - MAX_PRODUCER_DELAY <= produced_at <= reference + CLOCK_SKEW:
        return produced_at, "produced_at"
    if received is not None:
        return received, "broker"
    return scored_at, "unknown"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SKEW_US = CLOCK_SKEW // _US
_DELAY_US = MAX_PRODUCER_DELAY // _US


def end_to_end(
    produced_at: Sequence[datetime], broker_ms: Sequence[int | None], scored_at: datetime
) -> tuple[list[float], list[str]]:
    """:func:`latency_start` for a whole batch, column-wise: per event, the seconds from its
    start to ``scored_at`` and the clock it started on. Worked out in whole microseconds, so
    every comparison and result is exactly that of :func:`latency_start` (tested)."""
    n = len(produced_at)
    produced = np.fromiter(((p - _EPOCH) // _US for p in produced_at), dtype=np.int64, count=n)
    broker = np.fromiter((b or 0 for b in broker_ms), dtype=np.int64, count=n) * 1000
    scored = (scored_at - _EPOCH) // _US
    has_broker = broker != 0
    reference = np.where(has_broker, broker, scored)
    plausible = (reference - _DELAY_US <= produced) & (produced <= reference + _SKEW_US)
    start = np.where(plausible, produced, reference)
    clock = np.where(plausible, "produced_at", np.where(has_broker, "broker", "unknown"))
    return ((scored - start) / 1e6).tolist(), clock.tolist()


#: The prediction field of each served task.
FIELD: dict[Task, str] = {
    Task.HIT: "hit",
    Task.POPULARITY: "popularity",
    Task.TIER: "tier",
    Task.GENRE: "genre",
}
UNANSWERED = "no champion reads the inputs this release carries (descriptors, lyrics or audio)"


def task_sections(
    task: Task, out: TaskOutput, refs: Sequence[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    """The prediction sections of one task for the rows of one route, built column-wise."""
    if task is Task.HIT and out.values is not None:
        return [
            {"model": ref, "probability": p, "is_hit": p >= HIT_THRESHOLD}
            for p, ref in zip(np.clip(out.values, 0.0, 1.0).tolist(), refs, strict=True)
        ]
    if task is Task.POPULARITY and out.values is not None:
        values = np.round(np.clip(out.values, 0.0, 100.0), 1).tolist()
        return [
            {"model": ref, "popularity": v, "tier": popularity_tier(v).value}
            for v, ref in zip(values, refs, strict=True)
        ]
    if out.probabilities is None or not out.classes:
        return [None] * len(refs)
    classes = out.classes
    probs = np.clip(out.probabilities, 0.0, 1.0)
    if task is Task.GENRE:
        top = np.argsort(-probs, axis=1)[:, :3]
        top_p = np.take_along_axis(probs, top, axis=1).tolist()
        return [
            {
                "model": ref,
                "genre": classes[idx[0]],
                "top3": [
                    {"genre": classes[j], "probability": p} for j, p in zip(idx, ps, strict=True)
                ],
            }
            for idx, ps, ref in zip(top.tolist(), top_p, refs, strict=True)
        ]
    if task is Task.TIER:
        best = probs.argmax(axis=1).tolist()
        return [
            {
                "model": ref,
                "tier": classes[b],
                "probabilities": dict(zip(classes, row, strict=True)),
            }
            for b, row, ref in zip(best, probs.tolist(), refs, strict=True)
        ]
    return [None] * len(refs)


def non_finite_rows(out: TaskOutput, n: int) -> dict[int, str]:
    """Rows where a model produced NaN/inf (they become dead letters, not predictions)."""
    bad: dict[int, str] = {}
    for array in (out.values, out.probabilities):
        if array is None:
            continue
        finite = np.isfinite(array).reshape(n, -1).all(axis=1)
        for row in np.flatnonzero(~finite).tolist():
            bad.setdefault(row, str(out.task))
    return bad
