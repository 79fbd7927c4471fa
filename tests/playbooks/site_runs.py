"""Running site.yml from a test, and the single-process answer to compare it with."""

import subprocess
import sys

import pandas as pd
import yaml
from conftest import REPO, ansible, free_ports


def cluster_file(directory, **overrides):
    scheduler, dashboard, source, receiver = free_ports(4)
    config = {
        "name": "e2e",
        "provider": "local",
        "size": 2,
        "workers_per_host": 1,
        "ports": {
            "scheduler": scheduler,
            "dashboard": dashboard,
            "source": source,
            "receiver": receiver,
        },
        "source": {"kind": "synthetic", "rows": 3000, "seed": 11},
        "job": {"slowness": 100, "batch_rows": 100, "timeout": 300},
        "results": {"dir": "output"},
    }
    for key, value in overrides.items():  # a source is replaced whole, other sections merged
        merge = isinstance(value, dict) and key in config and key != "source"
        config[key] = {**config[key], **value} if merge else value
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def site(path, state_dir, *extra, **env):
    """Run site.yml on cluster file ``path``; ``env`` adds to a clean environment."""
    return ansible(
        "ansible-playbook",
        "playbooks/site.yml",
        "-e",
        f"cluster_file={path}",
        *extra,
        cwd=REPO,
        timeout=600,
        ANSIBLE_CONFIG=REPO / "ansible.cfg",
        BURST_STATE_DIR=state_dir,
        **env,
    )


def run_dir(results):
    (run,) = [path for path in results.iterdir() if path.is_dir()]
    return run


def reference(tmp_path, rows, seed, slowness):
    source, target = tmp_path / "in.csv", tmp_path / "reference.csv"
    with open(source, "wb") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "classifier",
                "generate",
                "--rows",
                str(rows),
                "--seed",
                str(seed),
            ],
            stdout=out,
            check=True,
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "classifier",
            "classify",
            source,
            target,
            "--slowness",
            str(slowness),
        ],
        check=True,
    )
    return target


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)
