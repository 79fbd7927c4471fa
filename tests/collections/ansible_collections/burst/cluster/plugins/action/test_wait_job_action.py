"""burst.cluster.wait_job through a real ansible-playbook run against localhost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.burst.cluster.plugins.action.wait_job import gaps
from conftest import ansible_env

pytestmark = pytest.mark.slow

REPO = next(p for p in Path(__file__).resolve().parents if (p / "ansible.cfg").is_file())
BIN = Path(sys.executable).parent


def write_progress(path: Path, **progress) -> None:
    """Replace progress.json at once, as the receiver does."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(progress), encoding="utf-8")
    os.replace(partial, path)


def playbook(tmp_path: Path, **args) -> Path:
    play = [
        {
            "name": "Wait for a run",
            "hosts": "all",
            "gather_facts": False,
            "tasks": [{"name": "Wait for the run", "burst.cluster.wait_job": args}],
        }
    ]
    path = tmp_path / "wait.yml"
    path.write_text(json.dumps(play, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def ansible_playbook(tmp_path: Path, play: Path, python=sys.executable) -> subprocess.Popen:
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\nretry_files_enabled = False\n", encoding="utf-8")
    env = ansible_env(
        ANSIBLE_CONFIG=config,
        ANSIBLE_COLLECTIONS_PATH=REPO / "collections",
        ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-local",
        ANSIBLE_REMOTE_TEMP=tmp_path / "ansible-remote",
    )
    command = [
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={python}",
        str(play),
    ]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def run_playbook(tmp_path):
    """Start ansible-playbook; it is killed (by its pid) if still running at the end."""
    started: list[subprocess.Popen] = []

    def start(play: Path, **options) -> subprocess.Popen:
        process = ansible_playbook(tmp_path, play, **options)
        started.append(process)
        # never wait forever on a hung run
        timer = threading.Timer(60, lambda: process.poll() is None and process.kill())
        timer.daemon = True
        timer.start()
        process.timer = timer
        return process

    def finish(play: Path, **options) -> tuple[int, str]:
        process = start(play, **options)
        output = process.communicate()[0]
        return process.returncode, output

    yield start, finish
    for process in started:
        process.timer.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout:
            process.stdout.close()


def follow(process, seen_running, receiver) -> list[str]:
    """The playbook's lines until it ends; ``seen_running`` is set at its first progress line,
    and the ``receiver`` thread is joined."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if " rows, " in line:
            seen_running.set()
    process.wait()
    seen_running.set()
    receiver.join(5)
    return lines


def test_running_then_done_succeeds_showing_progress(tmp_path, run_playbook):
    start, _ = run_playbook
    progress = tmp_path / "progress.json"
    began = time.time() - 5
    write_progress(progress, state="running", rows_out=10, rows_rejected=0, started_at=began)
    seen_running = threading.Event()

    def receiver():  # plays the receiver: finishes once the controller has shown progress
        seen_running.wait(40)
        write_progress(progress, state="running", rows_out=20, rows_rejected=1, started_at=began)
        time.sleep(0.5)
        write_progress(
            progress, state="done", rows_out=29, rows_rejected=1, rows_in=30, started_at=began
        )

    thread = threading.Thread(target=receiver, daemon=True)
    thread.start()
    process = start(playbook(tmp_path, progress=str(progress), timeout=40, total_rows=30, poll=0.2))
    lines = follow(process, seen_running, thread)
    output = "".join(lines)
    assert process.returncode == 0, output
    progress_lines = [line.strip() for line in lines if " rows, " in line]
    assert progress_lines[0].startswith("localhost: 10/30 (33 %) rows"), output
    assert any(line.startswith("localhost: 30/30 (100 %) rows") for line in progress_lines)
    assert "rows/s" in progress_lines[-1]
    assert "failed=0" in output


def test_the_time_shown_never_goes_back_when_the_input_starts(tmp_path, run_playbook):
    start, _ = run_playbook
    progress = tmp_path / "progress.json"
    receiver_started = time.time() - 6
    write_progress(progress, state="running", rows_out=0, started_at=receiver_started)
    seen_running = threading.Event()

    def receiver():  # the source's summary then gives when the input started: later
        seen_running.wait(40)
        input_started = time.time() - 1
        write_progress(progress, state="running", rows_out=10, started_at=input_started)
        time.sleep(0.5)
        write_progress(progress, state="done", rows_out=30, rows_in=30, started_at=input_started)

    thread = threading.Thread(target=receiver, daemon=True)
    thread.start()
    process = start(playbook(tmp_path, progress=str(progress), timeout=40, poll=0.2))
    lines = follow(process, seen_running, thread)
    output = "".join(lines)
    assert process.returncode == 0, output
    shown = [
        re.search(r"rows, ([\d,]+) rows/s, (\d+) s(, about|$)", line.strip()) for line in lines
    ]
    seconds = [int(match[2]) for match in shown if match]
    assert len(seconds) >= 2 and seconds[0] >= 6, output
    assert seconds == sorted(seconds), output
    last = [match for match in shown if match][-1]  # its rate is since the input started
    assert int(last[1].replace(",", "")) > 30 / int(last[2]), output


def test_failed_run_fails_with_the_receivers_error(tmp_path, run_playbook):
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    error = "classifier raised ZeroDivisionError on line 42"
    write_progress(progress, state="failed", rows_out=3, started_at=time.time(), error=error)
    code, output = finish(playbook(tmp_path, progress=str(progress), timeout=30, poll=0.2))
    assert code != 0, output
    assert f"the run failed: {error}" in output
    assert "failed=1" in output


def test_dead_watched_process_fails_naming_the_component(tmp_path, run_playbook):
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    write_progress(progress, state="running", rows_out=5, started_at=time.time())
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    pidfile = tmp_path / "receiver.pid"
    pidfile.write_text(f"{ended.pid}\n")
    play = playbook(
        tmp_path,
        progress=str(progress),
        pidfiles={"receiver": str(pidfile)},
        timeout=30,
        poll=0.2,
    )
    code, output = finish(play)
    assert code != 0, output
    assert "receiver died before the run finished" in output


def test_a_component_that_exits_with_an_error_fails_the_wait_with_it(tmp_path, run_playbook):
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    write_progress(progress, state="running", rows_out=0, started_at=time.time())
    exit_file = tmp_path / "sender.exit"
    done = subprocess.run(
        [sys.executable, "-m", "classifier", "--exit-file", exit_file, "send"]
        + ["--to", "127.0.0.1:9", "--file", str(tmp_path / "gone.csv")],
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2
    finished = tmp_path / "generate.exit"
    subprocess.run(
        [sys.executable, "-m", "classifier", "--exit-file", finished, "generate", "--rows", "1"],
        capture_output=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    play = playbook(
        tmp_path,
        progress=str(progress),
        exit_files={"sender": str(exit_file), "generator": str(finished)},
        timeout=30,
        poll=0.2,
    )
    code, output = finish(play)
    assert code != 0, output
    assert "sender exited with status 2: send: [Errno 2] No such file or directory" in output
    assert "generator" not in output


def test_the_receivers_cause_wins_over_a_sender_that_exited_just_before(tmp_path, run_playbook):
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    write_progress(progress, state="running", rows_out=0, started_at=time.time())
    exit_file = tmp_path / "sender.exit"
    exit_file.write_text("3\nsend: the source did not confirm that it took every row\n")
    play = playbook(
        tmp_path, progress=str(progress), exit_files={"sender": str(exit_file)}, timeout=30
    )
    cause = "source: 3 rows rejected, more than job.max_rejects (2 rows)"
    later = threading.Timer(1.0, lambda: write_progress(progress, state="failed", error=cause))
    later.start()
    try:
        code, output = finish(play)
    finally:
        later.join()
    assert code != 0, output
    assert f"the run failed: {cause}" in output
    assert "sender exited" not in output


def test_run_that_never_ends_fails_with_job_timeout(tmp_path, run_playbook):
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    write_progress(progress, state="running", rows_out=7, started_at=time.time())
    began = time.monotonic()
    code, output = finish(playbook(tmp_path, progress=str(progress), timeout=2, poll=0.2))
    assert code != 0, output
    assert "job.timeout" in output
    assert "within 2 s" in output
    assert time.monotonic() - began >= 2


TALLY = {"records": 31, "bytes": 900, "sha256": "ab" * 32, "tallied": True}


@pytest.mark.parametrize(
    ("rows_in", "tally", "sender_exit", "expected"),
    [
        (30, TALLY, "0\n\n", None),
        (5, TALLY, "0\n\n", "the source declares 30 rows (source.rows) but 5 came in"),
        (30, None, "0\n\n", "the source did not check the sender's tally"),
        (30, {**TALLY, "tallied": False}, "0\n\n", "the source did not check the sender's tally"),
        (30, TALLY, "2\nsend: refused\n", "sender exited with status 2: send: refused"),
        (30, TALLY, None, "sender did not exit in time"),
    ],
    ids=["own-rows", "other-rows", "no-tally", "untallied", "sender-failed", "sender-running"],
)
def test_a_run_reported_done_succeeds_only_on_its_own_rows(
    tmp_path, run_playbook, rows_in, tally, sender_exit, expected
):
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    write_progress(
        progress, state="done", rows_out=rows_in, rows_in=rows_in, input=tally, started_at=0
    )
    exit_file = tmp_path / "sender.exit"
    if sender_exit is not None:
        exit_file.write_text(sender_exit)
    play = playbook(
        tmp_path,
        progress=str(progress),
        exit_files={"sender": str(exit_file)},
        timeout=30,
        total_rows=30,
        tallied=True,
        poll=0.2,
    )
    code, output = finish(play)
    if expected is None:
        assert code == 0, output
    else:
        assert code != 0, output
        assert expected in output, output


def test_looks_at_the_run_ever_less_often_up_to_poll():
    looks = gaps(10.0)
    assert [next(looks) for _ in range(6)] == [1.25, 2.5, 5.0, 10.0, 10.0, 10.0]


def test_a_run_is_looked_at_less_often_as_it_goes_on(tmp_path, run_playbook):
    """Rows come out every 50 ms for 3 s, so every look shows a new line: gaps of 0.2, 0.4,
    0.8 and 1.6 s leave room for five looks at most, the last one seeing the end."""
    start, _ = run_playbook
    progress = tmp_path / "progress.json"
    began = time.time()
    write_progress(progress, state="running", rows_out=0, rows_rejected=0, started_at=began)

    def receiver():
        for rows in range(1, 61):
            time.sleep(0.05)
            write_progress(
                progress, state="running", rows_out=rows, rows_rejected=0, started_at=began
            )
        write_progress(
            progress, state="done", rows_out=60, rows_rejected=0, rows_in=60, started_at=began
        )

    thread = threading.Thread(target=receiver, daemon=True)
    thread.start()
    process = start(playbook(tmp_path, progress=str(progress), timeout=40, poll=1.6))
    lines = follow(process, threading.Event(), thread)
    output = "".join(lines)
    assert process.returncode == 0, output
    shown = [line for line in lines if " rows, " in line]
    assert 2 <= len(shown) <= 6, output
    assert "localhost: 60/60 (100 %) rows" in shown[-1], output


def test_on_the_controller_the_run_is_watched_without_starting_a_python(tmp_path, run_playbook):
    """A host whose connection is local is the controller: each look at the run is made in
    the action's own process, so the host's Python is never started, even if it is absent."""
    _, finish = run_playbook
    progress = tmp_path / "progress.json"
    write_progress(progress, state="done", rows_out=5, rows_rejected=0, rows_in=5)
    code, output = finish(
        playbook(tmp_path, progress=str(progress), timeout=10), python=tmp_path / "no-python"
    )
    assert code == 0, output
    assert "localhost: 5/5 (100 %) rows" in output
