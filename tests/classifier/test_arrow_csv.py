"""The worker's writer: the bytes ``to_csv`` writes, for every field it may meet."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier import arrow_csv

pytest.importorskip("pyarrow", reason="arrow_csv writes only where pyarrow is installed")
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # what a batch's parse gives


def _to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(header=False, lineterminator="\n").encode()


def _frame(ids, columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns, index=pd.Index(ids, dtype=TEXT, name="ID"))


def _floats() -> np.ndarray:
    rng = np.random.default_rng(17)
    return np.concatenate(
        [
            rng.random(20_000),  # a classification's usual values
            rng.random(5_000) * 1e-3,
            10.0 ** rng.uniform(-12, 20, 20_000),
            -(10.0 ** rng.uniform(-12, 20, 5_000)),
            np.round(rng.random(5_000) * 1e6, 3),
            np.frombuffer(rng.bytes(8 * 20_000), np.float64),  # every exponent, NaNs, subnormals
            [
                0.0,
                -0.0,
                1.0,
                -1.0,
                np.nan,
                np.inf,
                -np.inf,
                1e-4,
                1e9,
                5e-324,
                1.7976931348623157e308,
            ],
            np.nextafter([1e-4, 1e-4, 1e9, 1e9], [0, 1, 0, 2e9]),  # either side of the band's edges
        ]
    )


def test_floats_are_written_as_to_csv_writes_them():
    values = _floats()
    frame = _frame([str(row) for row in range(len(values))], {"CLASSIFICATION": values})
    assert arrow_csv.rows(frame) == _to_csv(frame)


FIELD = st.lists(
    st.sampled_from([",", '"', "\n", "\r", "\r\n", " ", "\t", "é", "😀", "a", "0", "\x00"])
).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(FIELD, st.one_of(st.none(), FIELD), st.floats()), min_size=1, max_size=30)
)
def test_texts_are_quoted_as_to_csv_quotes_them(rows):
    ids, texts, classes = zip(*rows, strict=True)
    frame = _frame(
        list(ids),
        {
            "NAME": pd.array(list(texts), dtype=TEXT),
            "CLASSIFICATION": np.array(classes, dtype=np.float64),
        },
    )
    assert arrow_csv.rows(frame) == _to_csv(frame)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([1, 2], dtype="int64"),
        pd.Series(["a", 1], dtype=object),
        pd.Series([0.5, None], dtype="Float64"),
        pd.Series([0.5, 0.25], dtype="float32"),
        pd.Series(["a", "b"], dtype=pd.StringDtype("python")),
    ],
    ids=["int64", "object", "nullable float", "float32", "python's texts"],
)
def test_other_columns_are_left_to_to_csv(column):
    frame = _frame(["1", "2"], {"CLASSIFICATION": column.array})
    assert arrow_csv.rows(frame) is None


def test_no_rows_are_no_bytes():
    frame = _frame([], {"CLASSIFICATION": np.array([], dtype=np.float64)})
    assert arrow_csv.rows(frame) == b"" == _to_csv(frame)


@pytest.mark.parametrize("missing", ["compute", "QUOTING", "FLOATS_AGREE"])
def test_without_pyarrow_a_plain_quoting_rule_or_pythons_floats_to_csv_writes(monkeypatch, missing):
    monkeypatch.setattr(arrow_csv, missing, None)
    frame = _frame(["1"], {"CLASSIFICATION": np.array([0.5])})
    assert arrow_csv.rows(frame) is None


def test_a_frame_of_ids_alone_is_left_to_to_csv():
    frame = _frame(["", "a"], {})
    assert arrow_csv.rows(frame) is None
    assert _to_csv(frame) == b'""\na\n'  # csv quotes a row of one empty field
