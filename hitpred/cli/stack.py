"""``hitpred up``: the embedded stack and a worker in the foreground; Ctrl-C stops all of it."""

from __future__ import annotations

import signal
import time
from types import FrameType

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hitpred.errors import HitPredError
from hitpred.settings import get_settings
from hitpred.stack import Stack
from hitpred.supervisor import Supervisor

__all__ = ["raise_on_sigterm", "up"]


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so ``finally`` blocks stop the children."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@click.command()
@click.option("--worker/--no-worker", default=True, show_default=True, help="Start a worker.")
@click.option("--quiet", is_flag=True, help="Do not follow the worker's log.")
def up(worker: bool, quiet: bool) -> None:
    """Start a broker, Redis and a worker; run until Ctrl-C, then stop everything.

    A broker is started unless HITPRED_KAFKA_BOOTSTRAP is set; Redis is the one at
    HITPRED_REDIS_URL when it answers, else an embedded Valkey.
    """
    console = Console()
    settings = get_settings()
    raise_on_sigterm()
    stack = Stack(settings)
    supervisors: list[Supervisor] = []
    try:
        with console.status("starting the stack..."):
            stack.start()
            stack.create_topics()
        table = Table(title="HitPred stack", show_header=False)
        table.add_row(
            "broker",
            f"{stack.bootstrap} ({'embedded tansu' if stack.embedded_broker else 'external'})",
        )
        table.add_row(
            "redis",
            f"{stack.redis_url} ({'embedded valkey' if stack.embedded_redis else 'external'})",
        )
        for name in ("releases_topic", "enriched_topic", "predictions_topic", "dlq_topic"):
            table.add_row(name.replace("_", " "), getattr(settings, name))
        if settings.metrics_port:
            table.add_row("metrics", f"http://127.0.0.1:{settings.metrics_port}/metrics")
        console.print(table)
        console.print(
            f"In another shell: [bold]export HITPRED_KAFKA_BOOTSTRAP={stack.bootstrap}[/] then "
            "[bold]hitpred publish FILE[/] / [bold]hitpred tail[/]. Ctrl-C stops everything."
        )
        # Workers are supervised: one that dies is restarted, the broker and its topics live
        # on, and the workers' logs stay in the state folder.
        supervisor = (
            Supervisor(
                settings,
                settings.worker_processes,
                log_dir=settings.state_dir / "logs",
                env=stack.env(),
                notify=lambda line: console.print(f"[bold yellow]{escape(line)}[/]"),
            )
            if worker
            else None
        )
        if supervisor is not None:
            supervisors.append(supervisor)
            supervisor.start()
            console.print(f"worker logs: {settings.state_dir / 'logs'}")
        offsets: dict[int, int] = {}
        while True:
            if supervisor is not None:
                supervisor.check()
                if not quiet:
                    for slot in supervisor.slots:
                        path = slot.process.log_path
                        offsets[slot.index] = _follow(path, offsets.get(slot.index, 0))
            time.sleep(0.3)
    except KeyboardInterrupt:
        console.print("stopping...")
    except HitPredError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for running in supervisors:  # workers first: they commit and leave their groups
            running.stop()
        stack.stop()
    console.print("stopped.")


def _follow(path: object, offset: int) -> int:
    """Print what was appended to the log at ``path`` since ``offset``; returns the new one."""
    try:
        with open(path, "rb") as log:  # type: ignore[call-overload]
            log.seek(offset)
            chunk = log.read()
    except OSError:
        return offset
    if chunk:
        click.echo(chunk.decode("utf-8", "replace"), nl=False)
    return offset + len(chunk)
