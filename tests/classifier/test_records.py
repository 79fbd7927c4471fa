"""Record boundaries in CSV bytes, checked against Python's csv module."""

import bisect
import csv
import io
import random

import pytest

from classifier import records

PLAIN = b"ID,SKU\n1,a\n2,b\n3,c\n"
QUOTED = (
    b'ID,DESCRIPTION\n1,"comma, inside"\n2,"say ""hi"""\n3,"two\nlines"\n4,"x,""\n""y"\n5,plain\n'
)
QUOTED_ROWS = [
    b"ID,DESCRIPTION\n",
    b'1,"comma, inside"\n',
    b'2,"say ""hi"""\n',
    b'3,"two\nlines"\n',
    b'4,"x,""\n""y"\n',
    b"5,plain\n",
]
CRLF = b'ID,DESCRIPTION\r\n1,"a\r\nb"\r\n2,c\r\n'
CRLF_ROWS = [b"ID,DESCRIPTION\r\n", b'1,"a\r\nb"\r\n', b"2,c\r\n"]


def test_examples_are_what_csv_reads():
    """The hand-written examples mean what the tests below assume."""
    rows = list(csv.reader(io.StringIO(QUOTED.decode(), newline="")))
    assert rows[2] == ["2", 'say "hi"']
    assert rows[3] == ["3", "two\nlines"]
    assert rows[4] == ["4", 'x,"\n"y']
    assert len(rows) == len(QUOTED_ROWS)
    assert b"".join(QUOTED_ROWS) == QUOTED
    assert b"".join(CRLF_ROWS) == CRLF


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PLAIN, [b"ID,SKU\n", b"1,a\n", b"2,b\n", b"3,c\n"]),
        (QUOTED, QUOTED_ROWS),
        (CRLF, CRLF_ROWS),
        (b"", []),
        (b"\n\n", [b"\n", b"\n"]),
        (b'""\n', [b'""\n']),
    ],
)
def test_iter_records_count_and_split_after(data, expected):
    assert list(records.iter_records(data)) == expected
    assert records.count(data) == len(expected)
    offset = 0
    assert records.split_after(data, 0) == 0
    for number, record in enumerate(expected, start=1):
        offset += len(record)
        assert records.split_after(data, number) == offset
    assert records.split_after(data, len(expected) + 1) == len(data)
    assert records.split_after(data, len(expected) + 50) == len(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"1,a", 0),
        (b"1,a\n", 4),
        (b"1,a\n2,b", 4),
        (b'1,"a\nb', 0),  # the newline is inside an open quote
        (b'1,"a\nb"', 0),
        (b'1,"a\nb"\n2', 8),
        (b'1,"a""\n', 0),  # escaped quote: still inside the quotes
        (b'1,"a"""\n', 8),
        (b'1,"a\r\nb"\r\n2,"c\r\n', 10),
        (b'1,x\n2,"\n\n\n', 4),
    ],
)
def test_complete_prefix(data, expected):
    assert records.complete_prefix(data) == expected


def test_complete_prefix_every_cut_of_the_examples():
    for rows in (QUOTED_ROWS, CRLF_ROWS):
        data = b"".join(rows)
        boundaries = [0]
        for row in rows:
            boundaries.append(boundaries[-1] + len(row))
        for cut in range(len(data) + 1):
            expected = max(b for b in boundaries if b <= cut)
            assert records.complete_prefix(data[:cut]) == expected, cut


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'1,5" bolt\n2,"x"\n', [10, 16]),  # a quote inside an unquoted field is text
        (b'1,"x"y\n', [7]),  # text after a closing quote joins the field
        (b'1,"a""b\n2,c"d\n', [14]),
        (b'1,a\r"b"\n', []),  # the csv module refuses a lone carriage return
    ],
)
def test_data_that_is_not_rfc4180_is_left_to_the_csv_module(data, expected):
    assert records.structure(data) is None
    assert records.fields_per_record(data) is None
    assert records.ends(data).tolist() == expected


def test_fields_per_record_counts_commas_outside_quotes():
    data = b'1,"a,b",c\n2,"x\ny,z"\n3\n\n4,"say ""hi, there"""\n'
    assert records.fields_per_record(data).tolist() == [3, 2, 1, 1, 2]
    assert records.fields_per_record(data.rstrip(b"\n")).tolist() == [3, 2, 1, 1, 2]


def test_terminated():
    assert records.terminated(b"1,a") == b"1,a\n"
    assert records.terminated(b"1,a\n") == b"1,a\n"
    assert records.terminated(b"1,a\r\n") == b"1,a\r\n"
    assert records.terminated(b'1,"a\nb"') == b'1,"a\nb"\n'
    assert records.terminated(b"1,a\n2,b") == b"1,a\n2,b\n"


ALPHABET = ["a", "b", "Z", "0", "7", " ", ",", '"', '""', "\n", "\r\n", "é", "€", "\t", ";", "'"]


def _random_rows(rng: random.Random) -> list[list[str]]:
    width = rng.randint(1, 6)
    rows = []
    for _ in range(rng.randint(0, 40)):
        rows.append(
            [
                "".join(rng.choice(ALPHABET) for _ in range(rng.choice([0, 0, 1, 2, 5, 12])))
                for _ in range(width)
            ]
        )
    return rows


def _serialise(row: list[str], lineterminator: str) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=lineterminator).writerow(row)
    return buffer.getvalue().encode()


def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


@pytest.mark.slow
@pytest.mark.parametrize("lineterminator", ["\n", "\r\n"])
def test_random_csv_agrees_with_the_csv_module(lineterminator):
    checked_cuts = 0
    for seed in range(200):
        rng = random.Random(seed)
        rows = _random_rows(rng)
        pieces = [_serialise(row, lineterminator) for row in rows]
        data = b"".join(pieces)
        assert _parse(data) == rows  # the writer's output reads back (sanity of the oracle)

        assert records.structure(data) is not None, seed  # csv.writer's output is RFC 4180
        assert list(records.iter_records(data)) == pieces, seed
        assert records.count(data) == len(rows), seed
        assert records.fields_per_record(data).tolist() == [len(row) or 1 for row in rows], seed

        boundaries = [0]
        for piece in pieces:
            boundaries.append(boundaries[-1] + len(piece))
        for number, boundary in enumerate(boundaries):
            assert records.split_after(data, number) == boundary, (seed, number)

        parsed = {}
        for cut in range(len(data) + 1):
            end = records.complete_prefix(data[:cut])
            whole = bisect.bisect_right(boundaries, cut) - 1  # records wholly inside the cut
            assert end == boundaries[whole], (seed, cut)
            if end not in parsed:
                parsed[end] = _parse(data[:end])
            assert parsed[end] == rows[:whole], (seed, cut)
            checked_cuts += 1
    assert checked_cuts > 10_000


def test_random_csv_split_anywhere_then_rejoined():
    """How the sender uses complete_prefix: carry the incomplete tail into the next chunk."""
    for seed in range(200):
        rng = random.Random(seed)
        rows = _random_rows(rng)
        data = b"".join(_serialise(row, rng.choice(["\n", "\r\n"])) for row in rows)
        out, rest, position = [], b"", 0
        while position < len(data):
            step = rng.randint(1, 64)
            chunk = rest + data[position : position + step]
            position += step
            end = records.complete_prefix(chunk)
            out.extend(records.iter_records(chunk[:end]))
            rest = chunk[end:]
        assert rest == b""
        assert b"".join(out) == data
        assert [_parse(record)[0] for record in out] == rows, seed
