"""The cheap vectorised classifier: a row's class depends on the row alone, in any process."""

import subprocess
import sys

import pandas as pd

from classifier import vectorised
from classifier.batches import READ_OPTIONS


def rows(count=1000):
    generated = subprocess.run(
        [sys.executable, "-m", "classifier", "generate", "--rows", str(count), "--seed", "5"],
        capture_output=True,
        check=True,
    ).stdout
    return generated


def test_any_split_into_batches_gives_the_same_classes(tmp_path):
    (tmp_path / "rows.csv").write_bytes(rows())
    frame = pd.read_csv(tmp_path / "rows.csv", **READ_OPTIONS)
    whole = vectorised.classify(frame)
    parts = pd.concat([vectorised.classify(frame.iloc[i : i + 37]) for i in range(0, 1000, 37)])
    pd.testing.assert_series_equal(whole, parts)
    assert whole.between(0, 1, inclusive="left").all()
    assert whole.nunique() == 1000


def test_the_single_process_gives_the_same_classes_in_another_process(tmp_path):
    (tmp_path / "rows.csv").write_bytes(rows())
    command = [sys.executable, "-m", "classifier", "classify", tmp_path / "rows.csv"]
    for name, hash_seed in (("a.csv", "1"), ("b.csv", "2")):  # str hashes differ, ours must not
        subprocess.run(
            [*command, tmp_path / name, "--classifier", "classifier.vectorised:classify"],
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
        )
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    frame = pd.read_csv(tmp_path / "a.csv", **READ_OPTIONS)
    assert len(frame) == 1000
    expected = vectorised.classify(pd.read_csv(tmp_path / "rows.csv", **READ_OPTIONS))
    assert (frame["CLASSIFICATION"].astype(float).to_numpy() == expected.to_numpy()).all()
