"""Reading the GitHub workflows, and the commands the README and the Makefile give a person."""

import hashlib
import re
import shlex

import yaml
from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
# A README command: `make <target>` (or `sudo make <target>`), with optional VAR=value
# arguments, inside a code span or a code block.
README_COMMAND = re.compile(r"(?<![\w-])((?:sudo )?make [a-z][a-z-]*)\b")


def workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True; GitHub reads it as "on".
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True)
    return data


def workflow_names() -> list[str]:
    return sorted(path.name for path in WORKFLOWS.glob("*.yml"))


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


def readme_commands() -> set[str]:
    """Every `make …` command the README shows, as "[sudo ]make <target>"."""
    text = (REPO / "README.md").read_text()
    code = re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.DOTALL)
    return {match for block in code for match in README_COMMAND.findall(block)}


def undefined_commands(script: str, readme: set[str], targets: set[str]) -> list[str]:
    """The lines of a step's script that are not a README command on a Makefile target."""
    wrong = []
    for line in script.strip().splitlines():
        words = [word for word in shlex.split(line) if not re.fullmatch(r"[A-Z_]+=\S*", word)]
        command = " ".join(words)
        target = words[-1] if words else ""
        if command not in readme or target not in targets:
            wrong.append(line)
    return wrong


def hash_files(workspace, patterns: list[str]) -> str:
    """GitHub's hashFiles: one hash of the files the glob patterns match in the workspace."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in patterns for p in workspace.glob(pattern) if p.is_file()}):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(text: str, workspace) -> str:
    """A cache step's key as the runner renders it (runner.arch and hashFiles only)."""

    def value(expression: str) -> str:
        if expression == "runner.arch":
            return "X64"
        call = re.fullmatch(r"hashFiles\((.+)\)", expression)
        assert call, f"a cache key with {expression!r}"
        return hash_files(workspace, re.findall(r"'([^']+)'", call[1]))

    return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", lambda match: value(match[1]), text)


def cache_steps(job: dict) -> dict[str, str]:
    """The path each actions/cache step of the job restores, and its key as written."""
    return {
        step["with"]["path"]: step["with"]["key"]
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/cache@")
    }
