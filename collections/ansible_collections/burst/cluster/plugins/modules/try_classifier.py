#!/usr/bin/python
"""burst.cluster.try_classifier: call job.classifier on the input's first rows, as a worker will."""

from __future__ import annotations

DOCUMENTATION = r"""
module: try_classifier
short_description: Call a burst cluster's classifier on the first rows of its input
description:
  - Imports C(job.classifier) the way the run's workers will and calls it on the first five
    rows of the input, through the same code a worker runs (C(python -m classifier try)), so
    what would stop a run in its first batch fails here, in seconds, naming why (a module or
    function that does not import, something that is not a function, a signature that does
    not take the frame and C(job.classifier_args), an exception, or a return value that is
    not one value per row).
  - With provider C(local) the cluster file's directory is on the import path, as it is for
    the workers; with C(static) and C(aws) only the installed app is, as on those machines.
  - The rows are the first ones a run sends - those of a C(file) source, or the synthetic rows
    of the file's seed. An C(s3) source is not read; then only the import and the signature
    are checked. So too when the first rows cannot be read (a header over C(job.max_columns),
    say), which is for the run's sender to report; the message says why.
  - The classifier runs in a process of its own, in an empty working directory, stopped
    after O(timeout) seconds.
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  config:
    description: The cluster file as M(burst.cluster.config) returns it.
    type: dict
    required: true
  python:
    description: The Python that has the app; default, the one that runs this module.
    type: path
  timeout:
    description: Seconds the import and the call may take before the check fails.
    type: float
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It changes nothing, so it runs in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Call the classifier on the first rows, as the workers will
  burst.cluster.try_classifier:
    config: "{{ burst_check.config }}"
"""

RETURN = r"""
msg:
  description: What the classifier gave on the first rows, or why it cannot be used.
  returned: always
  type: str
  sample: >-
    job.classifier 'classifier.black_box:classify' gives CLASSIFICATION 0.38, 0.45, 0.83, …
    for the first 5 rows
"""

import json
import os
import signal
import subprocess
import sys

from ansible.module_utils.basic import AnsibleModule

SHOWN_LINES = 5  # of the output of a check that ended without saying why


def command(python: str, config: dict, exit_file: str) -> list[str]:
    job, source = config["job"], config["source"]
    rows = {
        "file": ["--file", source.get("path", "")],
        "synthetic": ["--seed", str(source.get("seed", 0))],
        "s3": ["--no-rows", f"it was not called: the rows are in {source.get('url')}"],
    }[source["kind"]]
    return [
        *(python, "-m", "classifier", "--exit-file", exit_file, "try"),
        *("--classifier", job["classifier"], "--slowness", str(job["slowness"])),
        "--classifier-args=" + json.dumps(job["classifier_args"]),
        "--result-column=" + job["result_column"],
        *("--max-frame-bytes", str(job["max_frame_bytes"])),
        *("--max-columns", str(job["max_columns"])),
        *rows,
    ]


def environment(config: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if config["provider"] == "local":
        env["PYTHONPATH"] = config["base_dir"]
    return env


def run(argv: list[str], env: dict, cwd: str, timeout: float) -> tuple[int | None, str]:
    """(exit status, output) of ``argv``; None if it was stopped after ``timeout`` seconds."""
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output
    return process.returncode, output


def main():
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "dict", "required": True},
            "python": {"type": "path"},
            "timeout": {"type": "float", "default": 60},
        },
        supports_check_mode=True,
    )
    config, timeout = module.params["config"], module.params["timeout"]
    exit_file = os.path.join(module.tmpdir, "exit")
    try:
        argv = command(module.params["python"] or sys.executable, config, exit_file)
        env = environment(config)
    except (KeyError, TypeError) as error:
        module.fail_json(msg=f"config: not a cluster file as burst.cluster.config gives ({error})")
    workdir = os.path.join(module.tmpdir, "cwd")
    os.mkdir(workdir)
    status, output = run(argv, env, workdir, timeout)
    lines = output.strip().splitlines()
    if status == 0:
        module.exit_json(changed=False, msg=lines[-1] if lines else "")
    if status is None:
        why = f"job.classifier {config['job']['classifier']!r} did not return within {timeout:g} s"
        module.fail_json(msg=f"{why} on the first rows")
    try:
        with open(exit_file, encoding="utf-8") as said:
            why = said.read().split("\n", 1)[1].strip().removeprefix("try: ")
    except (OSError, IndexError):
        why = ""
    if "cannot be imported" in why and config["provider"] != "local":
        why += (
            f" (the machines of provider {config['provider']} have burst's own package only;"
            " a module beside the cluster file is importable with provider local)"
        )
    if not why or why.startswith("ended by an unexpected error"):
        why = f"the check ended with status {status}: " + "\n".join(lines[-SHOWN_LINES:])
    module.fail_json(msg=why)


if __name__ == "__main__":
    main()
