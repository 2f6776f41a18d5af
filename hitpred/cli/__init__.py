"""The ``hitpred`` command: one module per noun, loaded lazily so ``--help`` stays fast."""

from __future__ import annotations

import importlib
import logging

import click

__all__ = ["main"]

# command name -> "module:attribute"; a command's module is imported only when it runs.
COMMANDS: dict[str, str] = {
    "up": "hitpred.cli.stack:up",
    "worker": "hitpred.cli.worker:worker",
    "publish": "hitpred.cli.events:publish",
    "tail": "hitpred.cli.events:tail",
    "demo": "hitpred.cli.demo:demo",
    "train": "hitpred.cli.train:train",
    "score": "hitpred.cli.score:score",
    "models": "hitpred.cli.models:models",
    "serve": "hitpred.cli.serve:serve",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="hitpred", prog_name="hitpred")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """HitPred: hit, popularity and genre predictions for new releases."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
