"""``hitpred publish`` and ``hitpred tail``: release events in, predictions out."""

from __future__ import annotations

import asyncio
import csv
import sys
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from hitpred.schemas import ReleaseEvent
from hitpred.settings import Settings, get_settings

__all__ = [
    "ReadRow",
    "collect",
    "prediction_table",
    "publish",
    "publish_messages",
    "read_release_file",
    "tail",
    "wide_console",
]

_LIST_FIELDS = frozenset({"artists", "genres"})


def _field_types() -> dict[str, type]:
    types: dict[str, type] = {}
    for name, info in ReleaseEvent.model_fields.items():
        text = str(info.annotation)
        if "int" in text and "float" not in text:
            types[name] = int
        elif "float" in text:
            types[name] = float
    return types


@dataclass(frozen=True)
class ReadRow:
    """One row of an input file: what will be published, and a problem if we saw one."""

    line: int
    key: bytes | None
    value: bytes
    problem: str | None = None


def _csv_event(row: dict[str, str], types: dict[str, type]) -> tuple[dict[str, Any], str | None]:
    event: dict[str, Any] = {}
    problems: list[str] = []
    for name, text in row.items():
        if name is None:  # more cells than headers
            problems.append("row has more cells than the header")
            continue
        text = (text or "").strip()
        if not text:
            continue
        if name in _LIST_FIELDS:
            event[name] = [part.strip() for part in text.split(";") if part.strip()]
        elif name in types:
            try:
                number = float(text)
                event[name] = int(number) if types[name] is int and number.is_integer() else number
            except ValueError:
                event[name] = text  # left as is: the worker's validation names the field
        else:
            event[name] = text
    return event, "; ".join(problems) or None


def read_release_file(path: Path) -> Iterator[ReadRow]:
    """Messages to publish from a JSON-lines or CSV file (CSV lists separated by ';').

    Nothing is dropped: every row is published, and a row the worker will dead-letter is
    flagged with the worker's own reason (:func:`hitpred.scoring.validate_batch`, the one
    validation path; a CSV row with more cells than its header is flagged too). Events
    without an ``event_id`` or ``produced_at`` get one here.
    """
    for row in _read_rows(path):
        verdict = _worker_verdict(row.key, row.value)
        problems = [p for p in (row.problem, verdict) if p]
        yield ReadRow(row.line, row.key, row.value, "; ".join(problems) or None)


def _worker_verdict(key: bytes | None, value: bytes) -> str | None:
    """Why the worker would dead-letter this message at validation, or None."""
    from hitpred.intake import RawMessage, validate_batch

    _, dead = validate_batch([RawMessage(value=value, key=key)])
    return dead[0].reason if dead else None


def _read_rows(path: Path) -> Iterator[ReadRow]:
    now = datetime.now(UTC).isoformat()
    if path.suffix.lower() == ".csv":
        types = _field_types()
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                event, problem = _csv_event(row, types)
                event.setdefault("event_id", str(uuid.uuid4()))
                event.setdefault("produced_at", now)
                key = event.get("track_id")
                yield ReadRow(
                    number,
                    key.encode() if isinstance(key, str) else None,
                    orjson.dumps(event),
                    problem,
                )
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield ReadRow(number, None, line, "published raw")
                continue
            if not isinstance(event, dict):
                yield ReadRow(number, None, line, "published raw")
                continue
            event.setdefault("event_id", str(uuid.uuid4()))
            event.setdefault("produced_at", now)
            key = event.get("track_id")
            yield ReadRow(
                number, key.encode() if isinstance(key, str) else None, orjson.dumps(event)
            )


def _bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise click.UsageError(
            "no broker: run `hitpred up` and export the HITPRED_KAFKA_BOOTSTRAP it prints"
        )
    return settings.kafka_bootstrap


async def publish_messages(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes]],
    progress: Progress | None = None,
    chunk: int = 2000,
) -> None:
    """Produce ``messages`` (key, value) to ``topic`` and wait until all are acknowledged."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, acks="all")
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a failed start leaves its connections open otherwise
        raise
    task = progress.add_task(f"publishing to {topic}", total=len(messages)) if progress else None
    try:
        for start in range(0, len(messages), chunk):
            part = messages[start : start + chunk]
            futures = [await producer.send(topic, value, key=key) for key, value in part]
            await asyncio.gather(*futures)
            if progress is not None and task is not None:
                progress.advance(task, len(part))
    finally:
        await producer.stop()


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--topic", default=None, help="Target topic (default: the releases topic).")
def publish(file: Path, topic: str | None) -> None:
    """Publish release events from FILE (JSON lines, or CSV with release-event columns)."""
    settings = get_settings()
    bootstrap = _bootstrap(settings)
    console = Console(stderr=True)
    rows = list(read_release_file(file))
    for row in rows:
        if row.problem:
            console.print(f"[yellow]line {row.line}[/]: {row.problem}")
    with Progress(console=console) as progress:
        _run_against_broker(
            bootstrap,
            publish_messages(
                bootstrap,
                topic or settings.releases_topic,
                [(r.key, r.value) for r in rows],
                progress,
            ),
        )
    flagged = sum(1 for r in rows if r.problem)
    console.print(
        f"published {len(rows)} messages from {file}"
        + (f" ({flagged} flagged above; the worker will dead-letter them)" if flagged else "")
    )


async def collect(
    bootstrap: str,
    topics: Sequence[str],
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
    timeout: float | None = None,
) -> AsyncIterator[tuple[str, bytes | None, bytes]]:
    """Yield (topic, key, value) from every partition of ``topics`` without a consumer group.

    Stops after ``timeout`` seconds in total or ``idle_timeout`` seconds without a message.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # a failed start leaves its connections open otherwise
        raise
    try:
        await consumer.topics()  # fetches the cluster metadata
        assigned: list[TopicPartition] = []
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            assigned.extend(TopicPartition(topic, p) for p in sorted(partitions))
        consumer.assign(assigned)
        # Not from the beginning: only what is produced from now on. The end offset alone is
        # not enough: tansu answers "latest" with the start of the last record batch, so a
        # few old messages would come first; records stamped before now are skipped too.
        since_ms = 0 if from_beginning else int(time.time() * 1000) - 1
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        started = last = time.monotonic()
        while True:
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                return
            if idle_timeout is not None and now - last >= idle_timeout:
                return
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    last = time.monotonic()
                    if record.timestamp is not None and 0 <= record.timestamp < since_ms:
                        continue
                    yield tp.topic, record.key, record.value
    finally:
        await consumer.stop()


def _run_against_broker(bootstrap: str, work: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that talks to the broker; a broker failure is one line, not a traceback."""
    from aiokafka.errors import KafkaError

    try:
        asyncio.run(work)
    except KafkaError as exc:
        raise click.ClickException(
            f"the Kafka broker at {bootstrap} did not answer ({type(exc).__name__}: {exc}); "
            "is it running (`hitpred up`), and is HITPRED_KAFKA_BOOTSTRAP right?"
        ) from exc


def _json_object(value: bytes | None) -> dict[str, Any] | None:
    """A message value as a JSON object, or None when it is not one (never raises)."""
    try:
        parsed = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def wide_console() -> Console:
    """A console for prediction tables: a terminal's own width, 140 columns in logs and pipes
    (rich's 80-column default would fold the genre column into unreadable fragments)."""
    return Console() if sys.stdout.isatty() else Console(width=140)


#: Short names of a prediction's inputs, for the table.
_INPUT_SHORT = {
    "descriptors": "desc",
    "estimated descriptors": "est",
    "lyrics": "lyrics",
    "audio": "audio",
}


def prediction_table(predictions: Sequence[dict[str, Any]], title: str = "Predictions") -> Table:
    """A rich table of decoded predictions, one line each (the models are named in the caption)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("track", no_wrap=True)
    table.add_column("P(hit)", justify="right", no_wrap=True)
    table.add_column("pop.", justify="right", no_wrap=True)
    table.add_column("tier", no_wrap=True)
    table.add_column("genre top-3", no_wrap=True)
    table.add_column("strongest feature")
    table.add_column("inputs", no_wrap=True)
    models: set[str] = set()
    for p in predictions:
        hit = p.get("hit") or {}
        pop = p.get("popularity") or {}
        genre = p.get("genre") or {}
        contributions = p.get("contributions") or []
        top = contributions[0] if contributions else None
        for section in (hit, pop, genre):
            if section:
                models.add(f"{section['model']['name']}@{section['model']['version']}")
        table.add_row(
            str(p.get("track_id", "")),
            f"{hit['probability']:.2f}{' HIT' if hit.get('is_hit') else ''}" if hit else "-",
            f"{pop['popularity']:.0f}" if pop else "-",
            str(pop.get("tier", "-")),
            " ".join(f"{g['genre']} {g['probability']:.2f}" for g in genre.get("top3", [])) or "-",
            f"{top['feature']} {top['contribution']:+.2f}" if top else "-",
            "+".join(_INPUT_SHORT.get(i, i) for i in p.get("inputs", [])) or "-",
        )
    table.caption = "models: " + ", ".join(sorted(models)) if models else None
    return table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.option("--dlq", is_flag=True, help="Also show dead letters.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest message.")
@click.option("--limit", type=int, default=None, help="Stop after this many messages.")
@click.option("--timeout", type=float, default=None, help="Stop after this many seconds.")
def tail(
    as_json: bool, dlq: bool, from_beginning: bool, limit: int | None, timeout: float | None
) -> None:
    """Print predictions as they arrive (Ctrl-C to stop)."""
    settings = get_settings()
    bootstrap = _bootstrap(settings)
    topics = [settings.predictions_topic] + ([settings.dlq_topic] if dlq else [])
    console = wide_console()

    async def run() -> None:
        seen = 0
        pending: list[dict[str, Any]] = []
        flushed = time.monotonic()

        def flush() -> None:
            nonlocal flushed
            if pending:
                console.print(prediction_table(pending, title=""))
                pending.clear()
            flushed = time.monotonic()

        try:
            async for topic, _key, value in collect(
                bootstrap, topics, from_beginning=from_beginning, timeout=timeout
            ):
                seen += 1
                message = None if as_json else _json_object(value)
                if as_json:
                    click.echo(value.decode("utf-8", "replace"))
                elif message is None:
                    flush()
                    console.print(f"unreadable message on {escape(topic)}: {value[:80]!r}")
                elif topic == settings.dlq_topic:
                    flush()
                    stage = escape(str(message.get("stage", "?")))
                    reason = escape(str(message.get("reason", "?")))
                    console.print(f"[red]dead letter[/] {stage}: {reason}")
                else:
                    pending.append(message)
                    if len(pending) >= 25 or time.monotonic() - flushed > 1.0:
                        flush()
                if limit is not None and seen >= limit:
                    return
        finally:
            flush()

    try:
        _run_against_broker(bootstrap, run())
    except KeyboardInterrupt:
        pass
