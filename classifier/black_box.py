"""The default classifier: the seed's deliberately slow black box.

For each row, hash the row's text with SHA-256 ``slowness`` times, then seed
Python's ``random`` with the row's repr and draw a uniform number.
"""

import hashlib
import random

import pandas as pd


def classify(frame: pd.DataFrame, *, slowness: int = 1000) -> pd.Series:
    values = []
    for row in frame.itertuples(name=None):
        text = ",".join(row).encode()
        for _ in range(slowness):
            hashlib.sha256(text).digest()
        values.append(random.Random(repr(row)).random())
    return pd.Series(values, index=frame.index, name="CLASSIFICATION", dtype="float64")
