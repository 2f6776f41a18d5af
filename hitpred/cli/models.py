"""``hitpred models list|show|promote|rollback|history|verify``: what the registry holds, and
which versions the workers serve (a change is announced to running workers, which reload)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hitpred.errors import HitPredError
from hitpred.models.base import Task
from hitpred.settings import get_settings

if TYPE_CHECKING:
    from hitpred.registry import RegistryStore

__all__ = ["models"]

_TASKS = click.Choice([t.value for t in Task])


def _store(registry: str | None):  # type: ignore[no-untyped-def]
    from hitpred.registry import open_registry

    settings = get_settings()
    return open_registry(registry or settings.registry_uri, settings.state_dir / "registry-mirror")


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
        "alias",
        "model",
        "features",
        "data set",
        "primary (CV)",
        "created",
    ):
        table.add_column(column)
    tasks = [Task(task)] if task else store.tasks()
    for t in tasks:
        champions = set(store.champions(t).values())  # one per feature set
        challenger = store.challenger(t)
        for version in store.versions(t):
            m = store.manifest(t, version)
            primary = m.get("metrics", {}).get("primary", {})
            alias = [
                a
                for a, on in (
                    ("champion", version in champions),
                    ("challenger", version == challenger),
                )
                if on
            ]
            table.add_row(
                t.value,
                version,
                ", ".join(alias),
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
@click.option(
    "--alias",
    type=click.Choice(["champion", "challenger"]),
    default="champion",
    show_default=True,
    help="champion: served by every worker; challenger: also scored, to the shadow topic.",
)
@click.option("--reason", default="promoted by hand", show_default=True, help="Why (history).")
@click.option(
    "--offline",
    is_flag=True,
    help="Allow a feature set the stream cannot feed (the model serves batch scoring only).",
)
@_registry_option
def promote(
    task: str, version: str, alias: str, reason: str, offline: bool, registry: str | None
) -> None:
    """Give VERSION of TASK an alias, after its files pass their sha256 check; running workers
    switch to it between two batches."""
    from hitpred.champions import STREAM_FEATURE_SETS
    from hitpred.registry.integrity import verify_folder

    store = _store(registry)
    try:
        manifest = store.manifest(task, version)
        feature_set = str(manifest.get("feature_set", ""))
        if feature_set not in STREAM_FEATURE_SETS and not offline:
            raise click.ClickException(
                f"{task} v{version} reads the feature set {feature_set!r}, which release events "
                f"cannot supply (the stream feeds {', '.join(STREAM_FEATURE_SETS)}): refused. "
                "--offline promotes it for batch scoring only."
            )
        verify_folder(store.path(task, version), manifest)
        entry = store.promote(task, version, reason=reason, alias=alias)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    _announce(entry, store)
    was = f" (was v{entry['from']})" if entry["from"] else ""
    click.echo(f"{task}: {alias} is now v{version}{was}")


@models.command()
@click.argument("task", type=_TASKS)
@click.option("--reason", default="rolled back by hand", show_default=True)
@_registry_option
def rollback(task: str, reason: str, registry: str | None) -> None:
    """Make the previous champion of TASK the champion again."""
    from hitpred.registry.integrity import verify_folder

    store = _store(registry)
    previous = store.previous_champion(task)
    if previous is None:
        raise click.ClickException(f"{task}: no earlier champion in the history to return to")
    try:
        verify_folder(store.path(task, previous), store.manifest(task, previous))
        entry = store.promote(task, previous, reason=reason)
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    _announce(entry, store)
    click.echo(f"{task}: champion is now v{previous} (was v{entry['from']})")


@models.command()
@click.argument("task", type=_TASKS)
@_registry_option
def history(task: str, registry: str | None) -> None:
    """Every alias change of TASK: when, who, from which version to which, why."""
    table = Table(title=f"{task}: alias changes")
    for column in ("when", "alias", "from", "to", "who", "reason"):
        table.add_column(column)
    for entry in _store(registry).history(task):
        table.add_row(
            str(entry.get("at", ""))[:19],
            str(entry.get("alias", "")),
            str(entry.get("from") or "-"),
            str(entry.get("to") or "-"),
            str(entry.get("who", "")),
            escape(str(entry.get("reason", ""))),
        )
    Console().print(table)


@models.command()
@_registry_option
def verify(registry: str | None) -> None:
    """Check every stored bundle and every bundle cached in Redis against its sha256; exits 1
    naming each file that does not match."""
    from hitpred.registry.verify import verify_all

    problems = 0
    for where, error in verify_all(_store(registry), get_settings()):
        if error is None:
            click.echo(f"ok    {where}")
        else:
            problems += 1
            click.echo(f"FAIL  {where}: {error}")
    if problems:
        raise click.ClickException(f"{problems} bundle(s) failed their integrity check")
    click.echo("every bundle matches its manifest")


@models.command()
@click.argument(
    "task", type=click.Choice([t.value for t in (Task.HIT, Task.POPULARITY, Task.GENRE)])
)
@click.option(
    "--idle", default=3.0, show_default=True, help="Stop reading after this long without news."
)
def compare(task: str, idle: float) -> None:
    """Champion against challenger: the served predictions and the shadow ones of the same
    releases, read from their topics (from the beginning), paired and compared."""
    import asyncio

    import orjson

    from hitpred.cli.events import collect
    from hitpred.registry.compare import compare as pair_up

    settings = get_settings()
    if not settings.kafka_bootstrap:
        raise click.ClickException("HITPRED_KAFKA_BOOTSTRAP is not set (`hitpred up` prints it)")
    served: list[dict[str, object]] = []
    shadow: list[dict[str, object]] = []

    async def read() -> None:
        topics = [settings.predictions_topic, settings.shadow_topic]
        async for topic, _, value in collect(
            str(settings.kafka_bootstrap), topics, idle_timeout=idle
        ):
            try:
                prediction = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            (shadow if topic == settings.shadow_topic else served).append(prediction)

    try:
        asyncio.run(read())
    except Exception as exc:  # an unreachable broker: one line, not a traceback
        raise click.ClickException(f"cannot read the prediction topics: {exc!r}") from exc
    for line in pair_up(Task(task), served, shadow).lines():
        click.echo(line)


def _announce(entry: dict[str, object], store: RegistryStore) -> None:
    from hitpred.registry.live import announce

    if not announce(get_settings(), entry, store):
        click.echo("Redis unavailable: running workers will see the change at their next poll")
