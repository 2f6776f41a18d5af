"""Where a training job reports its steps: the CLI draws a progress bar, tests stay silent."""

from __future__ import annotations

import logging
from typing import Protocol

__all__ = ["Progress", "SilentProgress"]

logger = logging.getLogger(__name__)


class Progress(Protocol):
    """Where the job reports its steps (the CLI draws a progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, description: str) -> None: ...


class SilentProgress:
    """Steps go to the debug log only."""

    def start(self, total: int) -> None:
        return None

    def advance(self, description: str) -> None:
        logger.debug("step: %s", description)
