"""The throughput benchmark runs end to end on its own embedded stack (not a timing test: the
figures it prints are not checked, only that it measured every contender on every event)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(420)


def test_bench_drains_a_burst_with_the_plain_loop_and_two_workers(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--events", "3000", "--workers", "2"),
            *("--latency-rate", "0", "--json", str(report_path)),
        ],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["events"] == 3000
    assert report["rounds"] == 1 and len(report["runs"]) == 1
    (run,) = report["runs"]
    for name in ("plain", "workers=2"):
        result = run[name]
        # _rates refuses a run where a prediction is missing: each contender scored all 3,000.
        assert result["events_per_s"] > 0
        assert result["duplicates"] == 0
        assert result["publish_s"] > 0
        assert result["cpu_s_per_1k"]["contender"] > 0
        assert result["cpu_s_per_1k"]["broker"] > 0
    assert len(run["workers=2"]["peak_rss_mb"]) == 2
    ratio = report["summary"]["workers=2 / plain"]["median"]
    assert ratio == run["workers=2"]["events_per_s"] / run["plain"]["events_per_s"]
    assert "2 worker(s):" in completed.stdout
    assert "CPU per 1,000 events" in completed.stdout
    # A successful run leaves nothing behind in the temporary folder.
    assert not list(tmp_path.glob("hitpred-bench-*"))
