"""``hitpred models list|show|promote``: what the registry holds."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from hitpred.errors import HitPredError
from hitpred.models.base import Task
from hitpred.settings import get_settings

__all__ = ["models"]

_TASKS = click.Choice([t.value for t in Task])


def _store(registry: str | None):  # type: ignore[no-untyped-def]
    from hitpred.registry import RegistryStore

    return RegistryStore(registry or get_settings().registry_uri)


_registry_option = click.option(
    "--registry",
    default=None,
    help="Registry folder or file:// URI [default: HITPRED_REGISTRY_URI].",
)


@click.group()
def models() -> None:
    """Inspect the model registry and choose champions."""


@models.command("list")
@click.argument("task", required=False, type=_TASKS)
@_registry_option
def list_(task: str | None, registry: str | None) -> None:
    """Every registered version (of TASK, or of all tasks)."""
    store = _store(registry)
    table = Table(title=f"models in {store.root}")
    for column in (
        "task",
        "version",
        "champion",
        "model",
        "features",
        "data set",
        "primary (CV)",
        "created",
    ):
        table.add_column(column)
    tasks = [Task(task)] if task else store.tasks()
    for t in tasks:
        champion = store.champion(t)
        for version in store.versions(t):
            m = store.manifest(t, version)
            primary = m.get("metrics", {}).get("primary", {})
            table.add_row(
                t.value,
                version,
                "*" if version == champion else "",
                m["name"],
                m["feature_set"],
                m.get("data", {}).get("dataset", ""),
                f"{primary.get('name', '')} "
                f"{primary.get('cv_mean', primary.get('value', float('nan'))):.4f}",
                m.get("created_at", "")[:19],
            )
    Console().print(table)


@models.command()
@click.argument("task", type=_TASKS)
@click.argument("version", required=False)
@_registry_option
def show(task: str, version: str | None, registry: str | None) -> None:
    """A version's manifest (default: the champion)."""
    try:
        manifest = _store(registry).manifest(task, version)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(manifest, indent=2, sort_keys=True))


@models.command()
@click.argument("task", type=_TASKS)
@click.argument("version")
@_registry_option
def promote(task: str, version: str, registry: str | None) -> None:
    """Make VERSION the champion of TASK (after its files pass their sha256 check)."""
    from hitpred.registry.integrity import verify_folder

    store = _store(registry)
    try:
        verify_folder(store.path(task, version), store.manifest(task, version))
        store.promote(task, version, reason="promoted by hand")
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{task}: champion is now v{version}")
