"""The web app on the stream's scoring objects: baseline champions, a stand-in lyrics encoder,
the real audio policy (a root folder, an http allow-list) and no Redis."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from hitpred.enrichment import EmbeddingCache, Enricher, EnrichLimits
from hitpred.features.audio_source import AudioPolicy, fetch_audio
from hitpred.models.base import Task, TaskModel
from hitpred.scoring import Scorer
from hitpred.settings import Settings
from hitpred.web import create_app
from hitpred.web.service import PredictionService

ALLOWED_HOST = "audio.example.com"


class StandInEncoder:
    """A deterministic 8-d lyrics 'encoder' (no model download, no torch)."""

    model_id = "stand-in@1/128"
    runtime_id = "stand-in@1/128/test"
    dim = 8

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.array([[len(t) % 7, t.count("a"), 1, 0, 0, 0, 0, 1] for t in texts], "float32")
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def audio_root(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    root.mkdir()
    return root


@pytest.fixture
def enricher(audio_root: Path) -> Enricher:
    policy = AudioPolicy(
        root=audio_root, allow_http=True, allowed_hosts=(ALLOWED_HOST,), max_bytes=2_000_000
    )
    encoder = StandInEncoder()
    return Enricher(
        cache=EmbeddingCache(None, prefix="test:", ttl_s=60),
        limits=EnrichLimits(),
        lyrics_for=lambda language: encoder,
        detect=lambda texts: ["en" for _ in texts],
        fetch=lambda ref: fetch_audio(ref, policy),
    )


@pytest.fixture
def scorer(baseline_models: dict[Task, TaskModel]) -> Scorer:
    return Scorer(baseline_models)


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return Settings(
        serve_live=False,
        serve_max_body_bytes=64 * 1024,
        serve_max_upload_bytes=3_000_000,
        serve_max_batch_items=5,
        audio_max_bytes=2_000_000,
        registry_uri=str(tmp_path / "registry"),
    )


@pytest.fixture
def client(web_settings: Settings, scorer: Scorer, enricher: Enricher) -> Iterator[TestClient]:
    service = PredictionService(scorer, enricher)
    app = create_app(web_settings, service=service)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    service.close()
