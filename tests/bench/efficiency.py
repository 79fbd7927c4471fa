"""Parallel efficiency of the pipeline against the single process, in one run.

    python tests/bench/efficiency.py --rows 20000 --workers 2 --rounds 3

Efficiency = single-process time ÷ (workers × pipeline time), same rows. The contenders
alternate, round by round; medians are reported. Pipeline time runs from the sender's start
to the receiver's exit, with the Dask cluster already up. `make bench` runs this for every
worker count, with the other benchmarks.
"""

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import contenders as c
from suite import efficiency


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slowness", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = {"efficiency_rows": [args.rows], "slowness": args.slowness, "rounds": args.rounds}
    with tempfile.TemporaryDirectory() as tmp:
        (result,) = efficiency(Path(tmp), size, worker_counts=[args.workers])
    result["machine"] = {"cores": os.cpu_count(), "python": platform.python_version()}
    result["classifier"] = c.BLACK_BOX
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
