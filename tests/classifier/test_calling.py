"""How burst calls a user's classifier: by its signature, with its arguments, taking what it
returns; in one process (`python -m classifier classify`) and in a worker's batch alike."""

import importlib
import json
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
from conftest import SEED_STYLE

from classifier import batches, calling, synthetic

FORMS = """
import numpy as np
import pandas as pd


def one_argument(frame):
    return frame["SKU"].str.len()


def threshold(frame, *, cut, label="high"):
    flux = frame["FLUX"].astype(float).to_numpy()
    return np.where(flux > cut, label, "low")


def as_list(frame):
    return [len(text) for text in frame["DESCRIPTION"]]


def wants_slowness(frame, slowness):
    return pd.Series(slowness, index=frame.index)


def labelled(frame, column="LABEL"):
    frame[column] = frame.index.str.len()
    frame["SKU"] = "changed"
    del frame["FLUX"]
    return frame


def copy_with_column(frame):
    return frame.assign(CLASSIFICATION=1.0)


def no_return(frame):
    frame["CLASSIFICATION"] = 1.0


def one_row_short(frame):
    return pd.Series(0.5, index=frame.index[1:])


def scalar(frame):
    return 0.5


def two_columns(frame):
    return np.zeros((len(frame), 2))


def needs_a_model(frame, model):
    return frame.index


def no_frame():
    return []


def raises(frame):
    raise KeyError("no class for these rows")
"""


@pytest.fixture(scope="module")
def user_modules(tmp_path_factory):
    """The modules' names, importable here and by the processes the tests start."""
    directory = tmp_path_factory.mktemp("user_code")
    names = {}
    for key, text in (("seed", SEED_STYLE), ("forms", FORMS)):
        names[key] = f"burst_test_{key}_{uuid.uuid4().hex}"
        (directory / f"{names[key]}.py").write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(directory)
        yield names | {"dir": directory}


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    path.write_bytes(b"".join(synthetic.chunks(40, 4, 1000)))
    return path


def frame_of(path) -> pd.DataFrame:
    return pd.read_csv(path, **batches.READ_OPTIONS)


def classify(user_modules, rows_csv, tmp_path, *args):
    """`python -m classifier classify rows.csv out.csv *args`, as a user runs it."""
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, "-m", "classifier", "classify", rows_csv, out, *args],
        env={"PYTHONPATH": str(user_modules["dir"]), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done, out


def test_the_seed_style_function_plugs_in_unchanged(user_modules, rows_csv, tmp_path):
    """Its own single-process answer: read the file, call it, write what it returns."""
    seed = f"{user_modules['seed']}:classify_df"
    done, out = classify(user_modules, rows_csv, tmp_path, "--classifier", seed)
    assert done.returncode == 0, done.stderr
    module = importlib.import_module(user_modules["seed"])
    want = module.classify_df(frame_of(rows_csv)).to_csv(lineterminator="\n")
    assert out.read_text() == want
    got = batches.classify_frame(frame_of(rows_csv), calling.Call(seed))
    assert got.to_csv(lineterminator="\n") == want


def call(user_modules, name, **options):
    return calling.Call(f"{user_modules['forms']}:{name}", **options)


def test_a_one_argument_function_returning_a_series(user_modules, rows_csv):
    frame = frame_of(rows_csv)
    values = call(user_modules, "one_argument").values(frame)
    assert list(values) == [len(sku) for sku in frame["SKU"]]


def test_classifier_args_are_keyword_arguments_and_an_array_is_one_value_per_row(
    user_modules, rows_csv
):
    frame = frame_of(rows_csv)
    values = call(user_modules, "threshold", args={"cut": 0, "label": "up"}).values(frame)
    assert isinstance(values, np.ndarray)
    assert list(values) == ["up" if float(f) > 0 else "low" for f in frame["FLUX"]]
    assert {"up", "low"} == set(values)


def test_a_list_is_one_value_per_row(user_modules, rows_csv):
    frame = frame_of(rows_csv)
    assert call(user_modules, "as_list").values(frame) == list(frame["DESCRIPTION"].str.len())


def test_slowness_goes_only_to_a_function_that_asks_for_it(user_modules, rows_csv):
    frame = frame_of(rows_csv)
    assert set(call(user_modules, "wants_slowness", slowness=7).values(frame)) == {7}
    assert call(user_modules, "one_argument", slowness=7).keywords() == {}


def test_the_result_column_is_named_and_changes_to_the_frame_stay_with_the_function(
    user_modules, rows_csv
):
    frame = frame_of(rows_csv)
    read = frame.copy()
    classified = call(user_modules, "labelled", result_column="LABEL").values(frame)
    pd.testing.assert_frame_equal(frame, read)
    got = batches.classify_frame(frame, call(user_modules, "labelled", result_column="LABEL"))
    assert list(got.columns) == [*read.columns, "LABEL"]
    pd.testing.assert_frame_equal(got[read.columns], read)
    assert list(got["LABEL"]) == list(classified) == list(read.index.str.len())


def test_a_function_that_forgets_to_return_the_frame_is_told_so(user_modules, rows_csv):
    with pytest.raises(calling.Unusable, match="changes the frame it is given must return it$"):
        call(user_modules, "no_return").values(frame_of(rows_csv))


def test_a_copy_of_the_frame_with_the_column(user_modules, rows_csv):
    frame = frame_of(rows_csv)
    assert set(call(user_modules, "copy_with_column").values(frame)) == {1.0}


WRONG_RETURNS = [
    ("one_row_short", "returned a Series of 39 values for a frame of 40 rows"),
    ("scalar", "returned a float (0.5) for a frame of 40 rows"),
    ("two_columns", "returned an array of shape (40, 2) for a frame of 40 rows"),
    ("no_return", "returned a NoneType (None) for a frame of 40 rows"),
    (
        "labelled",
        "returned a DataFrame with no 'CLASSIFICATION' column (its columns: SKU,"
        " MANUFACTURER_NAME, DESCRIPTION, LABEL) for a frame of 40 rows",
    ),
]
EXPECTED = (
    "expected a Series, an array or a list of one value per row,"
    " or a frame with a 'CLASSIFICATION' column"
)


@pytest.mark.parametrize(("name", "said"), WRONG_RETURNS, ids=[n for n, _ in WRONG_RETURNS])
def test_a_wrong_return_is_named(user_modules, rows_csv, tmp_path, name, said):
    with pytest.raises(calling.Unusable) as caught:
        call(user_modules, name).values(frame_of(rows_csv))
    message = str(caught.value)
    assert message.startswith(f"job.classifier '{user_modules['forms']}:{name}' {said}; {EXPECTED}")
    done, _ = classify(
        user_modules, rows_csv, tmp_path, "--classifier", f"{user_modules['forms']}:{name}"
    )
    assert done.returncode == 2
    assert f"classify: {message}" in done.stderr


UNUSABLE = [
    ("needs_a_model", {}, "takes (frame, model)", "missing a required argument: 'model'"),
    ("one_argument", {"cut": 1}, "takes (frame)", "got an unexpected keyword argument 'cut'"),
    ("no_frame", {}, "takes ()", "too many positional arguments"),
    ("threshold", {}, "threshold(frame)", "missing a required argument: 'cut'"),
]


@pytest.mark.parametrize(("name", "args", "takes", "why"), UNUSABLE, ids=[u[0] for u in UNUSABLE])
def test_a_signature_that_does_not_fit_is_named(
    user_modules, rows_csv, tmp_path, name, args, takes, why
):
    with pytest.raises(calling.Unusable) as caught:
        call(user_modules, name, args=args).keywords()
    message = str(caught.value)
    assert message.startswith(f"job.classifier '{user_modules['forms']}:{name}' ")
    assert takes in message and why in message, message
    assert "job.classifier_args as keyword arguments" in message
    done, _ = classify(
        user_modules,
        rows_csv,
        tmp_path,
        *("--classifier", f"{user_modules['forms']}:{name}"),
        f"--classifier-args={json.dumps(args)}",
    )
    assert done.returncode == 2
    assert f"classify: {message}" in done.stderr


def test_a_function_that_raises_is_named_without_a_traceback(user_modules, rows_csv, tmp_path):
    done, _ = classify(
        user_modules, rows_csv, tmp_path, "--classifier", f"{user_modules['forms']}:raises"
    )
    assert done.returncode == 1
    assert (
        "classify: the classifier raised on the rows from row 1:"
        " KeyError: 'no class for these rows'" in done.stderr
    )


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("burst_no_such_module:f", "cannot be imported: No module named 'burst_no_such_module'"),
        ("os:sep", "is not a function"),
    ],
)
def test_what_does_not_import_or_call_is_named(user_modules, rows_csv, tmp_path, path, said):
    done, _ = classify(user_modules, rows_csv, tmp_path, "--classifier", path)
    assert done.returncode == 2
    assert f"classify: job.classifier '{path}' {said}" in done.stderr


def test_a_worker_batch_names_its_first_line_on_a_wrong_return(user_modules):
    rows = b"".join(synthetic.rows(10, 1))
    batch = batches.Batch(synthetic.HEADER, rows, 2, 10)
    with pytest.raises(calling.Unusable) as caught:
        batches.process(batch, call(user_modules, "scalar"), on_error="reject")
    assert str(caught.value).endswith(f"; {EXPECTED} (the batch starting at input line 2)")
