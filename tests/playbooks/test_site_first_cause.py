"""The first cause wins: a run that fails names the component that failed first, in its own
words, before the consequences downstream (provider local, through site.yml)."""

import time

from conftest import cluster_file, processes_with_env
from site_runs import site

LIMIT = 65536  # the least job.max_frame_bytes the schema allows


def test_a_record_over_the_frame_limit_is_named_before_what_it_caused(tmp_path, state_dir):
    rows = [b"ID,SKU,FLUX,MANUFACTURER_NAME,DESCRIPTION\n"]
    rows += [b"%d,sku,1,Acme,short\n" % i for i in range(1, 7)]
    rows += [b"7,sku,1,Acme," + b"x" * (LIMIT + 10) + b"\n"]
    rows += [b"%d,sku,1,Acme,short\n" % i for i in range(8, 50)]
    (tmp_path / "rows.csv").write_bytes(b"".join(rows))
    path = cluster_file(
        tmp_path, source={"kind": "file", "path": "rows.csv"}, job={"max_frame_bytes": LIMIT}
    )
    began = time.monotonic()
    done = site(path, state_dir)
    assert done.returncode != 0, done.stdout
    cause = (
        "the run failed: Wait for the results: sender exited with status 2: send: line 8:"
        f" a record longer than job.max_frame_bytes ({LIMIT} bytes)"
    )
    assert cause in " ".join(done.stdout.split()), done.stdout
    assert time.monotonic() - began < 90
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
