"""The CLI against the real broker: publish (JSONL, CSV, broken rows), tail, and the demo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from hitpred.errors import EventValidationError
from hitpred.schemas import decode_release
from hitpred.settings import Settings
from hitpred.stack import Stack
from tests.integration.conftest import consume_until, produce, settings_env

pytestmark = pytest.mark.integration

HITPRED = str(Path(sys.executable).parent / "hitpred")


def _run(
    args: list[str], settings: Settings, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings_env(settings)}
    return subprocess.run(
        [HITPRED, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_publish_csv_keeps_every_row(isolated_settings: Settings, tmp_path: Path) -> None:
    s = isolated_settings
    csv_file = tmp_path / "releases.csv"
    csv_file.write_text(
        "event_id,track_id,title,artists,release_date,genres,danceability,key,tempo\n"
        "e1,t1,First,A;B,2021-03-04,pop;dance,0.8,5,120\n"
        "e2,t2,Second,C,2022-01-01,,0.4,,\n"
        "e3,t3,Third,D,2023-05-06,rock,very high,2,99.5\n"
    )
    result = _run(["publish", str(csv_file)], s)
    assert result.returncode == 0, result.stderr
    # Flagged with the worker's own reason (one validation path), and only that row.
    stderr = result.stderr.replace("\n", " ")
    assert "line 4: danceability: Input should be a valid number (got 'very high')" in stderr
    assert re.findall(r"^line (\d+):", result.stderr, re.MULTILINE) == ["4"]
    seen = consume_until(
        s.kafka_bootstrap or "",
        [s.releases_topic],
        lambda g: len(g[s.releases_topic]) >= 3,
        timeout=30,
        settle=0.5,
    )
    by_key = {key: value for key, value in seen[s.releases_topic]}
    assert set(by_key) == {b"t1", b"t2", b"t3"}
    first = decode_release(by_key[b"t1"], b"t1")
    assert first.artists == ["A", "B"] and first.genres == ["pop", "dance"] and first.key == 5
    second = decode_release(by_key[b"t2"], b"t2")
    assert second.key is None and second.tempo is None and second.genres == []
    with pytest.raises(EventValidationError, match="danceability"):
        decode_release(by_key[b"t3"], b"t3")  # published anyway: the worker dead-letters it


def test_publish_jsonl_sends_broken_lines_raw(isolated_settings: Settings, tmp_path: Path) -> None:
    s = isolated_settings
    jsonl = tmp_path / "releases.jsonl"
    event = {"track_id": "t9", "title": "T", "artists": ["X"], "release_date": "2020-02-02"}
    jsonl.write_bytes(orjson.dumps(event) + b"\n\n{not json\n[1, 2]\n")
    result = _run(["publish", str(jsonl)], s)
    assert result.returncode == 0, result.stderr
    assert "line 3" in result.stderr and "line 4" in result.stderr
    seen = consume_until(
        s.kafka_bootstrap or "",
        [s.releases_topic],
        lambda g: len(g[s.releases_topic]) >= 3,
        timeout=30,
        settle=0.5,
    )
    values = sorted(v for _, v in seen[s.releases_topic])
    assert b"{not json" in values and b"[1, 2]" in values
    good = decode_release(next(v for k, v in seen[s.releases_topic] if k == b"t9"), b"t9")
    assert good.event_id  # an event_id was added


def test_tail_prints_predictions_as_json_lines(isolated_settings: Settings) -> None:
    s = isolated_settings
    lines = [orjson.dumps({"event_id": f"e{i}", "track_id": f"t{i}"}) for i in range(5)]
    produce(s.kafka_bootstrap or "", s.predictions_topic, [(None, v) for v in lines])
    result = _run(["tail", "--json", "--from-beginning", "--limit", "5", "--timeout", "30"], s)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(v.decode() for v in lines)


def test_tail_without_from_beginning_prints_only_what_arrives_after_it_starts(
    isolated_settings: Settings,
) -> None:
    s = isolated_settings
    old = [orjson.dumps({"event_id": f"old{i}", "track_id": f"t{i}"}) for i in range(5)]
    produce(s.kafka_bootstrap or "", s.predictions_topic, [(None, v) for v in old])
    env = {**os.environ, **settings_env(s)}
    tail = subprocess.Popen(
        [HITPRED, "tail", "--json", "--timeout", "12"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # the CLI starts and takes its partitions
    new = [orjson.dumps({"event_id": f"new{i}", "track_id": f"t{i}"}) for i in range(3)]
    produce(s.kafka_bootstrap or "", s.predictions_topic, [(None, v) for v in new])
    out, err = tail.communicate(timeout=60)
    assert tail.returncode == 0, err
    printed = sorted(orjson.loads(line)["event_id"] for line in out.split())
    print(f"tail printed {printed} ({len(old)} older messages on the topic)")
    assert printed == ["new0", "new1", "new2"]


def test_tail_survives_unreadable_dead_letters_and_escapes_markup(
    isolated_settings: Settings,
) -> None:
    s = isolated_settings
    letter = {"stage": "validate", "reason": "[bold red]forged[/] markup"}
    values = [b"\xff not json", b"[1, 2]", orjson.dumps(letter)]
    produce(s.kafka_bootstrap or "", s.dlq_topic, [(None, v) for v in values])
    result = _run(["tail", "--dlq", "--from-beginning", "--limit", "3", "--timeout", "30"], s)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("unreadable message") == 2
    assert "[bold red]forged[/] markup" in result.stdout  # shown as text, not as markup
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["tail", "--timeout", "5"], ["publish", "events.jsonl"]])
def test_an_unreachable_broker_is_one_line_not_a_traceback(
    isolated_settings: Settings, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "events.jsonl").write_text("{}\n")
    s = isolated_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    args = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in command]
    result = _run(args, s, timeout=60)
    assert result.returncode == 1
    assert "127.0.0.1:1 did not answer" in result.stderr and "Traceback" not in result.stderr


def test_version() -> None:
    from hitpred import __version__

    result = subprocess.run([HITPRED, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and __version__ in result.stdout


def test_demo_runs_to_a_clean_end(stack: Stack, tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap=None,
        redis_url=stack.redis_url,
        state_dir=tmp_path,
        metrics_port=0,
        rebalance_timeout_s=2.0,
        # No registry here: the demo scores with the synthetic baseline, whatever the checkout.
        registry_uri=str(tmp_path / "registry"),
        registry_cache_prefix=f"hitpred-test-{tmp_path.name}:",
    )
    env = {k: v for k, v in settings_env(settings).items() if k != "HITPRED_KAFKA_BOOTSTRAP"}
    result = subprocess.run(
        [HITPRED, "demo", "--events", "60", "--bad", "12", "--timeout", "120"],
        env={**{k: v for k, v in os.environ.items() if k != "HITPRED_KAFKA_BOOTSTRAP"}, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = result.stdout.replace("\n", " ")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "60 predictions" in out and "12 dead letters" in out
    assert "throughput" in out and "everything stopped" in out
    # Every valid release is printed, one table line each (track id, then P(hit)).
    assert "All 60 predictions" in out
    rows = [line for line in result.stdout.splitlines() if re.match(r"\s*syn-\S+\s+\d\.\d\d", line)]
    assert len(rows) == 60
