"""check.yml (`make check`): a hostile cluster file is refused within seconds and little memory.

Each run is measured from outside by a fresh Python process that starts ansible-playbook and
reads, once it has ended, the largest peak resident size of the processes under it (the
kernel's ru_maxrss of its waited-for children: ansible-playbook and the worker it forks for
the task, where the loader runs), so no spike falls between two samples.
"""

import json
import subprocess
import sys

import pytest
from conftest import BIN, REPO, SEED_STYLE, ansible_env

SECONDS = 5
PEAK_BYTES = 200 * 1024 * 1024
MEASURE = """
import json, resource, subprocess, sys, time
import psutil
start = time.monotonic()
process = subprocess.Popen(
    sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
)
try:
    output, _ = process.communicate(timeout=float(sys.argv[1]))
except subprocess.TimeoutExpired:  # the task's worker is in a session of its own: kill it too
    started = psutil.Process(process.pid)
    for each in [*started.children(recursive=True), started]:
        each.kill()
    output, _ = process.communicate()
print(json.dumps({
    "returncode": process.returncode,
    "seconds": time.monotonic() - start,
    "peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    "output": output,
}))
"""

# Nine levels, each nine of the one before: 9**9 strings 'lol' in the name.
ALIAS_BOMB = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "name: *i\n"
)


def check(path):
    """Run check.yml on ``path`` under MEASURE; stopped after three times SECONDS."""
    playbook = [str(BIN / "ansible-playbook"), "playbooks/check.yml", "-e", f"cluster_file={path}"]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(3 * SECONDS), *playbook],
        cwd=REPO,
        env=ansible_env(ANSIBLE_CONFIG=REPO / "ansible.cfg"),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def assert_refused_quickly(run, problem):
    output = run["output"]
    assert run["returncode"] == 2, output
    assert problem in output, output
    assert "Traceback" not in output
    assert run["seconds"] < SECONDS, f"{run['seconds']:.1f} s"
    assert run["peak_bytes"] < PEAK_BYTES, f"{run['peak_bytes'] / 2**20:.0f} MiB"


def test_an_alias_bomb_is_refused_within_seconds(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(ALIAS_BOMB)
    assert_refused_quickly(
        check(path),
        "(top level): more than 1000 values, aliases written out"
        " (reached at the alias *c at line 4, column 8)"
        " — a cluster file may hold at most 1000 values",
    )


def test_a_50_mb_file_is_refused_within_seconds(tmp_path):
    path = tmp_path / "cluster.yaml"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("name: demo\njunk:\n")
        handle.writelines(["  - 0123456789abcdef0123456789abcdef\n" * 1000] * 1456)
    size = path.stat().st_size
    assert size > 50 * 10**6
    assert_refused_quickly(
        check(path),
        f"(top level): the file is {size} bytes"
        " — a cluster file may be at most 1048576 bytes (1 MiB)",
    )


def test_a_file_with_anchors_and_merge_keys_passes(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "name: demo\njob: &job {slowness: 7}\n"
        "ports: {<<: &ports {scheduler: 9000, dashboard: 9001}, source: 9002}\n"
    )
    run = check(path)
    assert run["returncode"] == 0, run["output"]
    assert "cluster.yaml is valid: cluster demo, provider local" in run["output"]


MYCLF = """
def classify(frame):
    return frame.index


def needs_a_model(frame, model):
    return frame.index


def scalar(frame):
    return 0.5


def raises(frame):
    raise KeyError("no class for these rows")
"""


def said(run) -> str:
    """The playbook's output as one line, YAML's doubled quotes undone."""
    return " ".join(run["output"].split()).replace("''", "'")


def cluster_with(tmp_path, classifier, source="{kind: synthetic, rows: 100, seed: 3}", **extra):
    (tmp_path / "myclf.py").write_text(MYCLF)
    (tmp_path / "fancy_ml_black_box.py").write_text(SEED_STYLE)
    job = ", ".join(f"{key}: {value}" for key, value in {"classifier": classifier, **extra}.items())
    path = tmp_path / "cluster.yaml"
    path.write_text(f"name: demo\nsource: {source}\njob: {{{job}}}\n")
    return path


def test_the_seed_style_classifier_beside_the_file_is_called_on_the_first_rows(tmp_path):
    (tmp_path / "rows.csv").write_bytes(
        b"ID,NAME\n1,bolt\n2,gear\n3,lens\n4,coil\n5,kit\n6,valve\n7,steel\n"
    )
    path = cluster_with(tmp_path, "fancy_ml_black_box:classify_df", "{kind: file, path: rows.csv}")
    run = check(path)
    assert run["returncode"] == 0, run["output"]
    assert "job.classifier 'fancy_ml_black_box:classify_df' gives CLASSIFICATION" in said(run)
    assert ", … for the first 5 rows" in said(run)


UNUSABLE = [
    ("myclf:clasify", "job.classifier 'myclf:clasify' cannot be imported: module 'myclf' has no"),
    ("os:system", "raised on the batch starting at input line 2: TypeError: expected str"),
    ("os:sep", "job.classifier 'os:sep' is not a function"),
    ("myclf:needs_a_model", "missing a required argument: 'model'"),
    ("myclf:scalar", "job.classifier 'myclf:scalar' returned a float (0.5) for a frame of 5 rows"),
    ("myclf:raises", "line 2: KeyError: 'no class for these rows'"),
]


@pytest.mark.parametrize(("classifier", "why"), UNUSABLE, ids=[c for c, _ in UNUSABLE])
def test_a_classifier_a_run_cannot_use_fails_the_check_naming_why(tmp_path, classifier, why):
    run = check(cluster_with(tmp_path, f"'{classifier}'"))
    assert run["returncode"] == 2, run["output"]
    assert why in said(run)
    assert "Traceback" not in run["output"]


def test_classifier_args_reach_the_classifier_and_an_s3_source_is_not_read(tmp_path):
    s3 = "{kind: s3, url: 's3://burst-test-nowhere/rows.csv'}"
    run = check(cluster_with(tmp_path, "myclf:needs_a_model", s3, classifier_args="{model: m}"))
    assert run["returncode"] == 0, run["output"]
    assert (
        "job.classifier 'myclf:needs_a_model' imports and takes its arguments;"
        " it was not called: the rows are in s3://burst-test-nowhere/rows.csv"
    ) in said(run)
    run = check(cluster_with(tmp_path, "myclf:needs_a_model", s3))
    assert run["returncode"] == 2
    assert "missing a required argument: 'model'" in said(run)


def test_rows_that_cannot_be_read_are_left_to_the_run_and_said(tmp_path):
    (tmp_path / "rows.csv").write_bytes(b"ID,A,B\n1,x,y\n")
    source = "{kind: file, path: rows.csv}"
    run = check(cluster_with(tmp_path, "myclf:classify", source, max_columns=2))
    assert run["returncode"] == 0, run["output"]
    assert (
        "job.classifier 'myclf:classify' imports and takes its arguments; it was not called:"
        " the input's first rows cannot be read (line 1: the header has 3 columns, more than"
        " job.max_columns (2))"
    ) in said(run)
