"""Numeric columns as one float32 matrix, shared only inside a batch's scope."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from hitpred.errors import ModelError
from hitpred.features.matrix import float_matrix, shared_matrices


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tempo": [120.0, None, 90.5],
            "energy": pd.array([0.5, 0.25, None], dtype="Float64"),  # a nullable column
            "mode": [1, 0, 1],
            "title": ["a", "b", "c"],
        }
    )


def test_columns_in_the_order_asked_as_float32_with_nan_for_missing() -> None:
    matrix = float_matrix(_frame(), ["energy", "tempo", "mode"])
    assert matrix.dtype == np.float32
    assert matrix.shape == (3, 3)
    expected = np.array([[0.5, 120.0, 1], [0.25, np.nan, 0], [np.nan, 90.5, 1]], np.float32)
    np.testing.assert_array_equal(matrix, expected)


def test_a_missing_column_is_a_model_error_naming_it() -> None:
    with pytest.raises(ModelError, match="not_there"):
        float_matrix(_frame(), ["tempo", "not_there"])


def test_no_columns_gives_one_empty_row_per_track() -> None:
    assert float_matrix(_frame(), []).shape == (3, 0)


def test_outside_a_scope_every_call_makes_its_own_writable_matrix() -> None:
    frame = _frame()
    first = float_matrix(frame, ["tempo"])
    second = float_matrix(frame, ["tempo"])
    assert first is not second
    assert first.flags.writeable


def test_inside_the_scope_the_frame_s_matrix_is_made_once_per_column_list() -> None:
    frame = _frame()
    with shared_matrices(frame):
        first = float_matrix(frame, ("tempo", "mode"))
        again = float_matrix(frame, ["tempo", "mode"])  # a list names the same columns
        other = float_matrix(frame, ["mode"])
    assert again is first
    assert other is not first
    assert not first.flags.writeable  # shared: nobody may change it under the others


def test_only_the_scope_s_frame_is_shared() -> None:
    scoped, other = _frame(), _frame()
    with shared_matrices(scoped):
        a = float_matrix(other, ["tempo"])
        b = float_matrix(other, ["tempo"])
    assert a is not b


def test_nothing_outlives_the_scope_so_a_changed_frame_is_read_afresh() -> None:
    frame = _frame()
    with shared_matrices(frame):
        before = float_matrix(frame, ["tempo"])
    frame["tempo"] = [1.0, 2.0, 3.0]  # changed in place, as permutation importance does
    with shared_matrices(frame):
        after = float_matrix(frame, ["tempo"])
    assert before is not after
    np.testing.assert_array_equal(after[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(float_matrix(frame, ["tempo"])[:, 0], [1.0, 2.0, 3.0])


def test_a_scope_belongs_to_its_thread() -> None:
    frame = _frame()
    seen: list[np.ndarray] = []

    def elsewhere() -> None:
        seen.extend([float_matrix(frame, ["tempo"]), float_matrix(frame, ["tempo"])])

    with shared_matrices(frame):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert seen[0] is not seen[1]
    assert seen[0].flags.writeable
