"""The benchmark's summary over rounds: ratios within a round, medians over the rounds."""

from __future__ import annotations

from typing import Any

import pytest

from bench.report import print_report, summarise


def _run(plain: float, one: float, two: float, p99: float) -> dict[str, Any]:
    def result(rate: float) -> dict[str, Any]:
        return {
            "events_per_s": rate,
            "publish_s": 0.2,
            "duplicates": 0.0,
            "cpu_s_per_1k": {"contender": 0.08, "broker": 0.01},
            "peak_rss_mb": [900.0],
            "processes": [1],
        }

    one_worker = result(one)
    one_worker["latency_ms"] = {
        "rate": 1000,
        "seconds": 10,
        "p50": p99 / 2,
        "p95": p99 * 0.9,
        "p99": p99,
        "max": p99 * 1.1,
        "scored_p50": 10.0,
        "scored_p99": 20.0,
    }
    return {"plain": result(plain), "workers=1": one_worker, "workers=2": result(two)}


def test_ratios_are_taken_within_each_round_then_summarised() -> None:
    # The machine slowed down in the second round: every contender halved.
    runs = [_run(10_000, 12_000, 18_000, 40.0), _run(5_000, 6_000, 9_000, 90.0)]
    runs.append(_run(9_000, 9_900, 14_850, 50.0))
    summary = summarise(runs, [1, 2])
    assert summary["workers=1 / plain"]["values"] == pytest.approx([1.2, 1.2, 1.1])
    assert summary["workers=1 / plain"]["median"] == pytest.approx(1.2)
    assert summary["workers=2 / workers=1"]["values"] == pytest.approx([1.5, 1.5, 1.5])
    assert summary["workers=1"]["median"] == 9_900
    assert (summary["workers=1"]["min"], summary["workers=1"]["max"]) == (6_000, 12_000)
    assert summary["latency_p99_ms"]["median"] == 50.0
    # A median of the rates would give 9,900 / 9,000 = 1.1x: not what any round measured.


def test_without_the_plain_loop_only_worker_ratios() -> None:
    runs = [{k: v for k, v in _run(1, 100, 150, 30.0).items() if k != "plain"}]
    summary = summarise(runs, [1, 2])
    assert "plain" not in summary and "workers=1 / plain" not in summary
    assert summary["workers=2 / workers=1"]["median"] == pytest.approx(1.5)


def test_printed_lines_name_the_round_and_the_medians(capsys: pytest.CaptureFixture[str]) -> None:
    runs = [_run(10_000, 12_000, 18_000, 40.0), _run(5_000, 6_000, 9_000, 90.0)]
    report = {"command": "python -m bench", "date": "2026-12-02", "machine": "2 cores"}
    report |= {"runs": runs, "summary": summarise(runs, [1, 2])}
    print_report(report, [1, 2])
    out = capsys.readouterr().out
    assert "round 2/2: 1 worker(s): 6,000 events/s" in out
    assert "1.20x the plain loop" in out and "1.50x 1 worker(s)" in out
    assert "median of 2 rounds, workers=2 / workers=1: 1.50x (rounds: 1.50, 1.50)" in out
    assert "median of 2 rounds, latency_p99_ms: 65 ms p99" in out
