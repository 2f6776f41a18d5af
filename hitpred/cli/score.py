"""``hitpred score TASK --data PATH --out FILE.csv``: batch scoring with a registered model.

One output row per input row, in input order: ``row`` (0-based), the input's identifying
columns, then the predictions (``hit_probability``/``hit``; ``popularity``; ``tier`` and
``p_<tier>``; ``genre`` and ``p_<genre>``; multitask: ``genre``, ``p_<genre>``, ``popularity``).

The input is read, mapped, scored and written ``--chunk-rows`` rows at a time, so memory
stays flat however long the file is (formats that need every row at once to be mapped are
loaded whole, and the command says so). The CSV is written next to ``--out`` and renamed
into place when every row is scored: a failed run leaves no half-written file behind.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click
import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from hitpred.errors import HitPredError
from hitpred.models.base import PREDICTION_TASKS, Task, TaskModel, TaskOutput
from hitpred.settings import get_settings

if TYPE_CHECKING:
    from rich.progress import Task as ProgressTask

    from hitpred.datasets import DatasetChunk

__all__ = [
    "BATCH_ROWS",
    "DEFAULT_CHUNK_ROWS",
    "ScoreSummary",
    "peak_rss_mb",
    "prediction_frame",
    "score",
    "score_frame",
    "write_scores",
]

#: Rows per ``model.predict`` call (bounds the model's working memory).
BATCH_ROWS = 5000
#: Rows read, mapped and written at a time (a multiple of :data:`BATCH_ROWS`).
DEFAULT_CHUNK_ROWS = 50_000


def prediction_frame(output: TaskOutput) -> pd.DataFrame:
    """The prediction columns of one task's output."""
    columns: dict[str, np.ndarray] = {}
    if output.task is Task.HIT:
        assert output.values is not None
        columns["hit_probability"] = output.values
        columns["hit"] = (output.values >= 0.5).astype("int64")
    if output.classes is not None and output.probabilities is not None:
        label = "tier" if output.task is Task.TIER else "genre"
        classes = np.asarray(output.classes, dtype=object)
        best = output.probabilities.argmax(axis=1) if len(output.probabilities) else []
        columns[label] = classes[best] if len(classes) else np.asarray([], dtype=object)
        for i, name in enumerate(output.classes):
            columns[f"p_{name}"] = output.probabilities[:, i]
    if output.task in (Task.POPULARITY, Task.MULTITASK):
        assert output.values is not None
        columns["popularity"] = output.values
    return pd.DataFrame(columns)


def score_frame(
    model: TaskModel, frame: pd.DataFrame, advance: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """Predictions for every row of a canonical frame, :data:`BATCH_ROWS` at a time, in order.

    ``advance`` is called with the number of rows of each scored batch (for a progress bar).
    """
    parts = []
    for start in range(0, len(frame), BATCH_ROWS):
        batch = frame.iloc[start : start + BATCH_ROWS]
        parts.append(prediction_frame(model.predict(batch)))
        if advance is not None:
            advance(len(batch))
    if not parts:
        return prediction_frame(model.predict(frame))
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class ScoreSummary:
    """What :func:`write_scores` did."""

    name: str
    rows: int
    #: Rows without usable inputs or target (scored from imputed values).
    unusable: int
    chunks: int


def write_scores(
    model: TaskModel,
    chunks: Iterable[DatasetChunk],
    handle: TextIO,
    advance: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score each chunk and append its rows to the CSV ``handle`` (the header once)."""
    name, rows, unusable, n_chunks = "", 0, 0, 0
    for chunk in chunks:
        frame = chunk.frame
        ids = [c for c in chunk.id_columns if c in frame.columns]
        result = pd.concat(
            [
                pd.DataFrame({"row": np.arange(chunk.first_row, chunk.first_row + len(frame))}),
                frame[ids].reset_index(drop=True),
                score_frame(model, frame, advance),
            ],
            axis=1,
        )
        result.to_csv(handle, index=False, header=n_chunks == 0)
        name = name or chunk.name
        rows += len(frame)
        if "usable" in frame.columns:
            unusable += int((~frame["usable"].astype(bool)).sum())
        n_chunks += 1
    return ScoreSummary(name=name, rows=rows, unusable=unusable, chunks=n_chunks)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (``getrusage`` ``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


class _RateColumn(ProgressColumn):
    """``12,345 rows  6,789 rows/s``."""

    def render(self, task: ProgressTask) -> Text:
        speed = task.finished_speed or task.speed
        rate = f"{speed:,.0f} rows/s" if speed else "- rows/s"
        return Text(f"{task.completed:,.0f} rows  {rate}")


@click.command()
@click.argument("task", type=click.Choice([t.value for t in PREDICTION_TASKS]))
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A data set file or folder in any supported format.",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file to write.",
)
@click.option(
    "--registry",
    default=None,
    help="Registry folder or file:// URI [default: HITPRED_REGISTRY_URI].",
)
@click.option(
    "--version", "version", default=None, help="A registered version (default: the champion)."
)
@click.option(
    "--chunk-rows",
    default=DEFAULT_CHUNK_ROWS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows read, scored and written at a time (memory grows with this, not the file).",
)
def score(
    task: str,
    data: Path,
    out: Path,
    registry: str | None,
    version: str | None,
    chunk_rows: int,
) -> None:
    """Score every row of a data set with TASK's champion (or --version)."""
    from hitpred.datasets import iter_dataset, loader_for
    from hitpred.registry import open_registry

    console = Console(stderr=True)
    store = open_registry(registry or get_settings().registry_uri)
    try:
        model = store.load(task, version)
        loader = loader_for(data)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    if not loader.streams:
        console.print(
            f"{loader.name} data sets cannot be read in chunks: loading {data} whole, "
            f"then scoring {chunk_rows:,} rows at a time",
            markup=False,
            highlight=False,
        )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    started = time.perf_counter()
    try:
        with (
            Progress(*columns, console=console, transient=True) as progress,
            partial.open("w", encoding="utf-8", newline="") as handle,
        ):
            job = progress.add_task("scoring", total=None)
            summary = write_scores(
                model,
                iter_dataset(data, chunk_rows),
                handle,
                lambda n: progress.update(job, advance=n),
            )
        os.replace(partial, out)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    console.print(
        f"scored {summary.rows:,} rows of {summary.name} ({summary.unusable:,} without usable "
        f"inputs or target, scored from imputed values) with {task} v{model.version} "
        f"({model.name}, {model.feature_set} features) -> {out}",
        markup=False,
        highlight=False,
    )
    rate = summary.rows / seconds if seconds > 0 else 0.0
    console.print(
        f"{summary.rows:,} rows in {seconds:.2f} s ({rate:,.0f} rows/s, "
        f"{summary.chunks:,} chunks of up to {chunk_rows:,}), peak RSS {peak_rss_mb():,.0f} MB",
        markup=False,
        highlight=False,
    )
