"""The registry in an object store: S3 served by moto's server mode (a real S3-compatible HTTP
server from PyPI, started by the test; no mock of a client). A trainer registers and promotes,
a worker on its own mirror serves the champion, follows a promotion, and refuses a bundle
tampered with in the store; `hitpred models verify` names the file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hitpred.models.base import Task
from hitpred.registry import MirroredStore, open_registry
from hitpred.settings import Settings
from hitpred.stack import ManagedProcess, Stack, free_port, wait_for_port
from tests.integration.test_hot_reload import _cli, _served_versions
from tests.unit.models.factories import fitted

pytestmark = pytest.mark.integration

BUCKET = "hitpred-registry"


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server with an empty bucket; AWS_* set for this process and its children."""
    boto3 = pytest.importorskip("boto3", reason="moto[server] (the dev extra) is not installed")
    pytest.importorskip("moto.server", reason="moto[server] (the dev extra) is not installed")
    pytest.importorskip("s3fs", reason="s3fs (the s3 extra) is not installed")
    port = free_port()
    server = ManagedProcess(
        name="moto",
        argv=[sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=tmp_path / "moto.log",
    )
    server.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "hitpred-test",
            "AWS_SECRET_ACCESS_KEY": "hitpred-test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        import fsspec

        fsspec.filesystem("s3").invalidate_cache()
        yield f"s3://{BUCKET}/registry"
    finally:
        server.stop()


def test_workers_serve_and_follow_a_registry_in_s3(
    stack: Stack,
    isolated_settings: Settings,
    start_worker: Callable[[Settings], ManagedProcess],
    s3: str,
    tmp_path: Path,
) -> None:
    import boto3

    trainer = open_registry(s3, tmp_path / "trainer-mirror")
    assert isinstance(trainer, MirroredStore)
    for name in ("xgboost", "logistic-regression", "xgboost"):
        model, _ = fitted(Task.HIT, name, n=150)
        trainer.register(model, metrics={}, evaluation={}, data={})
    trainer.promote(Task.HIT, "1", reason="first")
    s = isolated_settings.model_copy(
        update={"registry_uri": s3, "registry_poll_s": 1.0, "state_dir": tmp_path / "worker"}
    )
    worker = start_worker(s)

    assert _served_versions(s, 91) == {"1"}
    operator = s.model_copy(update={"state_dir": tmp_path / "operator"})  # another machine
    result = _cli(operator, "models", "promote", "hit", "2", "--reason", "from S3")
    assert result.exit_code == 0, result.output
    deadline = time.monotonic() + 20
    while "models reloaded" not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.2)
    assert _served_versions(s, 92) == {"2"}
    # v3's model file is replaced in the bucket; the trainer's mirror still holds the clean
    # copy, so its promotion goes through; the worker downloads the tampered bytes and refuses.
    key = next(
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="registry/hit/3/")[
            "Contents"
        ]
        if "/model." in o["Key"]
    )
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"tampered in the store")
    trainer.promote(Task.HIT, "3", reason="tampered")
    deadline = time.monotonic() + 20
    while "registry change refused" not in worker.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, worker.tail()
        time.sleep(0.2)
    assert _served_versions(s, 93) == {"2"}
    assert worker.alive
    verify = _cli(operator, "models", "verify")
    assert verify.exit_code == 1, verify.output
    assert f"FAIL  {s3}/hit/3" in verify.output and key.rsplit("/", 1)[1] in verify.output
    assert f"ok    {s3}/hit/1" in verify.output
    history = _cli(operator, "models", "history", "hit")
    assert "from S3" in history.output and "tampered" in history.output
