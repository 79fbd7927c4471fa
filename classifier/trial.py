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


def sample(open_rows, rows: int = SAMPLE_ROWS) -> tuple[batches.Batch | None, str]:
    """The header and the first ``rows`` records of the one-record payloads ``open_rows()``
    gives, as one batch; without one, why. What keeps them from being read is the run's to
    report (the sender's), not the classifier's."""
    try:
        header, *records = [*islice(open_rows(), rows + 1)] or [None]
    except (ValueError, OSError) as error:
        return None, f"it was not called: the input's first rows cannot be read ({error})"
    if header is None or not records:
        return None, "the input has no rows"
    return batches.Batch(header, b"".join(records), 2, len(records)), ""


def run(call: Call, open_rows=None, no_rows: str = "") -> str:
    """What the classifier gave on the input's first rows; without them (``no_rows`` says
    why), only how it is called is checked."""
    call.keywords()
    batch, no_rows = sample(open_rows) if open_rows else (None, no_rows)
    if batch is None:
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
