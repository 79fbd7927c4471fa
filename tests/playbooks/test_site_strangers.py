"""A stranger that reaches a run's data ports first, through site.yml with provider local: the
injection that once ended green with the stranger's five rows. Each stranger is refused in
the TLS handshake, and the run classifies the cluster file's 3000 rows and nothing else."""

import json
import threading

import pytest
import yaml
from conftest import cluster_file, processes_with_env
from site_runs import read, reference, run_dir, site
from strangers import HEADER, intrude

from classifier import link

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("tls", [False, True], ids=["plain-tcp", "tls-without-a-certificate"])
def test_a_stranger_first_on_the_data_ports_is_refused(tmp_path, state_dir, tls):
    path = cluster_file(tmp_path)
    ports = yaml.safe_load(path.read_text())["ports"]
    first_frames = {
        "source": HEADER,
        "receiver": link.summary(classifier="classifier.black_box:classify", slowness=100),
    }
    seen = {}

    def stranger(port_name):
        seen[port_name] = intrude(ports[port_name], first_frames[port_name], tls=tls, wait=120)

    strangers = [threading.Thread(target=stranger, args=(name,)) for name in first_frames]
    for thread in strangers:
        thread.start()
    result = site(path, state_dir)
    for thread in strangers:
        thread.join(timeout=60)
    assert result.returncode == 0, result.stdout
    assert "3000/3000 (100 %) rows" in result.stdout
    for port_name in first_frames:
        seconds, answer = seen[port_name]
        assert seconds < 1 and answer == b"", (port_name, seen[port_name])

    run = run_dir(tmp_path / "output")
    for log in ("source", "receiver"):
        (text,) = [p.read_text() for p in run.glob(f"logs/*/{log}.log")]
        refusals = [line for line in text.splitlines() if "refused a connection" in line]
        assert len(refusals) == 1 and "TLS handshake failed" in refusals[0], text
    got, want = read(run / "results.csv"), read(reference(tmp_path, 3000, 11, 100))
    assert got.equals(want)
    manifest = json.loads((run / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"]) == (3000, 3000)
    assert manifest["input"]["records"] == 3001 and manifest["input"]["tallied"]
    assert processes_with_env(f"BURST_STATE_DIR={state_dir}") == []
