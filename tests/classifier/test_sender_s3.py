"""The sender's S3 source against moto's server: streamed as it downloads, errors told plainly."""

import subprocess
import sys

from classifier import records, sender, synthetic


def put_rows(s3, rows: int) -> bytes:
    s3.create_bucket(Bucket="rows")
    body = b"".join(synthetic.chunks(rows, 5, 1000))
    s3.put_object(Bucket="rows", Key="in/rows.csv", Body=body)
    return body


def test_the_object_arrives_whole_in_record_sized_payloads(s3):
    body = put_rows(s3, 60_000)
    assert len(body) > 3 * sender.READ_BYTES
    payloads = list(sender.s3_payloads("s3://rows/in/rows.csv", one_per_frame=False))
    assert b"".join(payloads) == body
    assert len(payloads) >= 3
    assert all(records.complete_prefix(p) == len(p) for p in payloads[:-1])


def test_the_first_rows_go_before_the_object_is_read(s3):
    body = put_rows(s3, 60_000)
    payloads = sender.s3_payloads("s3://rows/in/rows.csv", one_per_frame=False).payloads
    first = next(payloads)
    assert len(first) <= sender.READ_BYTES < len(body)
    assert body.startswith(first)
    payloads.close()


def test_one_record_per_frame_from_s3(s3):
    body = put_rows(s3, 300)
    payloads = list(sender.s3_payloads("s3://rows/in/rows.csv", one_per_frame=True))
    assert len(payloads) == 301  # the header, then each row
    assert b"".join(payloads) == body


def test_a_missing_object_is_a_clear_error_not_a_traceback(s3):
    s3.create_bucket(Bucket="rows")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "classifier",
            "send",
            "--to",
            "127.0.0.1:9",
            "--s3",
            "s3://rows/no.csv",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot read s3://rows/no.csv" in done.stderr
    assert "NoSuchKey" in done.stderr
    assert "Traceback" not in done.stderr
