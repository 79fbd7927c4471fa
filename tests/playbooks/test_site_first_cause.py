"""The first cause wins: a run that fails names the component that failed first, in its own
words, before the consequences downstream (provider local, through site.yml)."""

import time

import pytest
from conftest import cluster_file, processes_with_env
from site_runs import site

pytestmark = pytest.mark.slow

LIMIT = 65536  # the least job.max_frame_bytes the schema allows
SHORT = b"".join(b"%d,sku,1,Acme,short\n" % i for i in range(8, 50))
HEADER = b"ID,SKU,FLUX,MANUFACTURER_NAME,DESCRIPTION\n"
INPUTS = {
    "record-over-the-frame-limit": (
        HEADER + b"1,sku,1,Acme,short\n" * 6 + b"7,sku,1,Acme," + b"x" * (LIMIT + 10) + b"\n",
        f"line 8: a record longer than job.max_frame_bytes ({LIMIT} bytes)",
        {"max_frame_bytes": LIMIT},
    ),
    "two-million-columns": (
        b",".join(b"c%d" % i for i in range(2_000_000)) + b"\n" + SHORT,
        "line 1: the header has 2000000 columns, more than job.max_columns (16384)",
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_the_senders_own_error_is_named_before_what_it_caused(tmp_path, state_dir, case):
    data, problem, job = INPUTS[case]
    (tmp_path / "rows.csv").write_bytes(data + SHORT)
    path = cluster_file(tmp_path, source={"kind": "file", "path": "rows.csv"}, job=job)
    began = time.monotonic()
    done = site(path, state_dir)
    assert done.returncode != 0, done.stdout
    cause = f"the run failed: Wait for the results: sender exited with status 2: send: {problem}"
    assert cause in " ".join(done.stdout.split()), done.stdout
    assert time.monotonic() - began < 90
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
