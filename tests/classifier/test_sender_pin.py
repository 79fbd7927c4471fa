"""The sender pins its input: a file that changes while it is sent, or an S3 object that
comes short, fails the sender naming it, before the end-of-input frame; the manifest says
which input it was.

The sender is a real process against a port that takes nothing until the test has changed
the file (the test's own listener, or a real source stopped with SIGSTOP): the sender is
then blocked on TCP with most of the file unread.
"""

import hashlib
import io
import json
import os
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from app_processes import Processes
from botocore.response import StreamingBody
from conftest import free_ports
from test_bad_input import _rows, _run, sources  # noqa: F401
from test_pipeline import WAIT, cluster  # noqa: F401

from classifier import framing, sender

pytestmark = pytest.mark.slow

TORN = b"999999,SKU-999999,1.0,Acme,half a rec"  # no newline: a writer caught mid-line


def _big_csv(path: Path) -> bytes:
    """About 32 MiB of CSV, many times what the sockets between sender and source hold."""
    data = b"ID,SKU,FLUX,MANUFACTURER_NAME,DESCRIPTION\n" + b"".join(
        b"%d,SKU-%d,1.0,Acme,%s\n" % (n, n, b"widget " * 14) for n in range(1, 270_000)
    )
    path.write_bytes(data)
    return data


def _offset(pid: int, path: Path) -> int | None:
    """Where process ``pid`` is in its open ``path`` (None if it has not opened it)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == str(path):
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                return int(re.search(r"^pos:\s+(\d+)", info, re.MULTILINE)[1])
        except OSError:
            continue
    return None


def _blocked_in(process, path: Path) -> int:
    """The offset at which the sender stopped reading ``path``: it has read some and the
    port takes nothing, so it stays there."""
    deadline, last, since = time.monotonic() + WAIT, None, time.monotonic()
    while time.monotonic() < deadline and process.poll() is None:
        offset = _offset(process.pid, path)
        if offset != last:
            last, since = offset, time.monotonic()
        elif offset and time.monotonic() - since > 1:
            return offset
        time.sleep(0.1)
    pytest.fail(f"the sender never read {path} (exit {process.poll()})")


def _change(path: Path, how: str, size: int, offset: int) -> str:
    """Truncate ``path`` in the middle of a line well past ``offset``, or append a torn line;
    what the sender must say."""
    if how == "truncate":
        cut = max(offset + 4 * sender.READ_BYTES, size // 2) + 17
        os.truncate(path, cut)
        return f"{size} bytes when opened, {cut} now (it shrank by {size - cut} bytes)"
    with open(path, "ab") as stream:
        stream.write(TORN)
    return f"{size} bytes when opened, {size + len(TORN)} now (it grew by {len(TORN)} bytes)"


def _exit(exit_file: Path) -> tuple[int, str]:
    status, error = exit_file.read_text().split("\n", 1)
    return int(status), error.strip()


@pytest.fixture
def processes(tmp_path):
    started = Processes(tmp_path, dict(os.environ), WAIT)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.mark.parametrize("how", ["truncate", "append"])
def test_a_file_changed_while_it_is_sent_fails_the_sender_before_the_end(how, tmp_path, processes):
    rows = tmp_path / "rows.csv"
    data = _big_csv(rows)
    server = framing.listen(("127.0.0.1", 0))
    server.settimeout(WAIT)
    exit_file = tmp_path / "sender.exit"
    with server:
        process = processes.start(
            "sender",
            *("classifier", "--exit-file", str(exit_file), "send"),
            *("--to", f"127.0.0.1:{server.getsockname()[1]}", "--file", str(rows)),
        )
        connection, _ = server.accept()
    with connection:
        connection.settimeout(WAIT)
        offset = _blocked_in(process, rows)
        assert offset < len(data) // 4
        expected = _change(rows, how, len(data), offset)
        payloads = list(framing.FrameReader(connection))  # to the sender's close
    assert processes.wait("sender", process) == 2, processes.log("sender")
    assert _exit(exit_file) == (2, f"send: {rows} changed while it was being sent: {expected}")
    assert "Traceback" not in processes.log("sender")
    assert framing.input_size(payloads.pop(0)) == {"bytes": len(data)}  # as it was opened
    assert not any(framing.is_end(payload) for payload in payloads)
    sent = b"".join(payloads)  # every whole record it had read, and not one byte more
    assert data.startswith(sent) and len(sent) == data.rfind(b"\n", 0, offset) + 1


@pytest.mark.parametrize("how", ["truncate", "append"])
def test_a_run_whose_file_changes_is_never_complete(how, cluster, tmp_path):  # noqa: F811
    """A real source, stopped (SIGSTOP) while the test changes the file, then let go."""
    rows = tmp_path / "rows.csv"
    data = _big_csv(rows)
    processes, out = Processes(tmp_path, cluster["env"], WAIT), tmp_path / "out"
    exit_file = tmp_path / "sender.exit"
    try:
        receiver, source, port = processes.start_receiver_and_source(
            cluster["address"],
            out,
            *("--classifier", "classifier.vectorised:classify", "--batch-rows", "5000"),
        )
        deadline = time.monotonic() + WAIT
        while "listening on" not in processes.log("source") and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(source.pid, signal.SIGSTOP)
        try:
            process = processes.start(
                "sender",
                *("classifier", "--exit-file", str(exit_file), "send"),
                *("--to", f"127.0.0.1:{port}", "--file", str(rows)),
            )
            expected = _change(rows, how, len(data), _blocked_in(process, rows))
        finally:
            os.kill(source.pid, signal.SIGCONT)
        assert processes.wait("sender", process) == 2, processes.log("sender")
        assert processes.wait("source", source) == 1, processes.log("source")
        assert processes.wait("receiver", receiver) == 1, processes.log("receiver")
    finally:
        processes.stop_all()
    assert _exit(exit_file) == (2, f"send: {rows} changed while it was being sent: {expected}")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["input"] is None
    assert "before the end-of-input frame" in manifest["error"]
    assert json.loads((out / "progress.json").read_text())["state"] == "failed"


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_the_manifest_says_which_input_it_was(kind, cluster, tmp_path, sources):  # noqa: F811
    data = _rows()
    send_args = sources(kind, data)
    codes, logs, _, manifest = _run(cluster, tmp_path, send_args)
    assert codes == {"sender": 0, "source": 0, "receiver": 0}, logs
    identity = (
        {"file": send_args[1]}
        if kind == "file"
        else {"s3": send_args[1], "etag": hashlib.md5(data).hexdigest()}  # S3's single-part ETag
    )
    assert manifest["input"] == {
        **identity,
        "records": 41,  # the header and 40 rows
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "tallied": True,
    }


def _replace(path: Path) -> None:
    path.with_name("new.csv").write_bytes(path.read_bytes())
    os.replace(path.with_name("new.csv"), path)


def _rewrite(path: Path) -> None:
    time.sleep(0.1)  # past the granularity of the file system's clock
    path.write_bytes(path.read_bytes().replace(b"widget", b"gadget"))


CHANGES = {
    "rewritten": (
        _rewrite,
        "it was rewritten (the same {size} bytes, modified since it was opened)",
    ),
    "replaced": (_replace, "it was replaced by another file"),
    "removed": (Path.unlink, "it was removed"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_file_rewritten_replaced_or_removed_is_no_longer_the_input(change, tmp_path):
    rows = tmp_path / "rows.csv"
    data = _big_csv(rows)
    payloads = sender.file_payloads(str(rows), one_per_frame=False)
    first = next(iter(payloads))
    act, problem = CHANGES[change]
    act(rows)
    with pytest.raises(OSError) as failed:
        list(payloads)
    said = problem.format(size=len(data))
    assert str(failed.value) == f"{rows} changed while it was being sent: {said}"
    assert data.startswith(first)


def test_an_unchanged_file_is_read_whole_and_named(tmp_path):
    rows = tmp_path / "rows.csv"
    data = _rows()[:-1]  # no newline at the end: the last record is still sent
    rows.write_bytes(data)
    payloads = sender.file_payloads(str(rows), one_per_frame=True)
    assert payloads.identity == {"file": str(rows)}
    assert b"".join(payloads) == data


def test_what_is_not_a_regular_file_is_refused(tmp_path):
    with pytest.raises(OSError, match="is not a regular file"):
        sender.file_payloads("/dev/null", one_per_frame=False)


class _ShortBody(BaseHTTPRequestHandler):
    """An S3 endpoint whose GET announces the object's whole length, sends part, and hangs up."""

    body = _rows()
    sent = 300

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("ETag", '"0123abcd"')
        self.end_headers()
        self.wfile.write(self.body[: self.sent])
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_an_s3_download_that_ends_short_fails_naming_the_url(monkeypatch):
    (port,) = free_ports(1)
    server = ThreadingHTTPServer(("127.0.0.1", port), _ShortBody)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    payloads = []
    try:
        rows = sender.s3_payloads("s3://rows/input.csv", one_per_frame=False)
        assert rows.identity == {"s3": "s3://rows/input.csv", "etag": "0123abcd"}
        assert rows.size == {"bytes": len(_ShortBody.body)}  # the size the sender tells
        with pytest.raises(OSError) as failed:
            payloads.extend(rows)
    finally:
        server.shutdown()
        server.server_close()
    size = len(_ShortBody.body)
    assert str(failed.value) == (
        "s3://rows/input.csv (ETag 0123abcd): the download ended after"
        f" {_ShortBody.sent} of the object's {size} bytes"
    )
    whole = _ShortBody.body.rfind(b"\n", 0, _ShortBody.sent) + 1
    assert b"".join(payloads) == _ShortBody.body[:whole]  # not the torn record after them


def test_a_body_shorter_than_its_content_length_is_caught_without_botocore():
    """botocore checks the length itself; this is the sender's own check behind it, on a
    real StreamingBody that is not told the length."""
    data = _rows()
    got = {"Body": StreamingBody(io.BytesIO(data[:-10]), None), "ContentLength": len(data)}
    stream = sender.S3Object("s3://rows/input.csv", {**got, "ETag": '"e1"'})
    assert stream.read(len(data)) == data[:-10]
    with pytest.raises(
        OSError, match=rf"ended after {len(data) - 10} of the object's {len(data)} bytes"
    ):
        stream.read(len(data))
