#!/usr/bin/python
"""burst.cluster.verify_results: the collected results are the ones their manifest describes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: verify_results
short_description: Check a run's collected results against its manifest
description:
  - "Reads C(manifest.json) in O(path) and checks every file beside it against it:
    C(results.csv) has the manifest's SHA-256 and its header plus the manifest's C(rows_out)
    records; C(rejects.csv) has a header plus C(rows_rejected) records (or is
    absent when none were rejected); C(results.tgz) reads to its end and holds
    C(results.csv) whole."
  - Fails, naming the file and what is wrong, when any check fails or a file cannot be
    read, so that a run whose collection was cut short (a full disk) never reports success.
  - Records are counted outside quoted fields, so a quoted line break is one record.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  path:
    description: The run's output directory on this host, with the collected files.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Check the collected results against their manifest
  burst.cluster.verify_results:
    path: output/20261202T010000Z-ab12
  delegate_to: localhost
"""

RETURN = r"""
manifest:
  description: The manifest the files were checked against.
  returned: success
  type: dict
  sample: {"rows_in": 3000, "rows_out": 3000, "rows_rejected": 0, "results_sha256": "9f2c..."}
"""

import hashlib
import json
import os
import tarfile

from ansible.module_utils.basic import AnsibleModule

CHUNK = 1024 * 1024
QUOTE = b'"'
NEWLINE = b"\n"


class Mismatch(Exception):
    """A collected file that is not what the manifest says."""


def records_and_sha256(path: str) -> tuple[int, str]:
    """Records (newlines outside quotes) and the SHA-256 of the file at ``path``."""
    digest, count, inside = hashlib.sha256(), 0, False
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            if not inside and QUOTE not in chunk:
                count += chunk.count(NEWLINE)
                continue
            parts = chunk.split(QUOTE)
            for index, part in enumerate(parts):
                if not inside:
                    count += part.count(NEWLINE)
                if index < len(parts) - 1:
                    inside = not inside
    return count, digest.hexdigest()


def check(path: str) -> dict:
    """The manifest in ``path``, once every collected file matches it; Mismatch otherwise."""
    try:
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as stream:
            manifest = json.load(stream)
    except (OSError, ValueError) as error:
        raise Mismatch(f"manifest.json cannot be read: {error}") from None
    if not isinstance(manifest, dict):
        raise Mismatch("manifest.json is not a JSON object")
    results = os.path.join(path, "results.csv")
    count, sha256 = records_and_sha256(results)
    if sha256 != manifest.get("results_sha256"):
        raise Mismatch(
            f"results.csv has sha256 {sha256}, the manifest says {manifest.get('results_sha256')}"
            f" ({os.path.getsize(results)} bytes, {count} records)"
        )
    rows_out = manifest.get("rows_out") or 0
    if count != rows_out + 1 and not count == rows_out == 0:  # an empty input has no header
        raise Mismatch(f"results.csv has {max(count - 1, 0)} rows, the manifest says {rows_out}")
    rejected = manifest.get("rows_rejected") or 0
    rejects = os.path.join(path, "rejects.csv")
    if rejected or os.path.exists(rejects):
        rows = records_and_sha256(rejects)[0] - 1
        if rows != rejected:
            raise Mismatch(f"rejects.csv has {rows} rows, the manifest says {rejected}")
    _check_archive(os.path.join(path, "results.tgz"), os.path.getsize(results))
    return manifest


def _check_archive(path: str, results_size: int) -> None:
    try:
        with tarfile.open(path, "r:gz") as archive:
            sizes = {}
            for member in archive:
                sizes[member.name] = member.size
                if member.isfile():
                    with archive.extractfile(member) as stream:
                        while stream.read(CHUNK):
                            pass
    except (OSError, tarfile.TarError, EOFError) as error:
        raise Mismatch(f"results.tgz cannot be read to its end: {error}") from None
    if sizes.get("results.csv") != results_size:
        raise Mismatch(
            f"results.tgz holds results.csv of {sizes.get('results.csv')} bytes, not {results_size}"
        )


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        manifest = check(path)
    except (Mismatch, OSError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else problem
        where = f" ({problem.filename})" if getattr(problem, "filename", None) else ""
        module.fail_json(
            msg=f"the results collected in {path} do not match their manifest: {reason}{where}"
        )
    module.exit_json(changed=False, manifest=manifest)


if __name__ == "__main__":
    main()
