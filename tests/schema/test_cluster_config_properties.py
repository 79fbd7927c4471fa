"""Property tests of the loader on YAML with anchors and aliases.

The generator writes cluster files whose values are scalars (a few long), lists and mappings
nested to a random depth with a random fan-out, each value anchored at random and aliases
naming earlier anchors (a few name one still open, or none); mappings merge others with
``<<``; some files chain anchors, each aliasing the previous one many times (an alias bomb).
Whatever it writes, the loader answers, a config or a ClusterConfigError, within a time and
memory bound, and every problem it names is at most PROBLEM_CHARS long.
"""

from __future__ import annotations

import json
import signal
import tracemalloc

import pytest
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    SHOWN_CHARS,
    ClusterConfigError,
    load_cluster_file,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

SECONDS = 2
PEAK_BYTES = 64 * 1024 * 1024
# A field and a value, each cut to SHOWN_CHARS, and what is allowed, which the schema says.
PROBLEM_CHARS = 2 * SHOWN_CHARS + 200

KEYS = ["provider", "size", "source", "job", "ports", "static", "kind", "rows", "hosts", "x"]
SCALARS = st.one_of(
    st.sampled_from(["demo", "lol", "3", "-1", "~", "true", "local", "synthetic", "2020-13-01"]),
    st.integers(-(10**6), 10**6).map(str),
    st.text(max_size=20).map(json.dumps),
    st.integers(0, 3000).map(lambda n: json.dumps("y" * n)),  # longer than a message shows
)


@st.composite
def cluster_files(draw) -> str:
    anchors, open_anchors = [], []
    max_depth = draw(st.integers(1, 5))

    def alias() -> str:
        pool = anchors + open_anchors if draw(st.integers(0, 19)) == 0 else anchors
        return "*" + (draw(st.sampled_from(pool)) if pool else "nowhere")

    def value(depth: int) -> str:
        kind = draw(st.sampled_from(["scalar", "alias", "list", "map"]))
        if kind == "alias" and (anchors or draw(st.integers(0, 49)) == 0):
            return alias()
        if kind in ("scalar", "alias") or depth >= max_depth:
            return draw(SCALARS)
        anchor = f"a{len(anchors) + len(open_anchors)}" if draw(st.booleans()) else None
        if anchor:
            open_anchors.append(anchor)
        if kind == "list":
            text = "[" + ", ".join(value(depth + 1) for _ in range(draw(st.integers(0, 6)))) + "]"
        else:
            items = []
            if anchors and draw(st.booleans()):
                merged = [alias() for _ in range(draw(st.integers(1, 9)))]
                items.append(f"<<: [{', '.join(merged)}]")
            items += [f"{key}: {value(depth + 1)}" for key in draw(keys)]
            text = "{" + ", ".join(items) + "}"
        if anchor:
            open_anchors.remove(anchor)
            anchors.append(anchor)
            return f"&{anchor} {text}"
        return text

    long_keys = st.integers(SHOWN_CHARS, 3000).map(lambda n: "k" * n)
    keys = st.lists(st.one_of(st.sampled_from(KEYS), long_keys), unique=True, max_size=6)
    lines = ["name: demo"]
    if draw(st.booleans()):  # a chain of anchors, each the previous one many times over
        levels, fan_out = draw(st.integers(1, 9)), draw(st.integers(1, 9))
        leaf = draw(st.one_of(st.sampled_from(['""', "[]", "{}", "lol"]), SCALARS))
        lines.append(f"c0: &c0 [{', '.join([leaf] * fan_out)}]")
        for level in range(1, levels):
            lines.append(f"c{level}: &c{level} [{', '.join([f'*c{level - 1}'] * fan_out)}]")
        used = draw(st.sampled_from(KEYS))  # where the schema looks into it, or not
        lines.append(f"{used}: *c{levels - 1}")
        keys = keys.map(lambda drawn: [key for key in drawn if key != used])
    for key in draw(keys):
        lines.append(f"{key}: {value(1)}")
    if draw(st.booleans()):  # an integer about as long as a cluster file's may be
        lines.append(f"integer: 0x{'f' * draw(st.integers(95, 100))}")
    if draw(st.booleans()):  # deep nesting, around the limit, of a value that may be an alias
        levels = draw(st.integers(0, 40))
        lines.append(f"deep: &deep {'[' * levels}{value(1)}{']' * levels}")
        levels = draw(st.integers(0, 40))
        lines.append(f"deeper: {'[' * levels}*deep{']' * levels}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def cluster_path(tmp_path_factory):
    return tmp_path_factory.mktemp("properties") / "cluster.yaml"


@pytest.fixture(scope="module", autouse=True)
def time_limit():
    """SIGALRM, once SECONDS have passed, fails the example that is loading."""

    def too_slow(signum, frame):
        raise TimeoutError(f"the loader took more than {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    yield
    signal.signal(signal.SIGALRM, previous)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=cluster_files())
def test_the_loader_answers_any_anchors_within_bounds(cluster_path, text):
    cluster_path.write_text(text, encoding="utf-8")
    tracemalloc.start()
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        config = load_cluster_file(cluster_path)
    except ClusterConfigError as error:
        config, problems = None, error.problems
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < PEAK_BYTES
    if config is None:
        assert problems
        for problem in problems:
            assert len(problem) <= PROBLEM_CHARS, problem
    else:
        assert config["name"] == "demo"
