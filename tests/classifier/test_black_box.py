"""The default classifier, recomputed from the design's definition, and the synthetic rows."""

import hashlib
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from classifier import black_box

REPO = Path(__file__).resolve().parents[2]
HEADER = "ID,SKU,FLUX,MANUFACTURER_NAME,DESCRIPTION"
CSV = (
    HEADER + "\n"
    "1,SKU-00000001,12.500000,Acme Corp,flux capacitor\n"
    '2,SKU-00000002,-0.000001,"Wayne, Enterprises","bolt, ""special"" edition"\n'
    "17,SKU-12345678,999.999999,Tyrell,\n"
    '0042,SKU-7,NaN,Umbrella,"two\nlines ünïcode €"\n'
)
ROWS = [
    ("1", "SKU-00000001", "12.500000", "Acme Corp", "flux capacitor"),
    ("2", "SKU-00000002", "-0.000001", "Wayne, Enterprises", 'bolt, "special" edition'),
    ("17", "SKU-12345678", "999.999999", "Tyrell", ""),
    ("0042", "SKU-7", "NaN", "Umbrella", "two\nlines ünïcode €"),
]


def _frame() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(CSV), dtype=str, keep_default_na=False, index_col=0)


def _expected(row: tuple[str, ...]) -> float:
    """The design: seed Python's random with the row's repr, draw a uniform number."""
    return random.Random(repr(row)).random()


def _env(**extra) -> dict:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_frame_holds_the_rows_we_mean():
    frame = _frame()
    assert [(index, *values) for index, *values in frame.itertuples(name=None)] == [
        tuple(row) for row in ROWS
    ]


@pytest.mark.parametrize("slowness", [0, 1, 50])
def test_values_match_the_definition(slowness):
    got = black_box.classify(_frame(), slowness=slowness)
    assert isinstance(got, pd.Series)
    assert got.name == "CLASSIFICATION"
    assert got.dtype == "float64"
    assert list(got.index) == [row[0] for row in ROWS]
    assert list(got) == [_expected(row) for row in ROWS]
    assert all(0.0 <= value < 1.0 for value in got)


def test_each_row_is_hashed_slowness_times(monkeypatch):
    """The cost: SHA-256 over the row's fields joined by ",", ID first, `slowness` times."""
    hashed = []
    real = hashlib.sha256

    def counting(data=b"", **kwargs):
        hashed.append(bytes(data))
        return real(data, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting)
    black_box.classify(_frame(), slowness=7)
    monkeypatch.undo()
    expected = [",".join(row).encode() for row in ROWS for _ in range(7)]
    assert hashed == expected


def test_values_do_not_depend_on_the_frame_around_a_row():
    frame = _frame()
    whole = black_box.classify(frame, slowness=0)
    for position in range(len(frame)):
        alone = black_box.classify(frame.iloc[[position]], slowness=0)
        assert alone.iloc[0] == whole.iloc[position]
    reversed_values = black_box.classify(frame.iloc[::-1], slowness=0)
    assert list(reversed_values) == list(whole)[::-1]


def test_same_values_in_other_processes_whatever_the_hash_seed():
    program = (
        "import io, json, sys, pandas as pd\n"
        "from classifier import black_box\n"
        "frame = pd.read_csv(io.StringIO(sys.stdin.read()), dtype=str,"
        " keep_default_na=False, index_col=0)\n"
        "print(json.dumps([float(v).hex() for v in black_box.classify(frame, slowness=5)]))\n"
    )
    expected = [_expected(row).hex() for row in ROWS]
    for seed in ("1", "31337"):
        done = subprocess.run(
            [sys.executable, "-c", program],
            input=CSV,
            capture_output=True,
            text=True,
            env=_env(PYTHONHASHSEED=seed),
            cwd=REPO,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected


# synthetic rows, through the command line


def _generate(rows: int, seed: int) -> bytes:
    done = subprocess.run(
        [sys.executable, "-m", "classifier", "generate", "--rows", str(rows), "--seed", str(seed)],
        capture_output=True,
        env=_env(),
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_generate_is_reproducible_and_well_formed():
    first = _generate(2500, 7)
    again = _generate(2500, 7)
    other = _generate(2500, 8)
    assert first == again
    assert first != other
    assert first.split(b"\n", 1)[0] == HEADER.encode()
    for data in (first, other):
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        assert list(frame.columns) == HEADER.split(",")
        assert len(frame) == 2500
        assert frame["ID"].is_unique
        assert (frame != "").all(axis=None)
        # every line of the text is one row: no quoted newlines in synthetic data
        assert data.count(b"\n") == 2501
    # some descriptions need quoting, the case the batching has to get right
    assert b'"' in first


def test_generate_zero_rows_is_just_the_header():
    assert _generate(0, 1) == (HEADER + "\n").encode()
