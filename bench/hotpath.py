"""Where the time goes in the pure batch function (no broker): decode, frame, predict, serialize.

python -m bench.hotpath [--batch 1000] [--batches 30]
"""

from __future__ import annotations

import statistics
import time

import click
import orjson

from hitpred.baseline import synthetic_release_events, train_baseline
from hitpred.enrichment import EmbeddingCache, Enricher, EnrichLimits
from hitpred.enrichment.stage import enrich_messages
from hitpred.intake import RawMessage
from hitpred.pipeline import process_releases
from hitpred.scoring import Scorer


@click.command()
@click.option("--batch", default=1000, show_default=True, help="Events per batch.")
@click.option("--batches", default=30, show_default=True, help="Batches to time.")
def main(batch: int, batches: int) -> None:
    """Time the batch functions per step and print events/s."""
    scorer = Scorer(train_baseline())
    # Descriptors-only releases: the enrich stage validates and passes them on.
    enricher = Enricher(cache=EmbeddingCache(None, prefix="", ttl_s=1), limits=EnrichLimits())
    events = synthetic_release_events(batch, seed=5)
    raw = [
        RawMessage(value=orjson.dumps(e), key=str(e["track_id"]).encode(), topic="r", offset=i)
        for i, e in enumerate(events)
    ]
    enriched = [
        RawMessage(value=r.value, key=r.key, topic="e", offset=i)
        for i, r in enumerate(enrich_messages(enricher, raw).records)
    ]
    cases = {
        "releases -> predictions (one pass)": lambda: process_releases(scorer, None, raw),
        "releases -> enriched (enrich stage)": lambda: enrich_messages(enricher, raw),
        "enriched -> predictions (score stage)": lambda: scorer.score_enriched(enriched),
    }
    click.echo(f"command: python -m bench.hotpath --batch {batch} --batches {batches}")
    for name, run in cases.items():
        run()  # warm up
        totals: list[float] = []
        steps: dict[str, list[float]] = {}
        for _ in range(batches):
            started = time.perf_counter()
            result = run()
            totals.append(time.perf_counter() - started)
            for step, seconds in result.timings_s.items():
                steps.setdefault(step, []).append(seconds)
        median = statistics.median(totals)
        parts = ", ".join(
            f"{step} {statistics.median(values) * 1000:.1f}" for step, values in steps.items()
        )
        click.echo(
            f"{name:40s} {median * 1000:6.1f} ms/batch  {batch / median:8,.0f} events/s  "
            f"(ms: {parts})"
        )


if __name__ == "__main__":
    main()
