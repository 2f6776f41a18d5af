"""POST /v1/predict and /v1/predict/batch: the stream's predictions, and 4xx with reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from hitpred.enrichment import Enricher
from hitpred.intake import RawMessage
from hitpred.pipeline import process_releases
from hitpred.scoring import Scorer
from tests.unit.web.conftest import ALLOWED_HOST

#: Fields that depend on when (and in which batch) a release was scored.
VOLATILE = ("scored_at", "timings")


def release(**fields: Any) -> dict[str, Any]:
    """A release with every descriptor (so every baseline task answers)."""
    event: dict[str, Any] = {
        "event_id": "e-1",
        "track_id": "t-1",
        "title": "Midnight Electric",
        "artists": ["The Neon Hearts", "DJ Paper"],
        "release_date": "2019-06-14",
        "genres": ["pop"],
        "danceability": 0.71,
        "energy": 0.66,
        "key": 5,
        "loudness": -5.8,
        "mode": 1,
        "speechiness": 0.05,
        "acousticness": 0.12,
        "instrumentalness": 0.0,
        "liveness": 0.11,
        "valence": 0.52,
        "tempo": 118.0,
        "duration_ms": 201_000,
        "time_signature": 4,
        "chorus_hit": 31.5,
        "sections": 9,
        "produced_at": "2026-11-29T12:00:00Z",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


def stable(prediction: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prediction.items() if k not in VOLATILE}


def stream_prediction(scorer: Scorer, enricher: Enricher, event: dict[str, Any]) -> dict[str, Any]:
    """What the stream publishes for ``event`` (keyed by track_id, as producers send it)."""
    message = RawMessage(
        value=orjson.dumps(event), key=event["track_id"].encode(), topic="test.releases"
    )
    result = process_releases(scorer, enricher, [message])
    assert not result.dead_letters, result.dead_letters
    (record,) = result.records
    return dict(orjson.loads(record.value))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"lyrics": "a love song about paper hearts and neon nights, all night long"},
        {"danceability": None, "energy": None, "valence": None, "genres": None},
    ],
    ids=["descriptors", "with-lyrics", "fewer-descriptors"],
)
def test_prediction_is_the_streams(
    client: TestClient, scorer: Scorer, enricher: Enricher, fields: dict[str, Any]
) -> None:
    event = release(**fields)
    response = client.post("/v1/predict", json=event)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert stable(served) == stable(stream_prediction(scorer, enricher, event))
    assert served["hit"]["model"]["name"] == "baseline-synthetic-xgboost"
    assert set(served["timings"]) >= {"score_ms", "end_to_end_ms"}


def test_batch_predictions_are_the_streams(
    client: TestClient, scorer: Scorer, enricher: Enricher
) -> None:
    events = [
        release(event_id=f"e-{i}", track_id=f"t-{i}", tempo=90.0 + 10 * i, energy=0.1 * i)
        for i in range(4)
    ]
    response = client.post("/v1/predict/batch", json={"events": events})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["event_id"] for r in results] == [e["event_id"] for e in events]
    for result, event in zip(results, events, strict=True):
        assert stable(result["prediction"]) == stable(stream_prediction(scorer, enricher, event))


def test_batch_item_refused_by_enrichment_gets_an_error_item(client: TestClient) -> None:
    events = [release(), release(event_id="e-2", track_id="t-2", audio_ref="../../etc/passwd")]
    response = client.post("/v1/predict/batch", json={"events": events})
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert "prediction" in first
    assert second["error"]["stage"] == "enrich"
    assert "outside the audio root" in second["error"]["reason"]


def _wav(seconds: float = 4.0) -> bytes:
    from tests.unit.features.audio_gen import encode, song

    return encode(song(duration_s=seconds, sample_rate=22050, bpm=124.0), 22050, "wav")


def test_upload_is_scored_like_the_same_audio_from_the_audio_root(
    client: TestClient, scorer: Scorer, enricher: Enricher, audio_root: Path
) -> None:
    """The form path (bytes in memory) and the stream path (audio_ref under the root) give
    the same prediction for the same audio; nothing is written under the root."""
    audio = _wav()
    (audio_root / "song.wav").write_bytes(audio)
    event = release(tempo=None, key=None, mode=None, loudness=None, duration_ms=None)
    form = {
        "event_id": event["event_id"],
        "track_id": event["track_id"],
        "title": event["title"],
        "artists": ";".join(event["artists"]),
        "release_date": event["release_date"],
        "genres": "pop",
    }
    for name in ("danceability", "energy", "speechiness", "acousticness", "instrumentalness"):
        form[name] = str(event[name])
    for name in ("liveness", "valence", "time_signature", "chorus_hit", "sections"):
        form[name] = str(event[name])
    response = client.post(
        "/v1/predict", data=form, files={"audio": ("song.wav", audio, "audio/wav")}
    )
    assert response.status_code == 200, response.text
    served = response.json()
    assert "estimated descriptors" in served["inputs"]
    assert {"key", "mode", "duration_ms"} <= set(served["estimated"])
    from_root = release(tempo=None, key=None, mode=None, loudness=None, duration_ms=None)
    expected = stream_prediction(scorer, enricher, {**from_root, "audio_ref": "song.wav"})
    assert stable(served) == stable(expected)
    assert sorted(p.name for p in audio_root.iterdir()) == ["song.wav"]


BAD_JSON: list[tuple[str, bytes, int, list[Any]]] = [
    ("not json", b'{"event_id": "e-1", ', 422, ["body"]),
    ("not an object", b"[1, 2, 3]", 422, ["body"]),
    ("empty body", b"", 422, ["body"]),
    ("wrong type", orjson.dumps(release(tempo="fast")), 422, ["body", "tempo"]),
    ("wrong list type", orjson.dumps(release(artists="Solo")), 422, ["body", "artists"]),
    ("unknown field", orjson.dumps(release(temp=120)), 422, ["body", "temp"]),
    ("missing field", orjson.dumps(release(title=None)), 422, ["body", "title"]),
    ("out of range", orjson.dumps(release(danceability=1.5)), 422, ["body", "danceability"]),
    ("bad date", orjson.dumps(release(release_date="2019-13-45")), 422, ["body", "release_date"]),
    # Strict, like the stream: a boolean or a numeric string is not a number, a date-time is
    # not a date, and no release is dated 9999.
    ("boolean number", orjson.dumps(release(energy=True)), 422, ["body", "energy"]),
    ("string number", orjson.dumps(release(tempo="120")), 422, ["body", "tempo"]),
    (
        "date-time",
        orjson.dumps(release(release_date="2019-01-01T00:00:00")),
        422,
        ["body", "release_date"],
    ),
    ("year 9999", orjson.dumps(release(release_date="9999-12-31")), 422, ["body", "release_date"]),
]


@pytest.mark.parametrize(
    ("body", "status", "loc"), [b[1:] for b in BAD_JSON], ids=[b[0] for b in BAD_JSON]
)
def test_bad_json_gets_a_reason_per_field(
    client: TestClient, body: bytes, status: int, loc: list[Any]
) -> None:
    response = client.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert any(d["loc"] == loc and d["msg"] for d in detail), detail
    assert_no_internals(response.text)


def test_oversized_body_is_refused_with_413(client: TestClient) -> None:
    big = orjson.dumps(release(lyrics="la " * 40_000))  # ~120 KB > 64 KB
    response = client.post("/v1/predict", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "HITPRED_SERVE_MAX_BODY_BYTES" in response.json()["detail"][0]["msg"]


def test_oversized_body_without_content_length_is_refused_with_413(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(20):
            yield b" " * 8192

    response = client.post(
        "/v1/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert_no_internals(response.text)


def test_oversized_upload_is_refused_with_413(client: TestClient) -> None:
    response = client.post(
        "/v1/predict",
        data={"title": "Big", "artists": "A", "year": "2020"},
        files={"audio": ("big.wav", b"\0" * 3_100_000, "audio/wav")},
    )
    assert response.status_code == 413


def test_too_many_batch_items(client: TestClient) -> None:
    events = [release(event_id=f"e-{i}", track_id=f"t-{i}") for i in range(6)]
    response = client.post("/v1/predict/batch", json={"events": events})
    assert response.status_code == 422
    assert "HITPRED_SERVE_MAX_BATCH_ITEMS" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"events": []}, ["body", "events"]),
        ({"items": [release()]}, ["body"]),
        ({"events": [release(), release(tempo=-3)]}, ["body", "events", 1, "tempo"]),
        ({"events": [release(), release()]}, ["body", "events", 1, "event_id"]),
    ],
    ids=["empty", "wrong envelope", "one invalid event", "duplicate event ids"],
)
def test_bad_batches(client: TestClient, body: dict[str, Any], loc: list[Any]) -> None:
    response = client.post("/v1/predict/batch", json=body)
    assert response.status_code == 422
    assert any(d["loc"] == loc for d in response.json()["detail"]), response.text


def test_duplicate_keys_are_refused(client: TestClient) -> None:
    one = orjson.dumps(release())[:-1] + b', "energy": 0.1, "energy": 0.9}'
    response = client.post("/v1/predict", content=one, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "duplicate key" in response.json()["detail"][0]["msg"]
    batch = b'{"events": [' + one + b"]}"
    response = client.post(
        "/v1/predict/batch", content=batch, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "duplicate key" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("audio_ref", "expected"),
    [
        ("../../../../etc/passwd", "outside the audio root"),
        ("/etc/hostname", "outside the audio root"),
        ("file:///etc/passwd", "outside the audio root"),
        ("http://169.254.169.254/latest/meta-data", "is not allowed"),
        (f"http://{ALLOWED_HOST}.evil.test/song.wav", "is not allowed"),
        ("ftp://example.com/song.wav", "not supported"),
        ("upload:" + "0" * 64, "not supported"),
    ],
)
def test_audio_ref_follows_the_audio_policy(
    client: TestClient, audio_root: Path, audio_ref: str, expected: str
) -> None:
    response = client.post("/v1/predict", json=release(audio_ref=audio_ref))
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["type"] == "enrich" and detail["loc"] == ["body", "audio_ref"]
    assert expected in detail["msg"]
    assert str(audio_root) not in response.text
    assert_no_internals(response.text)


def test_non_audio_upload_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/predict",
        data={"title": "Not a song", "artists": "A", "year": "2020"},
        files={"audio": ("notes.txt", b"these are not audio samples " * 40, "text/plain")},
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "audio"]
    assert "audio" in detail["msg"]
    assert_no_internals(response.text)


@pytest.mark.parametrize(
    ("form", "loc"),
    [
        ({"title": "", "artists": "A", "year": "2020"}, ["body", "title"]),
        ({"title": "T", "artists": "A", "year": "soon"}, ["body", "release_date"]),
        ({"title": "T", "artists": "A", "year": "2020", "energy": "2"}, ["body", "energy"]),
        ({"title": "T", "artists": "A", "year": "2020", "mood": "x"}, ["body", "mood"]),
        ({"title": "T", "year": "2020"}, ["body", "artists"]),
    ],
    ids=["empty title", "bad year", "out of range", "unknown field", "missing artists"],
)
def test_bad_forms(client: TestClient, form: dict[str, str], loc: list[Any]) -> None:
    response = client.post("/v1/predict", data=form, files={"audio": ("", b"", "audio/wav")})
    assert response.status_code == 422, response.text
    assert any(d["loc"] == loc for d in response.json()["detail"]), response.text


def test_form_without_audio_is_the_json_prediction(client: TestClient) -> None:
    form = {"event_id": "e-1", "track_id": "t-1", "title": "Midnight Electric"}
    event = release()
    form["artists"] = ";".join(event["artists"])
    form["release_date"] = event["release_date"]
    form["genres"] = "pop"
    for name in ("danceability", "energy", "key", "loudness", "mode", "speechiness", "tempo"):
        form[name] = str(event[name])
    for name in ("acousticness", "instrumentalness", "liveness", "valence", "duration_ms"):
        form[name] = str(event[name])
    for name in ("time_signature", "chorus_hit", "sections"):
        form[name] = str(event[name])
    by_form = client.post("/v1/predict", data=form, files={"audio": ("", b"", "audio/wav")})
    by_json = client.post("/v1/predict", json=release(produced_at=None))
    assert by_form.status_code == by_json.status_code == 200
    assert stable(by_form.json()) == stable(by_json.json())


def test_no_error_body_carries_a_trace_or_a_path(client: TestClient) -> None:
    for response in (
        client.get("/no/such/page"),
        client.put("/v1/predict", json={}),
        client.post("/v1/predict", content=b"\xff\xfe", headers={"content-type": "text/plain"}),
    ):
        assert 400 <= response.status_code < 500, response.text
        assert_no_internals(response.text)


def assert_no_internals(text: str) -> None:
    for marker in ("Traceback", 'File "', "/work/", "site-packages", "/tmp/", "hitpred/"):
        assert marker not in text, f"{marker!r} in {text}"


def test_health_readiness_metrics_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["models"] == "ok"
    client.post("/v1/predict", json=release())
    text = client.get("/metrics").text
    assert 'hitpred_http_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert 'hitpred_http_predictions_total{outcome="scored"}' in text
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/predict/batch", "/healthz", "/readyz", "/metrics"} <= set(
        spec["paths"]
    )
    content = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert "ReleaseEvent" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_not_ready_while_models_load(web_settings: Any) -> None:
    from hitpred.web.app import create_app

    app = create_app(web_settings)
    app.router.lifespan_context = _no_lifespan  # never loads
    with TestClient(app, raise_server_exceptions=False) as test_client:
        assert test_client.get("/healthz").status_code == 200
        assert test_client.get("/readyz").status_code == 503
        response = test_client.post("/v1/predict", json=release())
        assert response.status_code == 503
        assert response.json()["detail"][0]["msg"] == "the models are still loading"


def _no_lifespan(app: Any) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def nothing() -> Any:
        yield

    return nothing()


def test_scores_are_finite(client: TestClient) -> None:
    hit = client.post("/v1/predict", json=release()).json()["hit"]["probability"]
    assert np.isfinite(hit) and 0.0 <= hit <= 1.0
