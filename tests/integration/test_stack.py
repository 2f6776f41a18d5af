"""The embedded stack's lifecycle: start, use, stop, and never an orphan process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
import redis

from hitpred.settings import Settings
from hitpred.stack import WORKER_READY_LINE, Stack, free_port, redis_answers
from tests.integration.conftest import consume_until, produce

pytestmark = pytest.mark.integration


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_running(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_stack_starts_serves_and_stops_without_orphans(tmp_path: Path) -> None:
    # A Redis URL nothing answers at forces the embedded Valkey, so both binaries are exercised.
    settings = Settings(kafka_bootstrap=None, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    stack = Stack(settings, workdir=tmp_path)
    with stack:
        assert stack.embedded_broker and stack.embedded_redis
        pids = [p.pid for p in stack.processes if p.pid]
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
        assert redis.Redis.from_url(stack.redis_url).set("hitpred:test", "1")
        stack.create_topics(["lifecycle"], partitions=3)
        stack.create_topics(["lifecycle"], partitions=3)  # idempotent
        produce(stack.bootstrap, "lifecycle", [(b"k", orjson.dumps({"n": i})) for i in range(30)])
        seen = consume_until(
            stack.bootstrap, ["lifecycle"], lambda got: len(got["lifecycle"]) >= 30, timeout=30
        )
        assert sorted(orjson.loads(v)["n"] for _, v in seen["lifecycle"]) == list(range(30))
    assert stack.processes == []
    assert _gone(pids)
    assert not redis_answers(stack.redis_url)
    stack.stop()  # stopping twice is harmless


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    """Even a SIGKILLed parent (no cleanup code runs) leaves no broker or Valkey behind."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from hitpred.settings import Settings
        from hitpred.stack import Stack
        stack = Stack(Settings(kafka_bootstrap=None, redis_url="redis://127.0.0.1:{free_port()}/0")).start()
        print(" ".join(str(p.pid) for p in stack.processes), flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait(10)
    assert _gone(pids), f"orphans left: {[p for p in pids if _running(p)]}"


def test_hitpred_up_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HITPRED_STATE_DIR": str(tmp_path),
        "HITPRED_METRICS_PORT": "0",
        "HITPRED_REBALANCE_TIMEOUT_S": "2",
    }
    env.pop("HITPRED_KAFKA_BOOTSTRAP", None)
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [str(Path(sys.executable).parent / "hitpred"), "up"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 90
        while WORKER_READY_LINE not in log.read_text(errors="replace"):
            assert up.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        children = _descendants(up.pid)
        assert len(children) >= 2  # at least the broker and the worker
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert _gone(children), f"orphans left: {[p for p in children if _running(p)]}"
    assert "stopped." in log.read_text()
