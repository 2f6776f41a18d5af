"""Fixtures shared by every tier."""

from __future__ import annotations

import pytest

from hitpred.models.base import Task, TaskModel


@pytest.fixture(scope="session")
def baseline_models() -> dict[Task, TaskModel]:
    """The start-up baseline, trained once per session (about a second)."""
    from hitpred.baseline import train_baseline

    return train_baseline()
