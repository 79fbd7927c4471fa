"""The cluster file: its JSON Schema, the loader and the burst.cluster.config action."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from ansible_collections.burst.cluster.plugins.module_utils.cluster_config import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    SCHEMA_PATH,
    SHOWN_CHARS,
    ClusterConfigError,
    _show,
    cut,
    load_cluster_file,
    recheck,
    validate_config,
)
from conftest import ansible
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"

BIN = Path(sys.executable).parent
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
NO_DEFAULT_NEEDED = {"static", "aws"}

DEFAULTS = {
    "provider": "local",
    "size": 1,
    "workers_per_host": 2,
    "ports": {"scheduler": 8786, "dashboard": 8787, "source": 7100, "receiver": 7200},
    "source": {"kind": "synthetic", "rows": 10000, "seed": 0},
    "job": {
        "classifier": "classifier.black_box:classify",
        "classifier_args": {},
        "result_column": "CLASSIFICATION",
        "slowness": 1000,
        "batch_rows": "auto",
        "max_in_flight": 0,
        "timeout": 3600,
        "stall_timeout": 30,
        "max_rejects": None,
        "on_error": "fail",
        "max_frame_bytes": 64 * 1024 * 1024,
        "max_columns": 16384,
        "deadline": None,
    },
    "sizing": {
        "margin": 0.8,
        "history": 30,
        "sample_seconds": 3,
        "overhead": {"local": 16, "static": 60, "aws": 420},
    },
}


def alias_chain(first, wrap, repeats, names="abcde"):
    """``a: &a <first>``, then each of ``names`` anchoring ``wrap`` of ``repeats`` aliases of
    the one before: an alias bomb."""
    lines = [f"a: &a {first}\n"]
    for previous, name in pairwise(names):
        aliases = ", ".join([f"*{previous}"] * repeats)
        lines.append(f"{name}: &{name} {wrap.format(aliases)}\n")
    return "".join(lines)


def write(tmp_path, text, name="cluster.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path):
    with pytest.raises(ClusterConfigError) as caught:
        load_cluster_file(path)
    return caught.value.problems


def object_schemas(schema, where="(root)"):
    """Every schema in the tree that declares properties, with where it sits."""
    if not isinstance(schema, dict):
        return
    if "properties" in schema:
        yield where, schema
    for key, value in schema.items():
        if key == "properties":
            for name, sub in value.items():
                yield from object_schemas(sub, f"{where}.{name}")
        elif key in ("allOf", "anyOf", "oneOf"):
            for index, sub in enumerate(value):
                yield from object_schemas(sub, f"{where}.{key}[{index}]")
        elif key in ("then", "else", "items"):
            yield from object_schemas(value, f"{where}.{key}")


def test_schema_is_valid_draft_2020_12():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_every_property_has_a_description_and_optional_ones_a_default():
    seen = []
    for where, schema in object_schemas(SCHEMA):
        required = set(schema.get("required", []))
        for name, sub in schema["properties"].items():
            seen.append(name)
            assert sub.get("description", "").strip(), f"{where}.{name} has no description"
            if name not in required and not NO_DEFAULT_NEEDED & set(f"{where}.{name}".split(".")):
                assert "default" in sub, f"{where}.{name} is optional but states no default"
    assert {"name", "slowness", "rows", "path", "url", "hosts", "region"} <= set(seen)


def test_every_default_is_valid_under_its_own_schema():
    for where, schema in object_schemas(SCHEMA):
        for name, sub in schema["properties"].items():
            if "default" in sub:
                errors = list(Draft202012Validator(sub).iter_errors(sub["default"]))
                assert not errors, f"default of {where}.{name}: {errors}"


def test_every_object_rejects_unknown_keys():
    for where, schema in object_schemas(SCHEMA):
        if "then" in where:
            continue
        closed = schema.get("additionalProperties") is False
        closed = closed or schema.get("unevaluatedProperties") is False
        assert closed, f"{where} accepts unknown keys"


def test_committed_cluster_file_loads():
    config = load_cluster_file(REPO / "cluster.yaml")
    assert config["cluster_file"] == str(REPO / "cluster.yaml")
    assert config["base_dir"] == str(REPO)
    assert config["provider"] in ("local", "static", "aws")


def test_minimal_file_gets_every_default(tmp_path):
    config = load_cluster_file(write(tmp_path, "name: x\n"))
    assert config == {
        "name": "x",
        **DEFAULTS,
        "results": {"dir": str(tmp_path / "output"), "s3": None, "history": 1000},
        "cluster_file": str(tmp_path / "cluster.yaml"),
        "base_dir": str(tmp_path),
    }


def test_partial_sections_are_completed_and_values_kept(tmp_path):
    text = "name: x\nsize: 3\nports: {source: 7101}\njob: {slowness: 0}\nsource: {rows: 5}\n"
    config = load_cluster_file(write(tmp_path, text))
    assert config["size"] == 3
    assert config["ports"] == {**DEFAULTS["ports"], "source": 7101}
    assert config["job"] == {**DEFAULTS["job"], "slowness": 0}
    assert config["source"] == {"kind": "synthetic", "rows": 5, "seed": 0}


def test_the_sources_command_line_defaults_are_the_schemas():
    """The app is installed without the schema: a source started by hand runs as the loader's
    defaults say."""
    from classifier.__main__ import _batch_rows, _parser

    argv = ["source", "--listen", "127.0.0.1:1", "--scheduler", "x", "--sink", "127.0.0.1:2"]
    args = vars(_parser().parse_args(argv))
    given = {**DEFAULTS["job"], "batch_rows": _batch_rows(DEFAULTS["job"]["batch_rows"])}
    for key in DEFAULTS["job"].keys() - {"timeout", "deadline"}:  # the controller's own
        assert args[key] == given[key], key
    for command in (["classify", "in.csv", "out.csv"], ["try", "--seed", "0"]):
        args = vars(_parser().parse_args(command))
        for key in ("classifier", "classifier_args", "result_column", "slowness"):
            assert args[key] == DEFAULTS["job"][key], (command[0], key)


@pytest.mark.parametrize("limit", [0, 100, 0.01, 1.0])
def test_max_rejects_takes_a_count_or_a_fraction(tmp_path, limit):
    config = load_cluster_file(write(tmp_path, f"name: x\njob: {{max_rejects: {limit}}}\n"))
    assert config["job"]["max_rejects"] == limit


def test_validate_config_takes_a_mapping_and_leaves_it_alone(tmp_path):
    data = {"name": "x", "results": {"dir": "out/../runs"}}
    config = validate_config(data, tmp_path)
    assert data == {"name": "x", "results": {"dir": "out/../runs"}}
    assert config["results"]["dir"] == str(tmp_path / "runs")
    assert config["base_dir"] == str(tmp_path)
    assert "cluster_file" not in config


def test_relative_paths_resolve_against_the_cluster_file_directory(tmp_path, monkeypatch):
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "rows.csv").write_text("a,b\n1,2\n")
    absolute_results = tmp_path / "elsewhere"
    text = (
        "name: x\nsource: {kind: file, path: data/rows.csv}\n"
        f"results: {{dir: '{absolute_results}'}}\n"
    )
    path = write(tmp_path / "conf", text)
    monkeypatch.chdir(tmp_path)
    config = load_cluster_file(Path("conf") / "cluster.yaml")
    assert config["source"] == {"kind": "file", "path": str(tmp_path / "conf/data/rows.csv")}
    assert config["results"]["dir"] == str(absolute_results)
    assert config["cluster_file"] == str(path)
    assert config["base_dir"] == str(tmp_path / "conf")


def test_s3_source_keeps_only_its_own_keys(tmp_path):
    config = load_cluster_file(
        write(tmp_path, "name: x\nsource: {kind: s3, url: s3://bkt/a.csv}\n")
    )
    assert config["source"] == {"kind": "s3", "url": "s3://bkt/a.csv"}


INVALID = [
    pytest.param(
        "name: x\nsizes: 3\n",
        "sizes",
        ["unknown key", "allowed keys: name, provider, size,"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        "name: x\nsource:\n  rowz: 5\n",
        "source.rowz",
        ["unknown key", "allowed keys: kind, rows, seed"],
        id="unknown-nested-key",
    ),
    pytest.param(
        "name: x\njob: {timout: 5}\n",
        "job.timout",
        ["unknown key", "timeout"],
        id="unknown-key-in-job",
    ),
    pytest.param("name: x\nsize: '3'\n", "size", ["'3'", "must be an integer"], id="wrong-type"),
    pytest.param("name: x\nports: 8786\n", "ports", ["8786", "must be a mapping"], id="not-a-map"),
    pytest.param(
        "name: x\njob: {slowness: -3}\n",
        "job.slowness",
        ["-3", "must be an integer from 0 to 1000000"],
        id="out-of-range-low",
    ),
    pytest.param("name: x\nsize: 65\n", "size", ["65", "from 1 to 64"], id="out-of-range-high"),
    pytest.param(
        "name: x\njob: {max_rejects: 2.5}\n",
        "job.max_rejects",
        ["2.5", "must be a whole number of rows, or a fraction below 1"],
        id="rejects-neither-count-nor-fraction",
    ),
    pytest.param(
        "name: x\njob: {max_rejects: '1%'}\n",
        "job.max_rejects",
        ["'1%'", "must be a number or null"],
        id="rejects-as-text",
    ),
    pytest.param(
        "name: x\njob: {on_error: skip}\n",
        "job.on_error",
        ["'skip'", "must be one of: fail, reject"],
        id="bad-on-error",
    ),
    pytest.param(
        "name: x\njob: {max_columns: 0}\n",
        "job.max_columns",
        ["0", "from 1 to 1048576"],
        id="no-columns",
    ),
    pytest.param(
        "name: x\njob: {stall_timeout: 0}\n",
        "job.stall_timeout",
        ["0", "must be an integer from 1 to 86400"],
        id="stall-timeout-zero",
    ),
    pytest.param(
        "name: x\njob: {stall_timeout: 30s}\n",
        "job.stall_timeout",
        ["'30s'", "must be an integer"],
        id="stall-timeout-as-text",
    ),
    pytest.param(
        "name: x\njob: {max_frame_bytes: 100}\n",
        "job.max_frame_bytes",
        ["100", "from 65536 to 1073741824"],
        id="frame-limit-too-small",
    ),
    pytest.param(
        "name: x\nports: {dashboard: 80}\n",
        "ports.dashboard",
        ["80", "from 1024 to 65535"],
        id="privileged-port",
    ),
    pytest.param(
        "name: x\nprovider: gcp\n",
        "provider",
        ["'gcp'", "must be one of: local, static, aws"],
        id="bad-enum",
    ),
    pytest.param(
        "name: x\nsource: {kind: ftp}\n",
        "source.kind",
        ["'ftp'", "must be one of: synthetic, file, s3"],
        id="bad-source-kind",
    ),
    pytest.param(
        "name: x\njob: {classifier: black_box.classify}\n",
        "job.classifier",
        ["'black_box.classify'", "matching", "e.g. 'classifier.black_box:classify'"],
        id="bad-classifier-pattern",
    ),
    pytest.param(
        "name: x\njob: {classifier_args: [0.5]}\n",
        "job.classifier_args",
        ["[0.5]", "must be a mapping"],
        id="classifier-args-not-a-mapping",
    ),
    pytest.param(
        "name: x\njob: {classifier_args: {slowness: 5}}\n",
        "job.classifier_args.slowness",
        ["5", "not allowed here", "job.slowness"],
        id="slowness-in-classifier-args",
    ),
    pytest.param(
        "name: x\njob: {result_column: ''}\n",
        "job.result_column",
        ["''", "must be a string of 1 to 256 characters"],
        id="empty-result-column",
    ),
    pytest.param(
        "name: My Cluster\n", "name", ["'My Cluster'", "matching ^[a-z]"], id="bad-name-pattern"
    ),
    pytest.param("size: 2\n", "name", ["missing", "required"], id="missing-name"),
    pytest.param(
        "name: x\nsource: {kind: file}\n",
        "source.path",
        ["missing", "required"],
        id="file-source-without-path",
    ),
    pytest.param(
        "name: x\nsource: {kind: file, path: missing.csv}\n",
        "source.path",
        ["'missing.csv'", "must name an existing file", "missing.csv)"],
        id="file-source-path-does-not-exist",
    ),
    pytest.param(
        "name: x\nsource: {kind: synthetic, path: rows.csv}\n",
        "source.path",
        ["unknown key", "allowed keys: kind, rows, seed"],
        id="synthetic-source-with-path",
    ),
    pytest.param(
        "name: x\nsource: {path: rows.csv}\n",
        "source.path",
        ["unknown key", "allowed keys: kind, rows, seed"],
        id="default-kind-source-with-path",
    ),
    pytest.param(
        "name: x\nsource: {kind: s3, url: 'https://bkt/a.csv'}\n",
        "source.url",
        ["'https://bkt/a.csv'", "matching ^s3://"],
        id="bad-s3-url",
    ),
    pytest.param(
        "name: x\nports: {source: 8786}\n",
        "ports.source",
        ["8786", "must differ from ports.scheduler"],
        id="duplicate-ports",
    ),
    pytest.param(
        "name: x\nprovider: aws\n",
        "provider",
        ["provider: 'aws' needs an 'aws' section"],
        id="aws-without-aws-section",
    ),
    pytest.param(
        "name: x\nprovider: static\n",
        "provider",
        ["needs a 'static' section"],
        id="static-without-static-section",
    ),
    pytest.param(
        "name: x\nprovider: static\nstatic: {hosts: []}\n",
        "static.hosts",
        ["[]", "at least 1 item"],
        id="static-without-hosts",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {region: mars, ssh_cidr: 203.0.113.7/32}\n",
        "aws.region",
        ["'mars'", "matching"],
        id="bad-aws-region",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {region: eu-west-1}\n",
        "aws.ssh_cidr",
        ["missing — required"],
        id="aws-without-ssh-cidr",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 0.0.0.0/0}\n",
        "aws.ssh_cidr",
        ["'0.0.0.0/0'", "must not be open to the world"],
        id="ssh-open-to-the-world",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: '::/0'}\n",
        "aws.ssh_cidr",
        ["'::/0'", "must not be open to the world"],
        id="ssh-open-to-the-world-v6",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/24}\n",
        "aws.ssh_cidr",
        ["'203.0.113.7/24'", "must be a CIDR block", "host bits set"],
        id="ssh-cidr-with-host-bits",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/32, instance_type: t2.micro}\n",
        "aws.instance_type",
        ["'t2.micro'", "must be one of: t3.medium"],
        id="unknown-instance-type",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/32, ami: ami-xyz}\n",
        "aws.ami",
        ["'ami-xyz'", "matching ^ami-", "or a mapping"],
        id="bad-ami-id",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/32, ami: {owner: '099720109477'}}\n",
        "aws.ami.name",
        ["missing — required"],
        id="ami-lookup-without-name",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/32, spot: {max_price: 0}}\n",
        "aws.spot.max_price",
        ["0", "above 0 and at most 100"],
        id="spot-price-zero",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/32, alerts: {sms: ['555-0100']}}\n",
        "aws.alerts.sms[0]",
        ["'555-0100'", "matching ^\\+[1-9]"],
        id="sms-not-e164",
    ),
    pytest.param(
        "name: x\nprovider: aws\njob: {timeout: 9000}\naws: {ssh_cidr: 203.0.113.7/32}\n",
        "aws.max_lifetime",
        ["7200", "must be at least job.timeout (9000 s) + 600 s for boot and install"],
        id="lifetime-shorter-than-the-job",
    ),
    pytest.param(
        "name: x\nprovider: aws\naws: {ssh_cidr: 203.0.113.7/32, state: 'http://x'}\n",
        "aws.state",
        ["'http://x'", "matching ^(file://"],
        id="bad-pulumi-backend",
    ),
    pytest.param(
        "name: x\nprovider: static\nsize: 3\nstatic: {hosts: [10.77.0.10, 10.77.0.11]}\n",
        "static.hosts",
        ["2 host(s)", "at least size (3)"],
        id="static-fewer-hosts-than-size",
    ),
    pytest.param(
        "name: x\nprovider: static\nstatic: {hosts: [10.77.0.10], ssh_key: keys/none}\n",
        "static.ssh_key",
        ["'keys/none'", "must name an existing file"],
        id="static-key-missing",
    ),
    pytest.param(
        "name: x\nresults: {s3: 'my-bucket/out'}\n",
        "results.s3",
        ["'my-bucket/out'", "matching ^s3://"],
        id="results-s3-without-scheme",
    ),
    pytest.param(
        "name: x\nsize: [1, 2\n",
        "(top level)",
        ["not valid YAML", "line 3, column 1"],
        id="yaml-syntax-error",
    ),
    pytest.param(
        "name: x\n  size: 2\n",
        "(top level)",
        ["not valid YAML", "line 2, column 7", "mapping values are not allowed"],
        id="yaml-bad-indentation",
    ),
    pytest.param(
        "name: x\nsize: 2\nsize: 3\n",
        "(top level)",
        ["not valid YAML", "line 3, column 1", "duplicate key 'size'"],
        id="duplicate-key",
    ),
    pytest.param(
        "name: x\nsize: 2020-13-01\n",
        "(top level)",
        ["not valid YAML", "line 2, column 7", "month must be in 1..12"],
        id="impossible-date",
    ),
    pytest.param(
        f"name: x\nsize: 0x{'f' * 5000}\n",
        "(top level)",
        ["an integer of 5002 characters at line 2, column 7", "at most 100"],
        id="integer-too-long-to-print",
    ),
    pytest.param(
        f"name: x\nsize: {'[' * 40}{']' * 40}\n",
        "(top level)",
        [f"more than {MAX_DEPTH} levels of nesting (reached at line 2, column 38)"],
        id="nested-too-deep",
    ),
    pytest.param(
        "name: x\na: &a [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]\nb: [[[[[[[[[[[[*a]]]]]]]]]]]]\n",
        "(top level)",
        ["levels of nesting, aliases written out", "the alias *a at line 3, column 16"],
        id="nested-too-deep-through-an-alias",
    ),
    pytest.param(
        "name: x\nsize: [" + "0, " * MAX_VALUES + "0]\n",
        "(top level)",
        [f"more than {MAX_VALUES} values (reached at line 2, column", "at most 1000 values"],
        id="too-many-values",
    ),
    pytest.param(
        "name: x\n" + alias_chain("[lol, lol, lol, lol, lol, lol, lol, lol, lol]", "[{}]", 9),
        "(top level)",
        [f"more than {MAX_VALUES} values, aliases written out", "the alias *c at line 5"],
        id="alias-bomb",
    ),
    pytest.param(
        "name: x\n" + alias_chain("{k: v}", "{{<<: [{}]}}", 10),
        "(top level)",
        [f"more than {MAX_VALUES} values, aliases written out", "the alias *c at line 5"],
        id="merge-key-bomb",
    ),
    pytest.param(
        "name: x\nsource: &s {kind: synthetic, rows: [1, *s]}\n",
        "(top level)",
        ["the alias *s at line 2, column 40 is inside the value it names"],
        id="alias-inside-its-own-value",
    ),
    pytest.param("", "(top level)", ["empty file", "mapping"], id="empty-file"),
    pytest.param("# only a comment\n", "(top level)", ["empty file"], id="comment-only-file"),
    pytest.param(
        "# comment\n- name: x\n",
        "(top level)",
        ["[{'name': 'x'}]", "must be a mapping", "line 2, column 1"],
        id="top-level-list",
    ),
]


@pytest.mark.parametrize(("text", "field", "words"), INVALID)
def test_invalid_file_is_reported_by_field(tmp_path, text, field, words):
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.startswith(f"{field}: "), problem
    for word in words:
        assert word in problem, f"{word!r} not in {problem!r}"


def test_every_problem_is_reported_at_once(tmp_path):
    text = "name: X\nprovider: gcp\nsize: 0\njob: {slowness: -3, batch_rows: x}\nextra: 1\n"
    path = write(tmp_path, text)
    with pytest.raises(ClusterConfigError) as caught:
        load_cluster_file(path)
    fields = sorted(problem.split(":")[0] for problem in caught.value.problems)
    assert fields == ["extra", "job.batch_rows", "job.slowness", "name", "provider", "size"]
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid cluster file:\n")
    assert message.splitlines()[1:] == caught.value.problems
    assert isinstance(caught.value, ValueError)


def test_anchors_aliases_and_merge_keys_still_work(tmp_path):
    text = (
        "name: x\n"
        "job: &job {slowness: 7, timeout: 300}\n"
        "source: {kind: synthetic, rows: &rows 50}\n"
        "ports: {<<: &ports {scheduler: 9000, dashboard: 9001}, source: 9002}\n"
        "results: {dir: &dir out}\n"
        "x-unused: {<<: [*job, *ports], rows: *rows, dir: *dir}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert problems == ["x-unused: unknown key — allowed keys: " + ", ".join(SCHEMA["properties"])]
    config = load_cluster_file(write(tmp_path, text.replace("x-unused", "# x-unused")))
    assert config["job"]["slowness"] == 7
    assert config["ports"] == {
        "scheduler": 9000,
        "dashboard": 9001,
        "source": 9002,
        "receiver": DEFAULTS["ports"]["receiver"],
    }


def test_long_values_and_keys_are_cut(tmp_path):
    text = f"name: {'a' * 1000}\n{'k' * 1000}: 1\n"
    problems = problems_of(write(tmp_path, text))
    name = next(p for p in problems if p.startswith("name: "))
    shown = name.split(" — ")[0].removeprefix("name: ")
    assert shown == "'" + "a" * (SHOWN_CHARS - 4) + "..."
    key = next(p for p in problems if p.startswith("kkk"))
    assert key == "k" * (SHOWN_CHARS - 3) + "...: unknown key — allowed keys: " + ", ".join(
        SCHEMA["properties"]
    )


def test_cut_keeps_short_text_and_cuts_long_text_to_its_limit():
    assert cut("short") == "short"
    assert cut("x" * SHOWN_CHARS) == "x" * SHOWN_CHARS
    assert cut("x" * (SHOWN_CHARS + 1)) == "x" * (SHOWN_CHARS - 3) + "..."


@pytest.mark.parametrize(
    "value",
    [None, 3, -2.5, "it's", b"\x00", [], {}, [1, "a"], {"a": [1, {"b": None}]}, (1, 2), {3}],
)
def test_a_small_value_is_shown_as_repr_writes_it(value):
    assert _show(value) == repr(value)


def test_a_value_is_cut_without_writing_it_all_out():
    bomb = ["lol"] * 9
    for _ in range(12):  # 9**13 strings, written out: repr would never end
        bomb = [bomb] * 9
    shown = _show({"a": bomb})
    assert len(shown) == SHOWN_CHARS
    assert shown.startswith("{'a': [[[[[[[[[[[[['lol', 'lol', ")
    assert shown.endswith("...")
    assert len(_show("z" * 10**7)) == SHOWN_CHARS


def test_a_value_that_contains_itself_is_shown_as_repr_writes_it():
    loop = [1]
    loop.append({"again": loop})
    assert _show(loop) == repr(loop) == "[1, {'again': [...]}]"


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "cluster.yaml"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: reading it would take the time it saves
    assert problems_of(path) == [
        "(top level): the file is 52428800 bytes"
        " — a cluster file may be at most 1048576 bytes (1 MiB)"
    ]


def test_a_file_of_the_size_limit_is_read(tmp_path):
    head = "name: x\n"
    path = write(tmp_path, head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_cluster_file(path)["name"] == "x"
    path.write_text(path.read_text() + "\n")
    assert "the file is 1048577 bytes" in problems_of(path)[0]


def test_a_stream_without_a_size_is_read_only_to_the_limit():
    assert problems_of("/dev/zero") == [
        "(top level): the file is more than 1048576 bytes"
        " — a cluster file may be at most 1048576 bytes (1 MiB)"
    ]


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ClusterConfigError) as caught:
        load_cluster_file(path)
    assert str(caught.value).startswith(f"{path}: invalid cluster file:")
    assert "No such file" in caught.value.problems[0]


def test_validate_config_rejects_a_non_mapping(tmp_path):
    with pytest.raises(ClusterConfigError) as caught:
        validate_config(["name", "x"], tmp_path)
    assert caught.value.problems == ["(top level): ['name', 'x'] — must be a mapping"]


# Through Ansible: the action plugin on a real ansible-playbook run.


def run_ansible(tool, *args, cwd):
    return ansible(
        tool,
        *args,
        cwd=cwd,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_LOCAL_TEMP=cwd / ".ansible-tmp",
    )


PLAYBOOK = """\
- name: Load the cluster file
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Load it
      burst.cluster.config:
        path: "{{ cluster_file }}"
      register: result
    - name: Save what came back
      ansible.builtin.copy:
        content: "{{ result.config | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
    - name: Show one value
      ansible.builtin.debug:
        msg: "slowness={{ result.config.job.slowness }}"
"""


def playbook(tmp_path, *extra):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    return run_ansible("ansible-playbook", "play.yml", "-e", "out=out.json", *extra, cwd=tmp_path)


def test_action_returns_the_normalised_config(tmp_path):
    path = write(tmp_path, "name: demo\njob: {slowness: 7}\n")
    done = playbook(tmp_path, "-e", "cluster_file=cluster.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == load_cluster_file(path)
    assert "slowness=7" in done.stdout


def test_action_runs_in_check_mode(tmp_path):
    write(tmp_path, "name: demo\njob: {slowness: 7}\n")
    done = playbook(tmp_path, "-e", "cluster_file=cluster.yaml", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slowness=7" in done.stdout
    assert not (tmp_path / "out.json").exists()


def test_action_fails_naming_the_field_without_a_traceback(tmp_path):
    write(tmp_path, "name: demo\njob: {slowness: -3}\nsource: {rowz: 1}\n")
    done = playbook(tmp_path, "-e", "cluster_file=cluster.yaml")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "invalid cluster file" in output
    assert "job.slowness: -3 — must be an integer from 0 to 1000000" in output
    assert "source.rowz: unknown key — allowed keys: kind, rows, seed" in output
    assert '"problems": [' in output
    assert "Traceback" not in output
    assert not (tmp_path / "out.json").exists()


def test_action_requires_path(tmp_path):
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - burst.cluster.config: {}\n"
    )
    done = run_ansible("ansible-playbook", "play.yml", cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "missing required arguments: path" in output
    assert "Traceback" not in output


def test_ansible_doc_documents_the_action(tmp_path):
    done = run_ansible("ansible-doc", "burst.cluster.config", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stdout + done.stderr
    assert "MODULE burst.cluster.config" in done.stdout
    done = run_ansible("ansible-doc", "--json", "burst.cluster.config", cwd=tmp_path)
    entry = json.loads(done.stdout)["burst.cluster.config"]
    assert entry["doc"]["short_description"] == "Load and validate a burst cluster file"
    assert entry["doc"]["options"]["path"]["required"] is True
    assert entry["doc"]["attributes"]["check_mode"]["support"] == "full"
    assert entry["doc"]["attributes"]["action"]["support"] == "full"
    assert entry["doc"]["has_action"] is True
    assert set(entry["return"]) == {"config", "longest_run_minutes", "problems"}
    assert yaml.safe_load(entry["examples"])[0]["burst.cluster.config"]["path"] == "cluster.yaml"


def test_module_bypassing_the_action_fails_clearly(tmp_path):
    module = COLLECTIONS / "ansible_collections/burst/cluster/plugins/modules/config.py"
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": "cluster.yaml"}}))
    # with the collection importable, as Ansible's module payload makes its module_utils
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    done = subprocess.run(
        [sys.executable, str(module), str(args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode != 0
    result = json.loads(done.stdout)
    assert result["failed"] is True
    assert "action plugin" in result["msg"]


def test_aws_section_gets_its_defaults_and_a_state_beside_the_file(tmp_path):
    config = load_cluster_file(
        write(tmp_path, "name: x\nprovider: aws\naws: {ssh_cidr: '2001:db8::/48', spot: true}\n")
    )
    assert config["aws"] == {
        "ssh_cidr": "2001:db8::/48",
        "spot": True,
        "region": "us-west-2",
        "instance_type": "c5.xlarge",
        "ami": {
            "owner": "099720109477",
            "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
        },
        "ssh_user": "ubuntu",
        "max_lifetime": 7200,
        "state": f"file://{tmp_path / '.burst' / 'pulumi'}",
        "alerts": {"sms": [], "email": []},
        "keep_stack": False,
    }
    assert recheck(config) == config
