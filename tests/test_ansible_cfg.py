"""ansible.cfg: site.yml's start-up reaches every host at once."""

import configparser

from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import largest_size
from conftest import REPO


def test_forks_reach_every_host_of_the_largest_cluster_at_once():
    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    # the processing hosts and the metrics host
    assert config.getint("defaults", "forks") >= largest_size() + 1
