"""python -m classifier try: the classifier called on the input's first rows, as a worker calls it.

Whatever stops a run in its first batch stops this too, with the same message: a classifier
that does not import, cannot be called as its signature allows, raises, or returns no value
per row.
"""

import io
from itertools import islice

import pandas as pd

from classifier import batches
from classifier.calling import Call

SAMPLE_ROWS = 5
SHOWN_VALUES = 3


def sample(payloads, rows: int = SAMPLE_ROWS) -> batches.Batch | None:
    """The header and the first ``rows`` records of one-record payloads, as one batch."""
    header, *records = [*islice(payloads, rows + 1)] or [None]
    return header and batches.Batch(header, b"".join(records), 2, len(records))


def run(call: Call, batch: batches.Batch | None, no_rows: str = "the input has no rows") -> str:
    """What the classifier gave on ``batch``; without rows, only how it is called is checked."""
    call.keywords()
    if batch is None or not batch.records:
        return f"job.classifier {call.classifier!r} imports and takes its arguments; {no_rows}"
    result = batches.process(batch, call)
    header = batches.results_header(batch.header, call.result_column)
    values = pd.read_csv(io.BytesIO(header + result.rows), dtype=str, keep_default_na=False)
    shown = ", ".join(values[call.result_column].iloc[:SHOWN_VALUES])
    more = ", …" if len(values) > SHOWN_VALUES else ""
    rejected = f" ({len(result.rejects)} of them rejected)" if result.rejects else ""
    return (
        f"job.classifier {call.classifier!r} gives {call.result_column} {shown}{more}"
        f" for the first {batch.records} rows{rejected}"
    )
