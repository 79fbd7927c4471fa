"""The whole job in one process: what a user would run without burst."""

import pandas as pd

from classifier.batches import READ_OPTIONS, RESULT_COLUMN, classify_frame

CHUNK_ROWS = 10_000


def classify_file(source: str, target: str, classifier: str, slowness: int) -> int:
    rows, chunks_written = 0, 0
    with open(target, "w", newline="") as out:
        chunks = pd.read_csv(source, chunksize=CHUNK_ROWS, **READ_OPTIONS)
        for chunk in chunks:
            classify_frame(chunk, classifier, slowness).to_csv(
                out, header=chunks_written == 0, lineterminator="\n"
            )
            rows += len(chunk)
            chunks_written += 1
        if chunks_written == 0:
            empty = pd.read_csv(source, nrows=0, **READ_OPTIONS)
            empty[RESULT_COLUMN] = []
            empty.to_csv(out, lineterminator="\n")
    return rows
