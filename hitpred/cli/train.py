"""``hitpred train TASK --data PATH``: cross-validate the model zoo, report, register the best."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hitpred.errors import HitPredError
from hitpred.models.base import Task
from hitpred.settings import get_settings

__all__ = ["train"]


class _Bar:
    """The job's progress, drawn by rich."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task_id = progress.add_task("training", total=None)

    def start(self, total: int) -> None:
        self.progress.update(self.task_id, total=total)

    def advance(self, description: str) -> None:
        self.progress.update(self.task_id, advance=1, description=description)


@click.command()
@click.argument("task", type=click.Choice([t.value for t in Task]))
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A data set file or folder (see ../shared/datasets).",
)
@click.option(
    "--features",
    "feature_set",
    default="release",
    show_default=True,
    type=click.Choice(
        ["release", "all", "release+artist", "core", "audio", "lyrics", "multimodal"]
    ),
    help="release: known at release time (Spotify-style descriptors, metadata, title); all: "
    "every column but the target; release+artist: opt-in artist record (also evaluated "
    "artist-disjoint); core: the descriptors audio analysis yields (tempo, key, mode, "
    "loudness, duration) + metadata; audio: the GTZAN layout; lyrics: the lyrics embedding + "
    "metadata; multimodal: all of them (chosen by itself for --models multimodal). "
    "The stream serves release, core, audio, lyrics and multimodal champions.",
)
@click.option(
    "--models",
    "models",
    default=None,
    help="Comma-separated model names (default: the whole zoo of the task).",
)
@click.option(
    "--registry",
    "registry",
    default=None,
    help="Registry folder or file:// URI [default: HITPRED_REGISTRY_URI].",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where the report folder goes.",
)
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--exclude", default="", help="Comma-separated inputs to leave out (ablations).")
@click.option(
    "--promote/--no-promote",
    default=None,
    help="Force or forbid promotion (default: only when it beats the champion).",
)
@click.option("--no-register", is_flag=True, help="Evaluate and report only.")
@click.option(
    "--epochs",
    default=None,
    type=click.IntRange(1, 1000),
    help="audio-embedding only: maximum training epochs [default: 30].",
)
def train(
    task: str,
    data: Path,
    feature_set: str,
    models: str | None,
    registry: str | None,
    report_dir: Path,
    folds: int,
    seed: int,
    exclude: str,
    promote: bool | None,
    no_register: bool,
    epochs: int | None,
) -> None:
    """Train TASK on a data set, write a report and register the best model.

    TASK is hit, popularity, tier, genre or multitask (genre + popularity heads), or
    audio-embedding: the audio CNN encoder, trained on a folder with one sub-folder of audio
    files per label (e.g. GTZAN's genres_original).
    """
    if task == Task.AUDIO_EMBEDDING.value:
        registry_uri = None if no_register else registry or get_settings().registry_uri
        _train_audio(data, registry_uri, epochs, seed, promote)
        return
    if epochs is not None:
        raise click.UsageError("--epochs only applies to audio-embedding")
    from training.data import FeatureSet
    from training.job import TrainConfig, run_training
    from training.report import write_report

    console = Console()
    config = TrainConfig(
        task=Task(task),
        data=data,
        registry_uri=registry or get_settings().registry_uri,
        report_dir=report_dir,
        feature_set=FeatureSet(feature_set),
        models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
        folds=folds,
        seed=seed,
        exclude=tuple(c.strip() for c in exclude.split(",") if c.strip()),
        promote=promote,
        register=not no_register,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            result = run_training(config, _Bar(progress))
        command = "hitpred " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        index = write_report(result, command=command)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc

    table = Table(
        title=f"{task} on {result.data.dataset} ({result.data.feature_set.value} features), "
        f"{config.folds}-fold CV, mean ± std"
    )
    shown = [
        m
        for m in (
            "accuracy",
            "f1",
            "f1_macro",
            "roc_auc",
            "rmse",
            "mae",
            "r2",
            "spearman",
            "genre_accuracy",
            "genre_f1_macro",
            "popularity_rmse",
            "popularity_r2",
        )
        if any(m in s for s in result.leaderboard.values())
    ]
    table.add_column("model")
    for metric in shown:
        table.add_column(metric, justify="right")
    for name, summary in result.leaderboard.items():
        cells = [
            f"{summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}" if m in summary else "-"
            for m in shown
        ]
        style = "bold green" if name == result.best else None
        table.add_row(name, *cells, style=style)
    console.print(table)
    if result.artist_disjoint:
        best = result.artist_disjoint[result.best]
        console.print(
            f"artist-disjoint CV of {result.best}: "
            + ", ".join(
                f"{m} {best[m]['mean']:.4f} ± {best[m]['std']:.4f}" for m in shown if m in best
            )
        )
    if result.ablation:
        _print_ablation(console, result.ablation, shown)
    holdout = ", ".join(
        f"{m} {result.holdout_metrics[m]:.4f}" for m in shown if m in result.holdout_metrics
    )
    console.print(f"hold-out ({len(result.holdout_rows)} rows) of {result.best}: {holdout}")
    if result.bundle is not None:
        verdict = "[green]champion[/green]" if result.promoted else "not promoted"
        console.print(
            f"registered {task} v{result.bundle.version}: {verdict} ({result.promotion_reason})"
        )
    console.print(f"report: {index}  ({result.seconds['total']:.0f} s)")


def _print_ablation(console: Console, ablation: dict[str, Any], shown: list[str]) -> None:
    """The ablation table: the same folds, some inputs left out (the report lists the inputs)."""
    table = Table(title="ablations (same folds; inputs of each in the report)")
    table.add_column("variant")
    for metric in shown:
        table.add_column(metric, justify="right")
    for name, summary in ablation.items():
        cells = [
            f"{summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}" if m in summary else "-"
            for m in shown
        ]
        if not any(m in summary for m in shown):
            cells = [str(summary.get("inputs", ""))[:60], *["" for _ in shown[1:]]]
        table.add_row(name, *cells)
    console.print(table)


def _train_audio(
    data: Path, registry_uri: str | None, epochs: int | None, seed: int, promote: bool | None
) -> None:
    """``hitpred train audio-embedding``: train the encoder, print its validation figures."""
    from training.audio_encoder import train_audio_encoder

    console = Console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    options = {"epochs": epochs} if epochs is not None else {}
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            result = train_audio_encoder(
                data,
                seed=seed,
                progress=_Bar(progress),
                registry_uri=registry_uri,
                promote=promote,
                **options,
            )
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    metrics = result.metrics
    table = Table(
        title=f"audio encoder on {data.name}: validation ({metrics['validation_files']} files)"
    )
    for column in ("class", "files", "recall"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, recall in metrics["per_class_recall"].items():
        table.add_row(label, str(metrics["files_per_class"][label]), f"{recall:.3f}")
    console.print(table)
    console.print(
        f"validation accuracy {result.accuracy:.4f} (best epoch {metrics['best_epoch']} of "
        f"{metrics['epochs_run']}); model {result.encoder.model_id}"
    )
    if result.skipped:
        shown = "; ".join(f"{s['file']} ({s['reason']})" for s in result.skipped[:5])
        more = f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""
        console.print(
            f"[yellow]skipped {len(result.skipped)} unreadable file(s)[/yellow]: {shown}{more}"
        )
    if result.bundle is not None:
        verdict = "[green]champion[/green]" if result.promoted else "not promoted"
        console.print(
            f"registered {Task.AUDIO_EMBEDDING.value} v{result.bundle.version} at "
            f"{result.bundle.path}: {verdict} ({result.promotion_reason})"
        )
    console.print(f"({result.seconds:.0f} s)")
