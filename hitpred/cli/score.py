"""``hitpred score TASK --data PATH --out FILE.csv``: batch scoring with a registered model.

One output row per input row, in input order: ``row`` (0-based), the input's identifying
columns, then the predictions (``hit_probability``/``hit``; ``popularity``; ``tier`` and
``p_<tier>``; ``genre`` and ``p_<genre>``; multitask: ``genre``, ``p_<genre>``, ``popularity``).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hitpred.errors import HitPredError
from hitpred.models.base import PREDICTION_TASKS, Task, TaskModel, TaskOutput
from hitpred.settings import get_settings

__all__ = ["prediction_frame", "score", "score_frame"]

CHUNK_ROWS = 5000


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
    model: TaskModel, frame: pd.DataFrame, progress: Progress | None = None
) -> pd.DataFrame:
    """Predictions for every row of a canonical frame, in chunks, in order."""
    parts = []
    job = progress.add_task("scoring", total=len(frame)) if progress else None
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start : start + CHUNK_ROWS]
        parts.append(prediction_frame(model.predict(chunk)))
        if progress is not None and job is not None:
            progress.update(job, advance=len(chunk))
    if not parts:
        return prediction_frame(model.predict(frame))
    return pd.concat(parts, ignore_index=True)


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
def score(task: str, data: Path, out: Path, registry: str | None, version: str | None) -> None:
    """Score every row of a data set with TASK's champion (or --version)."""
    from hitpred.datasets import load_dataset
    from hitpred.registry import RegistryStore

    console = Console(stderr=True)
    store = RegistryStore(registry or get_settings().registry_uri)
    try:
        model = store.load(task, version)
        dataset = load_dataset(data)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    frame = dataset.frame
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        predictions = score_frame(model, frame, progress)
    ids = [c for c in dataset.id_columns if c in frame.columns]
    result = pd.concat(
        [
            pd.DataFrame({"row": np.arange(len(frame))}),
            frame[ids].reset_index(drop=True),
            predictions,
        ],
        axis=1,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    usable = int(frame["usable"].sum()) if "usable" in frame.columns else len(frame)
    console.print(
        f"scored {len(frame):,} rows of {dataset.name} ({len(frame) - usable:,} without usable "
        f"inputs or target, scored from imputed values) with {task} v{model.version} "
        f"({model.name}, {model.feature_set} features) -> {out}"
    )
