"""ansible.cfg: site.yml's start-up reaches every host at once."""

import configparser
import json

from conftest import REPO


def test_forks_reach_every_host_of_the_largest_cluster_at_once():
    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    schema = json.loads((REPO / "schema" / "cluster.schema.json").read_text())
    largest = (
        schema["properties"]["size"]["maximum"] + 1
    )  # the processing hosts and the metrics host
    assert config.getint("defaults", "forks") >= largest
