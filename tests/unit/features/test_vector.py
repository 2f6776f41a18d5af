"""The canonical feature frame: pinned order, derived features, missing values."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from hitpred.features.vector import (
    FRAME_COLUMNS,
    RELEASE_FEATURES,
    complete_frame,
    events_to_frame,
    feature_matrix,
)
from hitpred.schemas import ReleaseEvent


def _event(**overrides: object) -> ReleaseEvent:
    base: dict[str, object] = {
        "event_id": "e1",
        "track_id": "t1",
        "title": "Song",
        "artists": ["A"],
        "release_date": date(2019, 5, 17),
    }
    base.update(overrides)
    return ReleaseEvent.model_validate(base)


def test_release_feature_order_is_pinned() -> None:
    # Bundles record their feature list; changing this order silently would mis-feed old models.
    assert RELEASE_FEATURES == (
        "danceability",
        "energy",
        "key",
        "loudness",
        "mode",
        "speechiness",
        "acousticness",
        "instrumentalness",
        "liveness",
        "valence",
        "tempo",
        "duration_ms",
        "time_signature",
        "chorus_hit",
        "sections",
        "release_year",
        "decade",
        "n_artists",
        "genre",
    )


def test_events_to_frame_keeps_order_and_derives_features() -> None:
    events = [
        _event(event_id="a", track_id="t-a", danceability=0.8, genres=["pop", "dance"]),
        _event(
            event_id="b", track_id="t-b", artists=["X", "Y", "Z"], release_date=date(1987, 1, 1)
        ),
    ]
    frame = events_to_frame(events)
    assert list(frame.columns[: len(FRAME_COLUMNS)]) == list(FRAME_COLUMNS)
    assert frame["track_id"].tolist() == ["t-a", "t-b"]
    assert frame["release_year"].tolist() == [2019.0, 1987.0]
    assert frame["decade"].tolist() == [2010.0, 1980.0]
    assert frame["n_artists"].tolist() == [1.0, 3.0]
    assert frame["genre"].tolist() == ["pop", None]
    assert frame.loc[0, "danceability"] == pytest.approx(0.8)
    assert np.isnan(frame.loc[1, "danceability"])


@pytest.mark.parametrize("n", [0, 1, 300])
def test_the_stream_frame_is_already_complete(n: int) -> None:
    # events_to_frame builds the derived columns itself (the hot path skips complete_frame):
    # complete_frame, the reference, must find nothing to change.
    from hitpred.baseline import synthetic_release_events

    generated = synthetic_release_events(n, seed=8) if n else []
    events = [ReleaseEvent.model_validate(e) for e in generated]
    events += [
        _event(artists=["A; B", "C"], genres=[], lyrics="la", audio_ref="x.wav"),
        _event(release_date=date(1900, 1, 1), energy=0.0),
    ][: min(n, 2)]
    frame = events_to_frame(events)
    pd.testing.assert_frame_equal(frame, complete_frame(frame))
    assert list(frame.columns) == list(FRAME_COLUMNS)


def test_complete_frame_keeps_given_decade_when_year_unknown() -> None:
    raw = pd.DataFrame({"artist": ["A", "B"], "decade": [1960, 2010], "tempo": ["120.5", "?"]})
    frame = complete_frame(raw)
    assert frame["decade"].tolist() == [1960.0, 2010.0]
    assert frame["tempo"].iloc[0] == pytest.approx(120.5)
    assert np.isnan(frame["tempo"].iloc[1])
    assert frame["n_artists"].tolist() == [1.0, 1.0]


def test_complete_frame_keeps_extra_columns_after_canonical_ones() -> None:
    frame = complete_frame(pd.DataFrame({"y_hit": [1], "mfcc1_mean": [0.3]}))
    assert list(frame.columns[-2:]) == ["y_hit", "mfcc1_mean"]


def test_feature_matrix_selects_in_order_and_fills_absent() -> None:
    frame = events_to_frame([_event(energy=0.4, tempo=101.0)])
    matrix = feature_matrix(frame, ["tempo", "energy", "not_there"])
    assert list(matrix.columns) == ["tempo", "energy", "not_there"]
    assert matrix.iloc[0, 0] == pytest.approx(101.0)
    assert np.isnan(matrix.iloc[0, 2])
