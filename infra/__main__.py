"""burst's Pulumi program: the cluster that $BURST_CLUSTER_FILE (else ../cluster.yaml) declares."""

import os
import sys
from pathlib import Path

import pulumi

INFRA = Path(__file__).resolve().parent
sys.path[:0] = [str(INFRA), str(INFRA.parent / "collections")]

import cluster_resources  # noqa: E402
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (  # noqa: E402
    load_cluster_file,
)

size = os.environ.get("BURST_SIZE", "")
config = load_cluster_file(
    os.environ.get("BURST_CLUSTER_FILE") or INFRA.parent / "cluster.yaml",
    {"size": int(size)} if size.isdigit() else None,
)
public_key = pulumi.Config("burst").require("sshPublicKey")
for name, value in cluster_resources.declare(config, public_key).items():
    pulumi.export(name, value)
