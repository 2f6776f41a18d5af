"""What ``python -m bench`` prints: one line per contender and round, the medians over the
rounds, and the JSON report.

A round runs every contender once, one after the other. The 2-core development machine's
speed drifts by up to 2x within minutes (the same plain loop measured 12,300 then 6,500
events/s in consecutive runs), so a ratio is worked out within each round, where the
contenders ran minutes apart at most, and the rounds' ratios are summarised by their median
and their range rather than trusted one at a time.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from typing import Any

import click

__all__ = ["print_report", "summarise"]


def _ratio_names(counts: Sequence[int], plain: bool) -> list[tuple[str, str]]:
    """(numerator, denominator) pairs: the first worker count against the plain loop, every
    other worker count against the first."""
    if not counts:
        return []
    first = f"workers={counts[0]}"
    pairs = [(first, "plain")] if plain else []
    return pairs + [(f"workers={n}", first) for n in counts[1:]]


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "values": values,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def summarise(runs: Sequence[dict[str, Any]], counts: Sequence[int]) -> dict[str, Any]:
    """Per contender, its events/s in every round; per ratio, its value in every round; the
    p99 latency of every round that measured one; each with its median, min and max."""
    plain = all("plain" in run for run in runs)
    names = (["plain"] if plain else []) + [f"workers={n}" for n in counts]
    summary: dict[str, Any] = {
        name: _spread([float(run[name]["events_per_s"]) for run in runs]) for name in names
    }
    for top, bottom in _ratio_names(counts, plain):
        summary[f"{top} / {bottom}"] = _spread(
            [run[top]["events_per_s"] / run[bottom]["events_per_s"] for run in runs]
        )
    p99 = [run[n]["latency_ms"]["p99"] for run in runs for n in names if "latency_ms" in run[n]]
    if p99:
        summary["latency_p99_ms"] = _spread(p99)
    return summary


def print_report(report: dict[str, Any], counts: Sequence[int]) -> None:
    """Every round's lines, then the medians, then the report as one line of JSON."""
    click.echo(f"command:  {report['command']}  ({report['date']}, {report['machine']})")
    runs = report["runs"]
    for i, run in enumerate(runs):
        prefix = f"round {i + 1}/{len(runs)}: " if len(runs) > 1 else ""
        _print_run(run, counts, prefix)
    if len(runs) > 1:
        summary = report["summary"]
        for name, spread in summary.items():
            unit = (
                "x"
                if "/" in name
                else " ms p99 at the paced rate"
                if name.startswith("latency")
                else " events/s"
            )
            values = ", ".join(_fmt(v, unit) for v in spread["values"])
            click.echo(
                f"median of {len(runs)} rounds, {name}: {_fmt(spread['median'], unit)}{unit} "
                f"(rounds: {values})"
            )
    click.echo(json.dumps(report, default=float))


def _fmt(value: float, unit: str) -> str:
    return f"{value:.2f}" if unit == "x" else f"{value:,.0f}"


def _print_run(run: dict[str, Any], counts: Sequence[int], prefix: str) -> None:
    plain = run.get("plain")
    base = plain["events_per_s"] if plain else None
    if plain:
        click.echo(
            f"{prefix}plain aiokafka loop: {plain['events_per_s']:,.0f} events/s (burst "
            f"published in {plain['publish_s']:.1f}s); {_cpu_line(plain)}"
        )
    one = run.get(f"workers={counts[0]}") if counts else None
    for n in counts:
        r = run[f"workers={n}"]
        parts = [
            f"{prefix}{n} worker(s): {r['events_per_s']:,.0f} events/s (burst published in "
            f"{r['publish_s']:.1f}s)"
        ]
        if base:
            parts.append(f"{r['events_per_s'] / base:.2f}x the plain loop")
        if one is not None and n != counts[0]:
            parts.append(f"{r['events_per_s'] / one['events_per_s']:.2f}x {counts[0]} worker(s)")
        rss = ", ".join(f"{m:,.0f}" for m in r["peak_rss_mb"] if m is not None)
        processes = "+".join(str(p) for p in r.get("processes", []))
        parts.append(f"peak RSS {rss} MB ({processes} processes); duplicates {r['duplicates']:.0f}")
        parts.append(_cpu_line(r))
        click.echo("; ".join(parts))
        lat = r.get("latency_ms")
        if lat:
            click.echo(
                f"  latency at {lat['rate']:,} events/s for {lat['seconds']}s (produced_at -> "
                f"read by a consumer): p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, "
                f"p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms (produced_at -> scored_at: "
                f"p50 {lat['scored_p50']:.0f} ms, p99 {lat['scored_p99']:.0f} ms)"
            )


def _cpu_line(result: dict[str, Any]) -> str:
    cpu = result["cpu_s_per_1k"]
    return (
        f"CPU per 1,000 events: {cpu['contender'] * 1000:.0f} ms its processes, "
        f"{cpu['broker'] * 1000:.0f} ms the broker"
    )
