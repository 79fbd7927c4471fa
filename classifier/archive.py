"""results.tgz, compressed while the results arrive rather than after the last one.

A tar header holds its member's size, known only at the end, and a gzip stream
cannot be patched. gzip members concatenate into one stream, though, so the
archive is three members: the header of results.csv, stored uncompressed at a
fixed length and rewritten at the end; results.csv, deflated as it is written;
and the rest of the tar (the other files and the end blocks). gzip, tar and
Python's ``tarfile.open`` read such a file; ``tarfile``'s stream mode (``r|gz``)
reads only a first member.
"""

import gzip
import io
import tarfile
import time
from pathlib import Path

from isal import isal_zlib

# ISA-L's deflate at level 1: smaller than zlib's level 1 and three times faster
# (tests/bench/task_cost.py formats). Any gzip reader reads it.
LEVEL = 1


def _stored(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=0, mtime=0)


class StreamingArchive:
    """A .tgz at ``path`` whose first member, ``name``, is written piece by piece."""

    def __init__(self, path: Path, name: str):
        self.path, self.name, self.size = path, name, 0
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close)
        self._header_bytes = self._file.write(_stored(bytes(tarfile.BLOCKSIZE)))
        self._deflate = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)

    def write(self, data: bytes) -> None:
        self._file.write(self._deflate.compress(data))
        self.size += len(data)

    def close(self, others: list[Path]) -> None:
        """End the first member and add ``others`` (those that exist) after it."""
        self._file.write(self._deflate.flush())
        rest = io.BytesIO(bytes(-self.size % tarfile.BLOCKSIZE))
        rest.seek(0, io.SEEK_END)
        with tarfile.open(fileobj=rest, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for path in others:
                if path.exists():
                    tar.add(path, arcname=path.name)
        self._file.write(gzip.compress(rest.getvalue(), compresslevel=LEVEL))
        info = tarfile.TarInfo(self.name)
        info.size, info.mtime, info.mode = self.size, int(time.time()), 0o644
        header = _stored(info.tobuf(format=tarfile.GNU_FORMAT))
        if len(header) != self._header_bytes:
            raise RuntimeError(f"{self.path}: the tar header of {self.name} changed length")
        self._file.seek(0)
        self._file.write(header)
        self._file.close()
