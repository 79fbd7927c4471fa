"""results.tgz written while the results arrive: what tar and Python's tarfile read back."""

import random
import shutil
import subprocess
import tarfile

import pytest

from classifier.archive import StreamingArchive


def _write(tmp_path, pieces, others):
    archive = StreamingArchive(tmp_path / "results.tgz", "results.csv")
    for piece in pieces:
        archive.write(piece)
    archive.close(others)
    return tmp_path / "results.tgz"


@pytest.fixture
def contents(tmp_path):
    rng = random.Random(4)
    pieces = [rng.randbytes(rng.randint(0, 70_000)) for _ in range(30)] + [b"", b"x"]
    (tmp_path / "manifest.json").write_text('{"complete": true}\n')
    others = [tmp_path / "rejects.csv", tmp_path / "manifest.json"]  # rejects.csv is absent
    return pieces, _write(tmp_path, pieces, others)


@pytest.mark.parametrize("mode", ["r:gz", "r:*"])
def test_tarfile_reads_every_member_back(contents, mode):
    pieces, path = contents
    with tarfile.open(path, mode) as archive:
        got = {member.name: archive.extractfile(member).read() for member in archive}
    assert list(got) == ["results.csv", "manifest.json"]
    assert got["results.csv"] == b"".join(pieces)
    assert got["manifest.json"] == b'{"complete": true}\n'


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar (CI has it)")
def test_gnu_tar_extracts_it(contents, tmp_path):
    pieces, path = contents
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xzf", path, "-C", out], check=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "results.csv"]
    assert (out / "results.csv").read_bytes() == b"".join(pieces)


def test_an_empty_results_file(tmp_path):
    path = _write(tmp_path, [], [])
    with tarfile.open(path) as archive:
        assert archive.getnames() == ["results.csv"]
        assert archive.extractfile("results.csv").read() == b""
