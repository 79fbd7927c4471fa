"""A cheap classifier, written the way pandas code is: one vectorised call per batch.

Each row gets a keyed 64-bit hash of its ID and fields (pandas' ``hash_pandas_object``, the
same in every process), scaled to [0, 1). A row's class depends on the row alone, so any
split into batches gives the same answer. ``slowness`` is accepted and ignored.
"""

import pandas as pd


def classify(frame: pd.DataFrame, *, slowness: int = 0) -> pd.Series:
    del slowness
    hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return pd.Series(hashes / 2.0**64, index=frame.index, name="CLASSIFICATION", dtype="float64")
