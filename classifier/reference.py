"""The whole job in one process: what a user would run without burst."""

import pandas as pd

from classifier.batches import READ_OPTIONS, classify_frame
from classifier.calling import Call, ClassifierError, Unusable, raised

CHUNK_ROWS = 10_000


class RowsError(ClassifierError):
    """The user's classifier raised; names the rows it raised on."""

    def __str__(self) -> str:
        return f"the classifier raised on the rows from row {self.first_line}: {self.detail}"


def classify_file(source: str, target: str, call: Call) -> int:
    rows, chunks_written = 0, 0
    with open(target, "w", newline="") as out:
        chunks = pd.read_csv(source, chunksize=CHUNK_ROWS, **READ_OPTIONS)
        for chunk in chunks:
            try:
                classified = classify_frame(chunk, call)
            except Unusable:
                raise
            except Exception as error:  # the user's code: report which rows, keep the type
                raise RowsError(rows + 1, raised(error)) from error
            classified.to_csv(out, header=chunks_written == 0, lineterminator="\n")
            rows += len(chunk)
            chunks_written += 1
        if chunks_written == 0:
            empty = pd.read_csv(source, nrows=0, **READ_OPTIONS)
            classify_frame(empty, call).to_csv(out, lineterminator="\n")
    return rows
