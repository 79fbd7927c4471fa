"""The one loader of burst cluster files (cluster.yaml), checked against the collection's
schema/cluster.schema.json.

Every mistake in the file comes back as one ClusterConfigError listing all problems, each as
``<field path>: <value> — <what is allowed>``, the value cut to SHOWN_CHARS characters.
The file is read within bounds (its size; its values, their characters and their nesting, aliases
written out), so a hostile one is refused within seconds, never after exhausting the machine.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Hashable
from pathlib import Path

import yaml
from ansible_collections.burst.cluster.plugins.module_utils import providers
from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
SCHEMA_PATH = SCHEMA_DIR / "cluster.schema.json"
DERIVED_KEYS = ("cluster_file", "base_dir")
SETUP_SECONDS = 600  # what an aws machine may spend booting and installing before the job
TEARDOWN_SECONDS = 600  # what collecting the results and destroying the stack may take

# A real cluster file is under a few kB, with under a hundred values nested 3 deep. The values
# and their characters are counted with aliases written out, which refuses alias bombs.
MAX_FILE_BYTES = 1024 * 1024  # also the most characters the values may hold
MAX_VALUES = 1000
MAX_DEPTH = 32
MAX_INTEGER_CHARS = 100  # longer integers cannot always be printed (Python's 4300-digit limit)
SHOWN_CHARS = 200  # the most of one value, key or quoted text a message shows

TOP_LEVEL = "(top level)"
TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


class ClusterConfigError(ValueError):
    """A cluster file that cannot be used; ``problems`` lists every mistake found."""

    def __init__(self, problems, file="cluster config"):
        self.problems = list(problems)
        self.file = str(file)
        super().__init__(f"{self.file}: invalid cluster file:\n" + "\n".join(self.problems))


class _Refused(yaml.YAMLError):
    """YAML that is valid but beyond what a cluster file may hold."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also refuses duplicate keys, integers too long to print, and
    more than MAX_VALUES values, MAX_FILE_BYTES characters or MAX_DEPTH levels of nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self.values = self.chars = self.depth = self.deepest = 0
        self.sizes = {}  # an anchored node -> its (values, chars, levels)

    def compose_node(self, parent, index):
        event = self.peek_event()
        at = _where(event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            at = f"the alias *{cut(event.anchor)} at {at}"
            if node not in self.sizes:  # its value is still open: the alias is inside it
                raise _Refused(
                    f"{at} is inside the value it names"
                    " — an alias may only name a value that ends before it"
                )
            self._count(*self.sizes[node], at)
            return node
        start = (self.values, self.chars, self.deepest)
        self.deepest = self.depth
        self._count(1, len(event.value) if isinstance(event, yaml.ScalarEvent) else 0, 1, at)
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        if event.anchor is not None:
            self.sizes[node] = (
                self.values - start[0],
                self.chars - start[1],
                self.deepest - self.depth,
            )
        self.deepest = max(self.deepest, start[2])
        return node

    def _count(self, values, chars, levels, at):
        """Count a value of ``values`` values, ``chars`` characters and ``levels`` levels."""
        self.values += values
        self.chars += chars
        self.deepest = max(self.deepest, self.depth + levels)
        for found, limit, what in (
            (self.values, MAX_VALUES, "values"),
            (self.chars, MAX_FILE_BYTES, "characters"),
            (self.deepest, MAX_DEPTH, "levels of nesting"),
        ):
            if found > limit:
                written = ", aliases written out" if self.sizes else ""
                raise _Refused(
                    f"more than {limit} {what}{written} (reached at {at})"
                    f" — a cluster file may hold at most {limit} {what}"
                )

    def construct_object(self, node, deep=False):
        if node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_INTEGER_CHARS:
            raise _Refused(
                f"an integer of {len(node.value)} characters at {_where(node.start_mark)}"
                f" — a cluster file's integers may have at most {MAX_INTEGER_CHARS}"
            )
        try:
            return super().construct_object(node, deep=deep)
        except ValueError as exc:  # e.g. the date 2020-13-01
            raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_show(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@functools.cache
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def largest_size() -> int:
    """The most machines ``size`` may name."""
    return next(
        choice["maximum"]
        for choice in _schema()["properties"]["size"]["anyOf"]
        if "maximum" in choice
    )


def load_cluster_file(path, overrides=None) -> dict:
    """Read, validate and normalise a cluster file, with ``overrides`` (a mapping of sections,
    e.g. ``{"source": {"rows": 100}}``) merged in; raise ClusterConfigError on any mistake."""
    path = Path(os.path.abspath(os.path.expanduser(path)))
    text = _read(path)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except _Refused as exc:
        raise ClusterConfigError([f"{TOP_LEVEL}: {exc}"], path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{_where(mark)}: " if mark else ""
        problem = cut(getattr(exc, "problem", None) or str(exc))
        problem = f"{TOP_LEVEL}: not valid YAML — {where}{problem}"
        raise ClusterConfigError([problem], path) from None
    finally:
        loader.dispose()
    if data is None:
        problem = f"{TOP_LEVEL}: empty file — must be a mapping with a 'name'"
        raise ClusterConfigError([problem], path)
    if not isinstance(data, dict):
        problem = f"{TOP_LEVEL}: {_show(data)} — must be a mapping ({_where(node.start_mark)})"
        raise ClusterConfigError([problem], path)
    if overrides:
        data = _merged(data, overrides)
        label = f"{path} with {json.dumps(overrides, sort_keys=True)}"
        try:
            config = validate_config(data, path.parent, cluster_file=path)
        except ClusterConfigError as error:
            raise ClusterConfigError(error.problems, label) from None
        return config
    return validate_config(data, path.parent, cluster_file=path)


def _read(path: Path) -> str:
    """The text of the file at ``path``, read only if it is at most MAX_FILE_BYTES."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = b"" if size > MAX_FILE_BYTES else handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:  # a file that has no size, such as a pipe
            size = f"more than {MAX_FILE_BYTES}"
        elif size <= MAX_FILE_BYTES:
            return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ClusterConfigError([f"{TOP_LEVEL}: cannot read the file — {reason}"], path) from None
    limit = f"at most {MAX_FILE_BYTES} bytes ({MAX_FILE_BYTES >> 20} MiB)"
    problem = f"{TOP_LEVEL}: the file is {size} bytes — a cluster file may be {limit}"
    raise ClusterConfigError([problem], path)


def validate_config(data, base_dir, cluster_file=None) -> dict:
    """Validate and normalise a parsed cluster mapping; relative paths start at base_dir."""
    base_dir = os.path.abspath(os.path.expanduser(base_dir))
    errors = Draft202012Validator(_schema()).iter_errors(data)
    problems = [problem for error in errors for problem in _render(error)]
    config = None
    if isinstance(data, dict):
        config = copy.deepcopy(data)
        _fill_defaults(_schema(), config)
        problems += _cross_field_problems(config, base_dir)
    if problems:
        raise ClusterConfigError(dict.fromkeys(problems), cluster_file or "cluster config")
    if cluster_file is not None:
        config["cluster_file"] = os.path.abspath(cluster_file)
    config["base_dir"] = base_dir
    return config


def longest_run_seconds(config) -> int:
    """The longest a run of ``config`` may take, from provisioning to the end of teardown."""
    return config["job"]["timeout"] + SETUP_SECONDS + TEARDOWN_SECONDS


def recheck(config) -> dict:
    """Validate a config this loader returned (and a caller may have changed) once more."""
    if not isinstance(config, dict):
        raise ClusterConfigError([f"{TOP_LEVEL}: {_show(config)} — must be a mapping"])
    given = {key: value for key, value in config.items() if key not in DERIVED_KEYS}
    return validate_config(given, config.get("base_dir", "."), config.get("cluster_file"))


def _merged(data: dict, overrides: dict) -> dict:
    merged = dict(data)
    for key, value in overrides.items():
        old = merged.get(key)
        both = isinstance(old, dict) and isinstance(value, dict)
        merged[key] = _merged(old, value) if both else value
    return merged


def _render(error) -> list[str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return [f"{_field([*path, key])}: missing — required" for key in missing]
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed_keys(error.schema, error.instance)
        unknown = [key for key in error.instance if key not in allowed]
        return [
            f"{_field([*path, key])}: unknown key — allowed keys: {', '.join(allowed)}"
            for key in unknown
        ]
    if error.validator == "anyOf":
        allowed = "must be " + " or ".join(
            repr(branch["const"]) if "const" in branch else _describe(branch)[len("must be ") :]
            for branch in error.validator_value
        )
    elif error.validator == "type":
        allowed = "must be " + _type_name(error.validator_value)
    elif "type" in error.schema or "enum" in error.schema:
        allowed = _describe(error.schema)
    else:
        allowed = cut(error.message)
    return [f"{_field(path)}: {_show(error.instance)} — {allowed}"]


def _allowed_keys(object_schema, instance) -> list[str]:
    keys = list(object_schema.get("properties", {}))
    branches = [branch for branch in object_schema.get("allOf", []) if "if" in branch]
    matching = [b for b in branches if Draft202012Validator(b["if"]).is_valid(instance)]
    for branch in matching or branches:
        keys += [key for key in branch.get("then", {}).get("properties", {}) if key not in keys]
    return keys


def _describe(schema) -> str:
    if "enum" in schema:
        return "must be one of: " + ", ".join(str(value) for value in schema["enum"])
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "pattern" in schema and len(types) > 1:  # e.g. an id string, or a mapping to look one up
        others = _type_name([name for name in types if name != "string"])
        return _describe({**schema, "type": "string"}) + f"; or {others}"
    text = "must be " + _type_name(types)
    low, high = schema.get("minimum"), schema.get("maximum")
    if "exclusiveMinimum" in schema:
        text += f" above {schema['exclusiveMinimum']}"
        text += f" and at most {high}" if high is not None else ""
    elif low is not None and high is not None:
        text += f" from {low} to {high}"
    elif low is not None:
        text += f" of at least {low}"
    elif high is not None:
        text += f" of at most {high}"
    if "maxLength" in schema:
        text += f" of {schema.get('minLength', 0)} to {schema['maxLength']} characters"
    elif "minLength" in schema:
        text += f" of at least {_count(schema['minLength'], 'character')}"
    if "minItems" in schema:
        text += f" of at least {_count(schema['minItems'], 'item')}"
    if "pattern" in schema:
        text += f" matching {schema['pattern']}"
        if schema.get("examples"):
            text += f", e.g. {schema['examples'][0]!r}"
    return text


def _fill_defaults(schema, instance) -> None:
    if not isinstance(instance, dict):
        return
    for key, subschema in schema.get("properties", {}).items():
        if key not in instance and "default" in subschema:
            instance[key] = copy.deepcopy(subschema["default"])
        if key in instance:
            _fill_defaults(subschema, instance[key])
    for branch in schema.get("allOf", []):
        if "if" in branch and Draft202012Validator(branch["if"]).is_valid(instance):
            _fill_defaults(branch.get("then", {}), instance)


def _cross_field_problems(config, base_dir) -> list[str]:
    problems = []
    ports = config.get("ports")
    if isinstance(ports, dict):
        first_use = {}
        for field, port in reversed(ports.items()):  # defaults come last: blame the user's key
            if type(port) is not int:
                continue
            if port in first_use:
                problems.append(
                    f"{_field(['ports', field])}: {port} — must differ from"
                    f" {_field(['ports', first_use[port]])}"
                )
            else:
                first_use[port] = field
    provider = config.get("provider")
    section = providers.get(provider).SECTION if provider in providers.names() else None
    if section and section not in config:
        article = "an" if section[0] in "aeiou" else "a"
        problems.append(f"provider: {provider!r} needs {article} {section!r} section")
    job = config.get("job")
    limit = job.get("max_rejects") if isinstance(job, dict) else None
    if isinstance(limit, float) and limit >= 1 and not limit.is_integer():
        problems.append(
            f"job.max_rejects: {limit} — must be a whole number of rows, or a fraction below 1"
        )
    arguments = job.get("classifier_args") if isinstance(job, dict) else None
    if isinstance(arguments, dict) and "slowness" in arguments:
        problems.append(
            f"job.classifier_args.slowness: {_show(arguments['slowness'])} — not allowed here;"
            " the classifier gets job.slowness if it has a parameter named slowness"
        )
    problems += _deadline_problems(config)
    source = config.get("source")
    if isinstance(source, dict) and source.get("kind") == "file":
        problems += _existing_file(source, "path", "source", base_dir)
    results = config.get("results")
    if isinstance(results, dict) and isinstance(results.get("dir"), str) and results["dir"]:
        results["dir"] = _resolve(base_dir, results["dir"])
    if provider in providers.names() and (not section or isinstance(config.get(section), dict)):
        problems += providers.get(provider).problems(config, base_dir)
    return problems


DEADLINE_UNITS = {"s": 1, "m": 60, "h": 3600}


def _deadline_problems(config) -> list[str]:
    """job.deadline in seconds ('45m' -> 2700); size auto needs one."""
    job = config.get("job")
    deadline = job.get("deadline") if isinstance(job, dict) else None
    if isinstance(deadline, str) and deadline[:-1].isdigit() and deadline[-1:] in DEADLINE_UNITS:
        job["deadline"] = deadline = int(deadline[:-1]) * DEADLINE_UNITS[deadline[-1]]
    if config.get("size") == "auto" and isinstance(job, dict) and deadline is None:
        return ["size: 'auto' — needs job.deadline, the time a run must finish in (e.g. '45m')"]
    return []


def _existing_file(section: dict, key: str, name: str, base_dir) -> list[str]:
    """Resolve ``section[key]`` against base_dir; a problem if no such file exists."""
    given = section.get(key)
    if not (isinstance(given, str) and given):
        return []
    section[key] = _resolve(base_dir, given)
    if os.path.isfile(section[key]):
        return []
    return [
        f"{name}.{key}: {_show(given)} — must name an existing file"
        f" (looked for {cut(section[key])})"
    ]


def _resolve(base_dir, path) -> str:
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(path)))


def _field(path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return cut(text) or TOP_LEVEL


def _where(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def cut(text: str) -> str:
    """``text``, or its start and '...' in SHOWN_CHARS characters."""
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _show(value) -> str:
    """``value`` as repr writes it, cut by ``cut``; only that much of it is ever written out,
    so a huge or self-containing value costs no more than a small one."""
    text = ""
    for part in _repr_parts(value, set()):
        text += part
        if len(text) > SHOWN_CHARS:
            break
    return cut(text)


def _repr_parts(value, open_ids):
    brackets = {dict: "{}", list: "[]", tuple: "()", set: "{}", frozenset: "{}"}
    kind = next((kind for kind in brackets if isinstance(value, kind)), None)
    if kind is None or not value:
        yield repr(value[: SHOWN_CHARS + 1]) if isinstance(value, str | bytes) else repr(value)
        return
    if id(value) in open_ids:
        yield brackets[kind][0] + "..." + brackets[kind][1]
        return
    open_ids.add(id(value))
    yield brackets[kind][0]
    for index, item in enumerate(value.items() if kind is dict else value):
        yield ", " if index else ""
        if kind is dict:
            yield from _repr_parts(item[0], open_ids)
            yield ": "
            item = item[1]
        yield from _repr_parts(item, open_ids)
    yield brackets[kind][1]
    open_ids.discard(id(value))


def _type_name(type_) -> str:
    types = type_ if isinstance(type_, list) else [type_]
    return " or ".join(TYPE_NAMES.get(name, name) for name in types)


def _count(number, noun) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
