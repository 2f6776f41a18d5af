"""finish(): schema ranges, tiers, groups and usable rows, the same for every data set."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from hitpred.datasets import LOADERS
from hitpred.datasets.base import descriptor_bounds, finish
from hitpred.errors import DatasetError
from hitpred.models.base import Task
from hitpred.schemas import DESCRIPTOR_FIELDS, ReleaseEvent


def _event(**descriptor: float) -> ReleaseEvent:
    return ReleaseEvent(
        event_id="e", track_id="t", title="x", artists=["a"], release_date=date(2020, 1, 1),
        **descriptor,
    )  # fmt: skip


@pytest.mark.parametrize("name", DESCRIPTOR_FIELDS)
def test_bounds_agree_with_the_release_event_schema(name):
    low, low_incl, high, high_incl, integer = descriptor_bounds()[name]
    assert low is not None and high is not None
    cast = int if integer else float
    step = 1 if integer else 1e-6
    # The edges the loaders keep are accepted by the stream; the first value beyond is not.
    inside = (low if low_incl else low + step, high if high_incl else high - step)
    outside = (low - step if low_incl else low, high + step if high_incl else high)
    for value in inside:
        _event(**{name: cast(value)})
    for value in outside:
        with pytest.raises(ValidationError):
            _event(**{name: cast(value)})


def _finish(frame: pd.DataFrame, tasks=(Task.POPULARITY, Task.TIER), **kwargs):
    return finish(name="t", source=Path("t.csv"), frame=frame, tasks=tasks, **kwargs)


def test_out_of_range_values_become_missing_and_are_counted():
    frame = pd.DataFrame(
        {
            "title": ["a", "b", "c"],
            "energy": [0.5, 1.2, -0.1],
            "time_signature": [4, 3.5, 4],
            "release_year": [2020, 1066, 1999],
            "y_popularity": [10.0, 50.0, 90.0],
        }
    )
    dataset = _finish(frame)
    assert dataset.frame["energy"].tolist()[0] == 0.5
    assert dataset.frame["energy"].iloc[1:].isna().all()
    assert pd.isna(dataset.frame["time_signature"].iloc[1])  # not an integer
    assert pd.isna(dataset.frame["release_year"].iloc[1])
    notes = " | ".join(dataset.notes)
    assert "2 energy values outside" in notes and "1 release years outside" in notes


def test_tier_is_derived_from_rounded_popularity():
    frame = pd.DataFrame({"title": list("abcde"), "y_popularity": [30.4, 30.6, 69.4, 69.5, None]})
    tiers = _finish(frame).frame["y_tier"].tolist()
    assert tiers == ["ice-cold", "lukewarm", "lukewarm", "blazing-hot", None]


def test_groups_are_transitive_and_named_by_the_first_row():
    frame = pd.DataFrame({"title": list("abcd"), "y_popularity": [1.0, 2.0, 3.0, 4.0]})
    uri = pd.Series(["u1", "u2", None, "u2"])
    key = pd.Series([None, "k", "k", None])
    dataset = _finish(frame, group_keys={"uri": uri, "key": key})
    groups = dataset.frame["group"].tolist()
    assert groups[1] == groups[2] == groups[3] == "uri:u2"  # rows 1-3 via u2 and k
    assert groups[0] == "uri:u1"
    assert dataset.frame["duplicate"].tolist() == [False, False, True, True]


def test_rows_without_keys_are_their_own_group():
    frame = pd.DataFrame({"title": ["a", "a"], "y_popularity": [1.0, 2.0]})
    groups = _finish(frame).frame["group"].tolist()
    assert groups == ["row:0", "row:1"]


def test_usable_needs_an_input_and_a_target():
    frame = pd.DataFrame(
        {
            "title": ["a", "b", None],
            "energy": [0.5, 0.5, np.nan],
            "y_popularity": [10.0, np.nan, np.nan],
        }
    )
    assert _finish(frame).frame["usable"].tolist() == [True, False, False]


def test_target_of_an_unsupported_task_is_a_clear_error():
    dataset = _finish(pd.DataFrame({"title": ["a"], "y_popularity": [1.0]}))
    assert dataset.tasks == (Task.POPULARITY, Task.TIER)
    assert dataset.target(Task.TIER).tolist() == ["ice-cold"]
    with pytest.raises(DatasetError, match="no target for task 'hit'"):
        dataset.target("hit")


def test_every_loader_declares_tasks_and_the_generic_one_is_asked_last():
    assert set(LOADERS) == {
        "spotify-hit-predictor", "music-genre", "musicoset", "poplyrics-1k",
        "billboard-lyrics", "tcc-ceds-music-sample", "gtzan-features", "generic",
    }  # fmt: skip
    assert all(loader.tasks for loader in LOADERS.values())
    assert [name for name, loader in LOADERS.items() if loader.catch_all] == ["generic"]


def test_lyrics_longer_than_the_event_limit_become_missing():
    frame = pd.DataFrame(
        {"title": ["a", "b"], "lyrics": ["la " * 10, "x" * 100_001], "y_popularity": [1.0, 2.0]}
    )
    dataset = _finish(frame)
    assert dataset.frame["lyrics"].iloc[0] == "la " * 10
    assert dataset.frame["lyrics"].iloc[1] is None
    assert any("longer than the release-event limit" in note for note in dataset.notes)
