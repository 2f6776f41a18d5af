"""``hitpred worker``: the configured number of worker processes, supervised, in the foreground.

Against the broker and Redis of the settings (a production deployment; ``hitpred up`` starts an
embedded stack instead). Ctrl-C or SIGTERM stops the processes: each finishes and commits the
batch in hand and leaves its consumer group.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from hitpred.cli.stack import raise_on_sigterm
from hitpred.settings import get_settings
from hitpred.supervisor import Supervisor

__all__ = ["worker"]


@click.command()
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (one core each) [default: HITPRED_WORKER_PROCESSES].",
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where each process appends its log [default: HITPRED_STATE_DIR/logs].",
)
def worker(processes: int | None, log_dir: Path | None) -> None:
    """Run worker processes; restart any that dies; Ctrl-C stops them cleanly."""
    settings = get_settings()
    if not settings.kafka_bootstrap:
        raise click.ClickException(
            "HITPRED_KAFKA_BOOTSTRAP is not set: point it at a Kafka broker, "
            "or run `hitpred up` for the embedded development stack"
        )
    console = Console(stderr=True)
    count = processes or settings.worker_processes
    logs = log_dir or settings.state_dir / "logs"
    raise_on_sigterm()
    supervisor = Supervisor(
        settings, count, log_dir=logs, notify=lambda line: console.print(escape(line))
    )
    try:
        supervisor.start()
        console.print(
            f"{count} worker process(es) on {settings.kafka_bootstrap}; logs in {logs}; "
            "Ctrl-C stops them"
        )
        announced = False
        while True:
            supervisor.check()
            if not announced and supervisor.ready():
                console.print("all worker processes are ready")
                announced = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        supervisor.stop()
    console.print("stopped.")
