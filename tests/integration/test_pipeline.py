"""The whole pipeline on the real broker: releases in, predictions and dead letters out."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import orjson
import pytest
import redis

from hitpred.baseline import (
    BASELINE_NAME,
    MALFORMED_KINDS,
    malformed_release_messages,
    synthetic_release_events,
)
from hitpred.schemas import DeadLetter, Prediction
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack, free_port
from tests.integration.conftest import consume_until, produce

pytestmark = pytest.mark.integration

N_GOOD = 950
N_BAD = 50


def _metric(text: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus text format; without labels, the sum of all series."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        if labels:
            matches = series == f"{name}{{{wanted}}}"
        else:  # every series of the metric
            matches = series == name or series.startswith(name + "{")
        if matches:
            total += float(value)
    return total


def _scrape(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


@pytest.mark.parametrize("deployment", ["fused", "split"])
def test_1000_releases_with_50_malformed(
    deployment: str,
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
) -> None:
    """One worker with both roles (releases scored in one pass), or an enrich-only worker and
    a score-only worker meeting on the enriched topic: the same predictions and dead letters."""
    s = isolated_settings
    assert redis.Redis.from_url(stack.redis_url).ping()  # the stack's Redis is real and up
    if deployment == "fused":
        workers = [start_worker(s)]
        intake, output = s, s
    else:
        intake = s.model_copy(update={"roles": "enrich"})
        output = s.model_copy(update={"roles": "score", "metrics_port": free_port()})
        workers = [start_worker(intake), start_worker(output)]

    good = synthetic_release_events(N_GOOD, seed=31)
    bad = malformed_release_messages(N_BAD, seed=32)
    assert {kind for kind, _, _ in bad} == set(MALFORMED_KINDS)
    records: list[tuple[bytes | None, bytes]] = [
        (str(e["track_id"]).encode(), orjson.dumps(e)) for e in good
    ]
    # Interleave the bad ones so the worker has to carry on after each of them.
    for i, (_, key, value) in enumerate(bad):
        records.insert(i * 20 + 7, (key, value))
    produce(s.kafka_bootstrap or "", s.releases_topic, records)

    seen = consume_until(
        s.kafka_bootstrap or "",
        [s.predictions_topic, s.dlq_topic],
        lambda got: len(got[s.predictions_topic]) >= N_GOOD and len(got[s.dlq_topic]) >= N_BAD,
        timeout=120,
    )
    predictions = [Prediction.model_validate_json(v) for _, v in seen[s.predictions_topic]]
    letters = [DeadLetter.model_validate_json(v) for _, v in seen[s.dlq_topic]]

    assert len(predictions) == N_GOOD
    assert sorted(p.event_id for p in predictions) == sorted(str(e["event_id"]) for e in good)
    by_event = {str(e["event_id"]): e for e in good}
    for (key, _), p in zip(seen[s.predictions_topic], predictions, strict=True):
        assert p.track_id == by_event[p.event_id]["track_id"]
        assert key == p.track_id.encode()  # predictions are keyed by track_id too
        assert p.hit is not None and p.hit.model.name == BASELINE_NAME
        assert p.timings.end_to_end_ms >= 0

    assert len(letters) == N_BAD
    assert sorted(d.original for d in letters) == sorted(v for _, _, v in bad)
    for letter in letters:
        assert letter.reason and letter.error_type == "EventValidationError"
        assert letter.stage in ("decode", "validate")
        assert letter.source_topic == s.releases_topic
        assert letter.source_offset is not None and letter.source_partition is not None

    for worker in workers:
        assert worker.alive, worker.tail()
    first, last = ("pipeline", "pipeline") if deployment == "fused" else ("enrich", "score")
    intake_text, output_text = _scrape(intake), _scrape(output)
    assert _metric(intake_text, "hitpred_events_in_total", stage=first) == N_GOOD + N_BAD
    assert _metric(intake_text, "hitpred_dead_letters_total") == N_BAD
    assert _metric(output_text, "hitpred_events_out_total", stage=last) == N_GOOD
    assert _metric(output_text, "hitpred_end_to_end_latency_seconds_count") == N_GOOD
    # The worker exports its own lag per partition: every partition caught up by now.
    lag_series = [
        line
        for line in intake_text.splitlines()
        if line.startswith("hitpred_consumer_lag_messages{")
    ]
    assert len(lag_series) == s.partitions, lag_series
    assert _metric(intake_text, "hitpred_consumer_lag_messages") == 0

    # Still serving after all that: a few more releases come out as predictions.
    more = synthetic_release_events(20, seed=33)
    produce(
        s.kafka_bootstrap or "",
        s.releases_topic,
        [(str(e["track_id"]).encode(), orjson.dumps(e)) for e in more],
    )
    wanted = {str(e["event_id"]) for e in more}
    after = consume_until(
        s.kafka_bootstrap or "",
        [s.predictions_topic],
        lambda got: len(got[s.predictions_topic]) >= N_GOOD + len(more),
        timeout=60,
        settle=0.5,
    )
    ids = {orjson.loads(v)["event_id"] for _, v in after[s.predictions_topic]}
    assert wanted <= ids
    assert len(after[s.predictions_topic]) == N_GOOD + len(more)
