"""burst.cluster.try_classifier: a classifier that never returns is stopped, with its process;
the import path is the workers'."""

from __future__ import annotations

import os

import pytest
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    load_cluster_file,
)
from ansible_collections.burst.cluster.plugins.modules import try_classifier
from module_runner import runner

HANGS = """
import os
import time

with open(os.environ["BURST_TEST_PID_FILE"], "w") as pid_file:
    pid_file.write(str(os.getpid()))


def classify(frame):
    time.sleep(600)
"""


@pytest.fixture
def run(monkeypatch):
    return runner(monkeypatch, try_classifier.main)


def test_a_classifier_that_never_returns_is_stopped_after_the_timeout(run, tmp_path, monkeypatch):
    (tmp_path / "hangs.py").write_text(HANGS)
    (tmp_path / "cluster.yaml").write_text("name: x\njob: {classifier: 'hangs:classify'}\n")
    monkeypatch.setenv("BURST_TEST_PID_FILE", str(tmp_path / "pid"))
    config = load_cluster_file(tmp_path / "cluster.yaml")
    (tmp_path / "tmp").mkdir()  # the module's temporary directory, which Ansible makes
    result = run(config=config, timeout=3, _ansible_tmpdir=str(tmp_path / "tmp"))
    assert result["failed"]
    assert (
        result["msg"]
        == "job.classifier 'hangs:classify' did not return within 3 s on the first rows"
    )
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_module_beside_a_static_cluster_file_is_not_on_the_path(run, tmp_path):
    """The machines of provider static have burst's package only, and so has the check."""
    (tmp_path / "mine.py").write_text("def classify(frame):\n    return frame.index\n")
    (tmp_path / "cluster.yaml").write_text(
        "name: x\nprovider: static\nstatic: {hosts: [10.0.0.5]}\n"
        "job: {classifier: 'mine:classify'}\n"
    )
    (tmp_path / "tmp").mkdir()
    config = load_cluster_file(tmp_path / "cluster.yaml")
    result = run(config=config, _ansible_tmpdir=str(tmp_path / "tmp"))
    assert result["failed"]
    assert result["msg"].startswith(
        "job.classifier 'mine:classify' cannot be imported: No module named 'mine'"
        " (the machines of provider static have burst's own package only;"
    )
    config["provider"] = "local"
    (tmp_path / "tmp" / "cwd").rmdir()
    result = run(config=config, _ansible_tmpdir=str(tmp_path / "tmp"))
    assert not result["failed"], result["msg"]
    assert result["msg"].startswith("job.classifier 'mine:classify' gives CLASSIFICATION 1, 2, 3")
