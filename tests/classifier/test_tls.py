"""TLS inside the cluster: a real Dask scheduler and workers on 127.0.0.1 with a run's certificates.

The certificates come from burst.cluster.run_certificates; scheduler and workers are started as
the roles start them (``python -m classifier scheduler|worker`` with Dask's TLS flags), and every
process started here is stopped by its process group before the module ends.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import pytest
from ansible_collections.burst.cluster.plugins.module_utils import (
    run_certificates,
)
from ansible_collections.burst.cluster.plugins.module_utils.processes import (
    group_members,
)
from app_processes import Processes
from conftest import free_ports, processes_with_env
from distributed import Client
from distributed.security import Security
from strangers import HEADER, intrude

from classifier import calling, link, reference, source, synthetic
from classifier.tls import Tls

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the cluster can't import tests

ROWS = 600
SLOWNESS = 20
BATCH_ROWS = 50
WAIT = 60  # seconds any one process may take
REFUSED_WITHIN = 5  # seconds a client without the run's certificate may take to be refused
# what the roles pass besides Dask's TLS flags: require TLS on every connection, whatever
# a dask config file on the host may say
TLS_ENV = {"DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}


def _tls_flags(files: dict[str, str]) -> list[str]:
    return [
        "--tls-ca-file",
        files["ca_file"],
        "--tls-cert",
        files["cert_file"],
        "--tls-key",
        files["key_file"],
    ]


def _security(ca_file: str, cert_file: str, key_file: str) -> Security:
    return Security(
        tls_ca_file=ca_file,
        tls_client_cert=cert_file,
        tls_client_key=key_file,
        require_encryption=True,
    )


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """A TLS scheduler and two workers, with the run's certificates and another run's."""
    base = tmp_path_factory.mktemp("tls")
    run = run_certificates.files(str(base / "run-tls"))
    run_certificates.ensure(str(base / "run-tls"), "burst", "run-1", ["127.0.0.1", "localhost"])
    other = run_certificates.files(str(base / "other-tls"))
    run_certificates.ensure(str(base / "other-tls"), "burst", "run-2", ["127.0.0.1"])

    marker = f"BURST_TEST_TLS={uuid.uuid4().hex}"
    env = dict(os.environ, **TLS_ENV, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env[marker.split("=")[0]] = marker.split("=")[1]
    processes = Processes(base, env, WAIT)
    try:
        address = processes.start_cluster(["tls-0", "tls-1"], "--protocol", "tls", *_tls_flags(run))
        port = int(address.rsplit(":", 1)[1])
        security = _security(run["ca_file"], run["cert_file"], run["key_file"])
        with Client(address, security=security, timeout=WAIT) as client:
            try:
                client.wait_for_workers(2, timeout=WAIT)
            except TimeoutError:
                pytest.fail(f"workers did not come; scheduler log:\n{processes.log('scheduler')}")
            yield {
                "address": address,
                "port": port,
                "run": run,
                "other": other,
                "client": client,
                "processes": processes,
                "marker": marker,
                "env": env,
            }
    finally:
        processes.stop_all()


def _endpoint_state(dask_scheduler=None, dask_worker=None):
    server = dask_scheduler or dask_worker
    return {"require_encryption": server.security.require_encryption, "address": server.address}


def test_scheduler_and_workers_listen_on_tls_only(tls_cluster):
    client = tls_cluster["client"]
    info = client.scheduler_info()
    assert info["address"] == tls_cluster["address"]
    addresses = [*info["workers"], *(w["nanny"] for w in info["workers"].values())]
    assert len(addresses) == 4
    assert all(a.startswith("tls://127.0.0.1:") for a in addresses), addresses
    assert client.run_on_scheduler(_endpoint_state) == {
        "require_encryption": True,
        "address": tls_cluster["address"],
    }
    for address, state in client.run(_endpoint_state).items():
        assert state == {"require_encryption": True, "address": address}
    assert client.submit(sum, [1, 2, 3]).result(timeout=WAIT) == 6


def _clients(dask_scheduler=None):
    return sorted(dask_scheduler.clients)


@pytest.mark.parametrize(
    "who",
    ["plain-tcp", "another-runs-ca-and-certificate", "the-runs-ca-another-runs-certificate"],
)
def test_a_client_without_the_run_certificate_is_refused(tls_cluster, who):
    run, other = tls_cluster["run"], tls_cluster["other"]
    address, security = {
        "plain-tcp": (f"tcp://127.0.0.1:{tls_cluster['port']}", None),
        # it does not trust the scheduler's certificate
        "another-runs-ca-and-certificate": (
            tls_cluster["address"],
            _security(other["ca_file"], other["cert_file"], other["key_file"]),
        ),
        # it trusts the scheduler, but the scheduler does not trust it
        "the-runs-ca-another-runs-certificate": (
            tls_cluster["address"],
            _security(run["ca_file"], other["cert_file"], other["key_file"]),
        ),
    }[who]
    before = tls_cluster["client"].run_on_scheduler(_clients)
    started = time.monotonic()
    with (
        pytest.raises(OSError),
        Client(address, security=security, timeout=REFUSED_WITHIN) as intruder,
    ):
        intruder.scheduler_info()
    assert time.monotonic() - started < REFUSED_WITHIN + 2
    assert tls_cluster["client"].run_on_scheduler(_clients) == before


def _start_sender(processes, source_port, tls_files):
    return processes.start(
        "sender",
        *("classifier", "send", "--to", f"127.0.0.1:{source_port}"),
        *("--rows", str(ROWS), "--seed", "7"),
        *_tls_flags(tls_files),
    )


def _start_run(tls_cluster, tmp_path, source_tls, sender=True):
    """Receiver and sender with the run's certificates, the source with ``source_tls``."""
    processes = Processes(tmp_path, tls_cluster["env"], WAIT)
    out = tmp_path / "out"
    receiver, source_process, source_port = processes.start_receiver_and_source(
        tls_cluster["address"],
        out,
        *("--slowness", str(SLOWNESS), "--batch-rows", str(BATCH_ROWS), "--connect-timeout", "20"),
        *_tls_flags(source_tls),
        receiver_args=_tls_flags(tls_cluster["run"]),
    )
    started = _start_sender(processes, source_port, tls_cluster["run"]) if sender else None
    return processes, receiver, source_process, started, out, source_port


def _reference(tmp_path):
    input_csv, expected = tmp_path / "input.csv", tmp_path / "reference.csv"
    input_csv.write_bytes(b"".join(synthetic.chunks(ROWS, 7, 1000)))
    call = calling.Call("classifier.black_box:classify", SLOWNESS)
    reference.classify_file(str(input_csv), str(expected), call)
    return input_csv, expected


def _finishes_with_every_row(processes, receiver, source_process, sender, out, tmp_path):
    input_csv, expected = _reference(tmp_path)
    assert processes.wait("sender", sender) == 0, processes.log("sender")
    assert processes.wait("source", source_process) == 0, processes.log("source")
    assert processes.wait("receiver", receiver) == 0, processes.log("receiver")
    assert (out / "results.csv").read_bytes() == expected.read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["rows_in"], manifest["rows_out"], manifest["complete"]) == (ROWS, ROWS, True)
    data = input_csv.read_bytes()
    assert manifest["input"] == {
        "records": ROWS + 1,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "tallied": True,
    }


def test_the_source_runs_the_job_over_tls(tls_cluster, tmp_path):
    processes, receiver, source_process, sender, out, _ = _start_run(
        tls_cluster, tmp_path, tls_cluster["run"]
    )
    try:
        _finishes_with_every_row(processes, receiver, source_process, sender, out, tmp_path)
    finally:
        processes.stop_all()


def test_a_source_with_another_runs_certificate_is_refused_by_the_receiver(tls_cluster, tmp_path):
    processes, receiver, source_process, _, out, _ = _start_run(
        tls_cluster, tmp_path, tls_cluster["other"], sender=False
    )
    try:
        assert processes.wait("source", source_process) == 2, processes.log("source")
        assert "TLS handshake with 127.0.0.1:" in processes.log("source")
        assert receiver.poll() is None, "the receiver goes on waiting for its source"
        assert "TLS handshake failed" in processes.log("receiver")
        assert json.loads((out / "progress.json").read_text())["state"] == "waiting"
    finally:
        processes.stop_all()


STRANGERS = ["plain-tcp", "tls-without-a-certificate", "tls-another-runs-certificate"]


def _as_stranger(kind: str, run: dict, other: dict) -> dict:
    """How ``kind`` connects: it trusts the run's CA, so only the port can refuse it."""
    if kind == "plain-tcp":
        return {"tls": False}
    cert = (
        (other["cert_file"], other["key_file"]) if kind == "tls-another-runs-certificate" else None
    )
    return {"ca_file": run["ca_file"], "cert": cert}


@pytest.mark.parametrize("kind", STRANGERS)
def test_strangers_on_the_data_ports_are_refused_and_the_run_goes_on(tls_cluster, tmp_path, kind):
    """A stranger first on the receiver's port, then on the source's, as the intruder of a
    run would be: each is refused in the handshake within a second, and the run's own rows
    are the ones classified."""
    run, other = tls_cluster["run"], tls_cluster["other"]
    processes = Processes(tmp_path, tls_cluster["env"], WAIT)
    out = tmp_path / "out"
    receiver_port, source_port = free_ports(2)
    try:
        receiver = processes.start(
            "receiver",
            *("classifier", "receive", "--listen", f"127.0.0.1:{receiver_port}"),
            *("--out", str(out), *_tls_flags(run)),
        )
        summary = link.summary(classifier="classifier.black_box:classify", slowness=SLOWNESS)
        seconds, answer = intrude(
            receiver_port, summary, wait=WAIT, **_as_stranger(kind, run, other)
        )
        assert seconds < 1 and answer == b""
        source_process = processes.start(
            "source",
            *("classifier", "source", "--listen", f"127.0.0.1:{source_port}"),
            *("--scheduler", tls_cluster["address"], "--sink", f"127.0.0.1:{receiver_port}"),
            *("--workers", "2", "--slowness", str(SLOWNESS), "--batch-rows", str(BATCH_ROWS)),
            *_tls_flags(run),
        )
        seconds, answer = intrude(source_port, HEADER, wait=WAIT, **_as_stranger(kind, run, other))
        assert seconds < 1 and answer == b""
        sender = _start_sender(processes, source_port, run)
        _finishes_with_every_row(processes, receiver, source_process, sender, out, tmp_path)
    finally:
        processes.stop_all()
    for name in ("receiver", "source"):
        refusals = [
            line for line in processes.log(name).splitlines() if "refused a connection" in line
        ]
        assert len(refusals) == 1, processes.log(name)
        assert "TLS handshake failed" in refusals[0], refusals


@pytest.mark.parametrize(
    ("address", "tls", "expected"),
    [
        ("tls://10.77.0.2:8786", True, "tls://10.77.0.2:8786"),
        ("10.77.0.2:8786", True, "tls://10.77.0.2:8786"),
        ("tcp://10.77.0.2:8786", True, ValueError),
        ("tcp://10.77.0.2:8786", False, "tcp://10.77.0.2:8786"),
        ("tls://10.77.0.2:8786", False, ValueError),
    ],
)
def test_the_source_speaks_tls_exactly_when_it_has_the_files(address, tls, expected):
    files = Tls("ca.pem", "cluster.pem", "cluster-key.pem") if tls else None
    if expected is ValueError:
        with pytest.raises(ValueError, match="--scheduler"):
            source.scheduler_address(address, files)
    else:
        assert source.scheduler_address(address, files) == expected


def test_the_source_needs_all_three_tls_files(tmp_path):
    exit_file = tmp_path / "exit"
    done = subprocess.run(
        [sys.executable, "-m", "classifier", "--exit-file", str(exit_file), "source"]
        + ["--listen", "127.0.0.1:1", "--scheduler", "127.0.0.1:2", "--sink", "127.0.0.1:3"]
        + ["--tls-cert", str(tmp_path / "cluster.pem")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=WAIT,
    )
    assert done.returncode == 2
    status, error = exit_file.read_text().splitlines()[:2]
    assert status == "2"
    assert "missing --tls-ca-file, --tls-key" in error


def test_a_link_closed_right_after_its_last_frame_delivers_every_byte(tmp_path):
    """The source sends its last frames and closes at once, while the receiver is still
    busy with what came before; none of those bytes may be lost on the way."""
    run_certificates.ensure(str(tmp_path), "t", "t-run", ["127.0.0.1"])
    files = run_certificates.files(str(tmp_path))
    tls = Tls(files["ca_file"], files["cert_file"], files["key_file"])
    sent = os.urandom(1024 * 1024) * 20
    received = hashlib.sha256()

    def receive(listener) -> None:
        accepted, _ = listener.accept()
        with tls.server_context().wrap_socket(accepted, server_side=True) as end:
            time.sleep(0.5)
            while data := end.recv(1024 * 1024):
                received.update(data)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        receiver = threading.Thread(target=receive, args=(listener,))
        receiver.start()
        with tls.client_context().wrap_socket(
            socket.create_connection(listener.getsockname(), timeout=WAIT),
            server_hostname="127.0.0.1",
        ) as writer:
            writer.sendall(sent)
        receiver.join(WAIT)
    assert received.hexdigest() == hashlib.sha256(sent).hexdigest()


def test_nothing_is_left_running(tls_cluster):
    """Runs last: stops the module's cluster and finds none of its processes or its port."""
    processes = tls_cluster["processes"]
    groups = [process.pid for _, process in processes.started]
    assert len(groups) == 3  # the scheduler and two workers; each test stopped its own
    tls_cluster["client"].close()
    processes.stop_all()
    assert {pgid: group_members(pgid) for pgid in groups} == {pgid: [] for pgid in groups}
    assert processes_with_env(tls_cluster["marker"]) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", tls_cluster["port"]), timeout=2).close()
