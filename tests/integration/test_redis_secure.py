"""Redis with a password and TLS, through settings: a worker on a Redis server this test starts
(Debian's redis-server with a TLS port and requirepass; never the machine's own Redis)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis

from hitpred.baseline import synthetic_release_events
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack, free_port, wait_for_port
from tests.integration.conftest import consume_until, produce

pytestmark = pytest.mark.integration

PASSWORD = "s3cr3t pass/word"


@pytest.fixture
def secure_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    binary = shutil.which("redis-server")
    openssl = shutil.which("openssl")
    if binary is None or openssl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server and openssl are needed for the TLS test")
        pytest.skip("redis-server or openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = ManagedProcess(
        name="redis-tls",
        argv=[
            *(binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
            *("--tls-cert-file", str(cert), "--tls-key-file", str(key)),
            *("--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"),
            *("--requirepass", PASSWORD, "--save", "", "--appendonly", "no"),
            *("--dir", str(tmp_path)),
        ],
        log_path=tmp_path / "redis.log",
    )
    server.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=15, process=server)
        yield port, cert
    finally:
        server.stop()


def test_a_worker_uses_redis_with_a_password_over_tls(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
    secure_redis: tuple[int, Path],
) -> None:
    port, ca = secure_redis
    s = isolated_settings.model_copy(
        update={
            "redis_url": f"rediss://127.0.0.1:{port}/0",
            "redis_password": PASSWORD,
            "redis_tls_ca_file": ca,
        }
    )
    s = Settings.model_validate(s.model_dump())  # re-validated: the secret and the TLS check
    client = redis.Redis.from_url(s.redis_connection_url)
    assert client.ping()
    with pytest.raises(redis.AuthenticationError):  # the server really wants the password
        redis.Redis.from_url(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}").ping()
    assert PASSWORD not in repr(s)

    worker = start_worker(s)
    events = synthetic_release_events(200, seed=66)
    for i, event in enumerate(events):
        event["lyrics"] = f"a love song over tls number {i}"
    produce(
        s.kafka_bootstrap or "",
        s.releases_topic,
        [(str(e["track_id"]).encode(), orjson.dumps(e)) for e in events],
    )
    seen = consume_until(
        s.kafka_bootstrap or "",
        [s.predictions_topic, s.dlq_topic],
        lambda got: len(got[s.predictions_topic]) >= 200,
        timeout=120,
    )
    assert len(seen[s.predictions_topic]) == 200 and not seen[s.dlq_topic]
    # The lyrics embeddings were cached in this Redis, over TLS, with the password.
    cached = list(client.scan_iter(match=f"{s.embedding_cache_prefix}*lyrics*", count=1000))
    print(f"TLS + password Redis: 200 predictions, {len(cached)} cached lyrics embeddings")
    assert len(cached) == 200
    log = worker.log_path.read_text(errors="replace")
    assert "embedding cache unavailable" not in log and PASSWORD not in log
