"""The live feed's statistics (the consumer itself runs in the browser integration test)."""

from __future__ import annotations

import orjson

from hitpred.web.live import LATEST, LiveFeed


def _prediction(i: int, latency_ms: float) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"e-{i}",
            "track_id": f"t-{i}",
            "hit": {"probability": 0.25, "is_hit": False, "model": {}},
            "popularity": {"popularity": 41.0, "tier": "lukewarm", "model": {}},
            "genre": {"genre": "pop", "top3": [], "model": {}},
            "timings": {"end_to_end_ms": latency_ms},
        }
    )


def test_snapshot_counts_rates_and_percentiles() -> None:
    feed = LiveFeed("127.0.0.1:1", "preds", "dlq")
    feed.observe("preds", [_prediction(i, float(i)) for i in range(1, 101)])
    feed.observe("dlq", [b'{"stage": "validate"}', b'{"stage": "enrich"}', b"not json"])
    snap = feed.snapshot()
    assert snap["predictions"] == 100
    assert snap["dead_letters"] == 3
    assert snap["dead_letters_by_stage"] == {"validate": 1, "enrich": 1, "unknown": 1}
    assert snap["throughput_per_s"] == 10.0  # 100 predictions in the 10 s window
    assert snap["latency_ms"]["p50"] == 50.5
    assert snap["latency_ms"]["p99"] is not None and snap["latency_ms"]["p99"] > 98
    assert len(snap["latest"]) == LATEST
    assert snap["latest"][0]["event_id"] == "e-100"
    assert snap["latest"][0]["tier"] == "lukewarm"
    assert snap["connected"] is False


def test_empty_snapshot() -> None:
    snap = LiveFeed("127.0.0.1:1", "preds", "dlq").snapshot()
    assert snap["predictions"] == 0
    assert snap["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    orjson.dumps(snap)  # JSON-able as the SSE payload
