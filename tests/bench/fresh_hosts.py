"""A fresh cluster's start-up: site.yml, provider static, on three network-namespace hosts that
never had the app, then the same run on the same hosts, round after round; every round on new
hosts' directories. Prints each run's wall time and keeps ansible's profile_tasks output.

    sudo .venv/bin/python tests/bench/fresh_hosts.py --rounds 3 --logs /tmp/fresh-hosts
    sudo .venv/bin/python tests/bench/fresh_hosts.py --rounds 1 --cold   # bundle built in the run

As root (it makes network namespaces), from the repository root.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "playbooks")]

from conftest import ansible, cluster_file  # noqa: E402
from netns_hosts import netns_hosts  # noqa: E402

ROWS, SLOWNESS = 2000, 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="remove .burst/bundles every round")
    parser.add_argument("--logs", type=Path, help="keep each run's ansible output here")
    args = parser.parse_args()
    walls = {"fresh": [], "installed": []}
    with tempfile.TemporaryDirectory() as tmp, netns_hosts(3, Path(tmp)) as hosts:
        tmp = Path(tmp)
        for round_ in range(args.rounds):
            static = {"hosts": hosts.addresses, "user": hosts.user, "ssh_key": str(hosts.ssh_key)}
            path = cluster_file(
                tmp,
                provider="static",
                size=2,
                workers_per_host=1,
                static={**static, "workdir": str(tmp / f"work{round_}")},
                source={"kind": "synthetic", "rows": ROWS, "seed": 8},
                job={"slowness": SLOWNESS, "batch_rows": 100, "timeout": 300},
            )
            if args.cold:
                shutil.rmtree(REPO / ".burst" / "bundles", ignore_errors=True)
            for kind in walls:
                began = time.monotonic()
                done = ansible(
                    "ansible-playbook",
                    "playbooks/site.yml",
                    "-e",
                    f"cluster_file={path}",
                    cwd=REPO,
                    timeout=900,
                    ANSIBLE_CONFIG=REPO / "ansible.cfg",
                    BURST_STATE_DIR=tmp / f"state-{kind}{round_}",
                    ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                    PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
                    PROFILE_TASKS_SORT_ORDER="none",
                    ANSIBLE_PYTHON_INTERPRETER=hosts.ansible_env["ANSIBLE_PYTHON_INTERPRETER"],
                )
                wall = time.monotonic() - began
                if args.logs:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    (args.logs / f"{kind}{round_}.log").write_text(done.stdout + done.stderr)
                if done.returncode != 0:
                    sys.exit(f"{kind} run of round {round_} failed:\n{done.stdout[-3000:]}")
                walls[kind].append(wall)
                print(f"round {round_} {kind}: {wall:.1f} s", flush=True)
                shutil.rmtree(tmp / "output", ignore_errors=True)
    for kind, seconds in walls.items():
        print(f"{kind}: median {statistics.median(seconds):.1f} s of {len(seconds)}")
    ratios = [f / i for f, i in zip(walls["fresh"], walls["installed"], strict=True)]
    print("fresh ÷ installed by round:", ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
