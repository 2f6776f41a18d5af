"""The collector settings of a scoring process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hitpred import heap


@pytest.fixture()
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_what_is_alive_and_makes_young_collections_rarer() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.FIRST_GENERATION_THRESHOLD, 10, 10)
