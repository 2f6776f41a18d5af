"""Observing a whole batch of latencies at once counts exactly what observing each would."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from hitpred.metrics import END_TO_END_BUCKETS_S, observe_many


def _samples(histogram: Histogram) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for metric in histogram.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def _pair() -> tuple[Histogram, Histogram]:
    return tuple(  # type: ignore[return-value]
        Histogram("h", "h", buckets=END_TO_END_BUCKETS_S, registry=CollectorRegistry())
        for _ in range(2)
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.one_of(
            st.floats(min_value=-1.0, max_value=100.0),
            st.sampled_from([*END_TO_END_BUCKETS_S[:-1], 0.0, math.inf]),
        ),
        max_size=60,
    )
)
def test_the_counts_and_sum_are_those_of_observing_one_by_one(values: list[float]) -> None:
    one_by_one, at_once = _pair()
    for value in values:
        one_by_one.observe(value)
    observe_many(at_once, values)
    expected, got = _samples(one_by_one), _samples(at_once)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_nan_counts_in_no_bucket_as_with_observe() -> None:
    one_by_one, at_once = _pair()
    one_by_one.observe(math.nan)
    one_by_one.observe(0.2)
    observe_many(at_once, [math.nan, 0.2])
    counts = {k: v for k, v in _samples(one_by_one).items() if "_sum" not in k}
    assert counts == {k: v for k, v in _samples(at_once).items() if "_sum" not in k}
    assert counts["h_count[]"] == 1.0
