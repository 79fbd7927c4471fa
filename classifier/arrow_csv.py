"""A frame's rows as ``DataFrame.to_csv`` writes them, built with pyarrow's compute functions.

A worker writes every row it classifies, and ``to_csv`` formats each field in Python: for a
cheap classifier, most of a task's time. This writes the same bytes several times faster for
the frames a batch makes (texts read by pyarrow, and float64 columns such as the
classification); ``rows`` returns None for any other frame, which ``to_csv`` then writes.
"""

import csv
import io

import numpy as np
import pandas as pd

try:
    import pyarrow
    import pyarrow.compute as compute
except ImportError:
    pyarrow = compute = None

# Python's shortest repr of a float (what to_csv writes, through numpy) and pyarrow's have the
# same digits. Their forms differ outside this band (exponents, whole numbers, -0.0), where a
# value is written by repr.
POSITIONAL_IN_BOTH = (1e-4, 1e9)
PROBED_FLOATS = [0.1 + 0.2, 1e-4, 0.000123456789, 0.5, 123456789.125, 999999999.9999999]


def _quoted_by_csv(text: str) -> bool:
    written = io.StringIO()
    csv.writer(written, lineterminator="\n").writerow([text, ""])
    return written.getvalue().startswith('"')


def _quoting_pattern() -> str | None:
    """The characters that make csv's writer (QUOTE_MINIMAL, as to_csv uses it) quote a field,
    as a regular expression; None if where a character stands matters too."""
    probed = [chr(code) for code in range(128)] + ["\x85", "\u2028", "\u2029", "é"]
    quoting = [c for c in probed if _quoted_by_csv(f"a{c}a")]
    if any(_quoted_by_csv(f"{c}a") or _quoted_by_csv(f"a{c}") for c in probed if c not in quoting):
        return None
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in quoting) + "]"


def _floats_agree() -> bool:
    """Whether this pyarrow writes floats in the band as Python does."""
    written = compute.cast(pyarrow.array(PROBED_FLOATS), pyarrow.string()).to_pylist()
    return written == [repr(value) for value in PROBED_FLOATS]


QUOTING = _quoting_pattern()
FLOATS_AGREE = compute is not None and _floats_agree()


def _large(text: str):
    return pyarrow.scalar(text, pyarrow.large_string())


def _texts(values):
    """The values as pyarrow texts with their quoting, or None if they are not pyarrow's texts."""
    if getattr(values.dtype, "storage", None) != "pyarrow" or not pd.api.types.is_string_dtype(
        values.dtype
    ):
        return None
    texts = compute.fill_null(
        pyarrow.chunked_array(values.array.__arrow_array__()).cast(pyarrow.large_string()), ""
    )
    needs_quotes = compute.match_substring_regex(texts, QUOTING)
    if not compute.any(needs_quotes).as_py():
        return texts
    quote = _large('"')
    quoted = compute.binary_join_element_wise(
        quote, compute.replace_substring(texts, '"', '""'), quote, _large("")
    )
    return compute.if_else(needs_quotes, quoted, texts)


def float_texts(values: np.ndarray):
    """float64 values as ``to_csv`` writes them: Python's repr, and nothing for NaN."""
    low, high = POSITIONAL_IN_BOTH
    size = np.abs(values)
    with np.errstate(invalid="ignore"):
        by_repr = ~((size >= low) & (size < high) & (values != np.trunc(values)))
    texts = compute.cast(pyarrow.array(values), pyarrow.large_string())
    if not by_repr.any():
        return texts
    written = ["" if value != value else repr(value) for value in values[by_repr].tolist()]
    return compute.replace_with_mask(
        texts, pyarrow.array(by_repr), pyarrow.array(written, pyarrow.large_string())
    )


def rows(frame: pd.DataFrame) -> bytes | None:
    """The frame's rows, index first, as ``frame.to_csv(header=False, lineterminator="\\n")``
    encodes them; None unless every column (and the index) holds pyarrow's texts or float64."""
    if compute is None or QUOTING is None or frame.shape[1] == 0:  # csv quotes a lone empty field
        return None
    fields = []
    for values in (frame.index, *(frame.iloc[:, column] for column in range(frame.shape[1]))):
        if values.dtype == np.float64 and FLOATS_AGREE:
            fields.append(float_texts(values.to_numpy()))
        elif (texts := _texts(values)) is not None:
            fields.append(texts)
        else:
            return None
    lines = compute.binary_join_element_wise(*fields, _large(","))
    lines = compute.binary_join_element_wise(lines, _large(""), _large("\n"))
    if isinstance(lines, pyarrow.ChunkedArray):
        lines = lines.combine_chunks()
    _, offsets, data = lines.buffers()
    start, stop = np.frombuffer(offsets, np.int64)[[lines.offset, lines.offset + len(lines)]]
    return data[start:stop].to_pybytes() if data is not None else b""
