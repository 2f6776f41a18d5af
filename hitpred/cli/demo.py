"""``hitpred demo``: the whole pipeline on a laptop, start to clean finish, by itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
import numpy as np
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hitpred.baseline import (
    BASELINE_VERSION,
    malformed_release_messages,
    synthetic_release_events,
)
from hitpred.cli.events import collect, prediction_table, publish_messages, wide_console
from hitpred.cli.stack import raise_on_sigterm
from hitpred.errors import HitPredError
from hitpred.settings import get_settings
from hitpred.stack import Stack, wait_worker_ready

__all__ = ["demo"]


@click.command()
@click.option("--events", "n_events", default=400, show_default=True, help="Valid releases.")
@click.option("--bad", "n_bad", default=12, show_default=True, help="Deliberately broken ones.")
@click.option("--show", default=0, show_default=True, help="Predictions to print (0: every one).")
@click.option("--timeout", default=180.0, show_default=True, help="Give up after seconds.")
def demo(n_events: int, n_bad: int, show: int, timeout: float) -> None:
    """Start the stack and a worker, publish sample releases, show what comes out, stop.

    The releases come from the synthetic catalog the baseline models are trained on; the
    broken ones (not JSON, wrong types, out-of-range values, missing key...) show up as dead
    letters with their reasons.
    """
    console = wide_console()
    settings = get_settings()
    raise_on_sigterm()
    stack = Stack(settings)
    try:
        with console.status("starting the broker, Redis and a worker (trains the baseline)..."):
            stack.start()
            stack.create_topics()
            worker = stack.start_worker()
            wait_worker_ready(worker, timeout=timeout)
        broker_kind = "embedded tansu" if stack.embedded_broker else "external"
        redis_kind = "embedded valkey" if stack.embedded_redis else "external"
        console.print(
            f"broker {stack.bootstrap} ({broker_kind}), redis {stack.redis_url} ({redis_kind})"
        )
        good = [
            (e["track_id"].encode(), orjson.dumps(e))
            for e in synthetic_release_events(n_events, seed=int(time.time()) % 100_000)
        ]
        bad = [(key, value) for _, key, value in malformed_release_messages(n_bad)]
        # Spread the bad ones through the stream: the worker must keep going after each.
        messages = list(good)
        for i, item in enumerate(bad):
            messages.insert((i + 1) * len(messages) // (len(bad) + 1), item)
        started = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            asyncio.run(
                publish_messages(stack.bootstrap, settings.releases_topic, messages, progress)
            )
        predictions, dead = asyncio.run(
            _gather(stack.bootstrap, settings, len(good), len(bad), timeout, console)
        )
        elapsed = time.perf_counter() - started
        if not worker.alive:
            raise HitPredError(f"the worker died: {worker.tail()}")
        _report(console, predictions, dead, show, elapsed, len(messages))
        if len(predictions) != len(good) or len(dead) != len(bad):
            raise HitPredError(
                f"expected {len(good)} predictions and {len(bad)} dead letters, got "
                f"{len(predictions)} and {len(dead)} within {timeout:.0f}s"
            )
    except KeyboardInterrupt:
        console.print("interrupted.")
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        with console.status("stopping the worker and the stack..."):
            stack.stop()
    console.print("demo finished; everything stopped.")


async def _gather(
    bootstrap: str, settings: Any, n_good: int, n_bad: int, timeout: float, console: Console
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    predictions: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    with console.status("waiting for predictions...") as status:
        async for topic, _key, value in collect(
            bootstrap, [settings.predictions_topic, settings.dlq_topic], timeout=timeout
        ):
            (dead if topic == settings.dlq_topic else predictions).append(orjson.loads(value))
            status.update(f"{len(predictions)} predictions, {len(dead)} dead letters...")
            if len(predictions) >= n_good and len(dead) >= n_bad:
                break
    return predictions, dead


def _report(
    console: Console,
    predictions: list[dict[str, Any]],
    dead: list[dict[str, Any]],
    show: int,
    elapsed: float,
    published: int,
) -> None:
    ranked = sorted(predictions, key=lambda p: -p["hit"]["probability"] if p.get("hit") else 0)
    shown = ranked[:show] if show > 0 else ranked
    title = (
        f"All {len(ranked)} predictions, by P(hit)"
        if len(shown) == len(ranked)
        else f"Top {len(shown)} of {len(ranked)} predictions by P(hit)"
    )
    console.print(prediction_table(shown, title=title))
    letters = Table(title=f"{len(dead)} dead letters (hitpred.releases.dlq)")
    for column in ("stage", "key", "reason"):
        letters.add_column(column)
    for d in sorted(dead, key=lambda d: (d["stage"], d.get("source_offset") or 0)):
        letters.add_row(d["stage"], str(d.get("original_key")), d["reason"][:140])
    console.print(letters)
    latencies = (
        np.array([p["timings"]["end_to_end_ms"] for p in predictions])
        if predictions
        else np.zeros(1)
    )
    tiers: dict[str, int] = {}
    for p in predictions:
        tier = p.get("popularity", {}).get("tier", "-")
        tiers[tier] = tiers.get(tier, 0) + 1
    console.print(
        f"tiers: {tiers}; hits: {sum(1 for p in predictions if p.get('hit', {}).get('is_hit'))}"
    )
    p50, p95 = np.percentile(latencies, [50, 95])
    console.print(
        f"[bold]throughput[/]: {published} events in {elapsed:.2f}s = "
        f"{published / elapsed:,.0f} events/s end to end (publish -> prediction, one worker, "
        f"a small demo load; `python -m bench` measures sustained throughput); "
        f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )
    if any(
        (p.get(task) or {}).get("model", {}).get("version") == BASELINE_VERSION
        for p in predictions
        for task in ("hit", "popularity", "genre")
    ):
        console.print(
            f"[dim]models marked @{BASELINE_VERSION} were trained at start-up on a synthetic "
            "catalog (not real music data): train real ones with `hitpred train`[/]"
        )
