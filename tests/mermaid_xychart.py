"""A validator of the Mermaid ``xychart-beta`` grammar that burst writes, for the tests.

It follows Mermaid's own grammar (packages/mermaid/src/diagrams/xychart/parser/xychart.jison)
for the statements burst uses: an optional orientation, ``title "text"``, ``x-axis`` with
a bracketed list of categories (quoted text or plain words, optionally after a quoted title)
or a ``min --> max`` range, ``y-axis ["title"] [min --> max]``, and ``line``/``bar`` data lists
of numbers. Anything else (an unknown statement, an unclosed quote, a data series whose
length differs from the categories', a value outside the y range) is an error naming the line.
"""

from __future__ import annotations

import re

NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
QUOTED = r'"[^"\n]*"'
WORD = r"[A-Za-z0-9_./%\-]+"
CATEGORY = rf"(?:{QUOTED}|{WORD})"
STATEMENTS = {
    "title": re.compile(rf"title\s+{QUOTED}"),
    "x-axis": re.compile(
        rf"x-axis(?:\s+{CATEGORY})?\s*(?:\[\s*(?P<cats>{CATEGORY}(?:\s*,\s*{CATEGORY})*)\s*\]"
        rf"|(?P<min>{NUMBER})\s*-->\s*(?P<max>{NUMBER}))"
    ),
    "y-axis": re.compile(
        rf"y-axis(?:\s+{CATEGORY})?(?:\s+(?P<min>{NUMBER})\s*-->\s*(?P<max>{NUMBER}))?"
    ),
    "line": re.compile(rf"line(?:\s+{QUOTED})?\s*\[\s*(?P<data>{NUMBER}(?:\s*,\s*{NUMBER})*)\s*\]"),
    "bar": re.compile(rf"bar(?:\s+{QUOTED})?\s*\[\s*(?P<data>{NUMBER}(?:\s*,\s*{NUMBER})*)\s*\]"),
}


class MermaidError(ValueError):
    pass


def blocks(markdown: str) -> list[str]:
    """The bodies of the ```mermaid fenced blocks of ``markdown``."""
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.S | re.M)


def validate(body: str) -> dict:
    """The chart of one block: its categories and series; MermaidError if it does not parse."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if not lines or not re.fullmatch(r"xychart-beta(?:\s+(?:horizontal|vertical))?", lines[0]):
        raise MermaidError(f"line 1: expected 'xychart-beta', got {lines[:1]}")
    chart = {"categories": None, "y_range": None, "series": [], "title": None}
    for number, line in enumerate(lines[1:], start=2):
        keyword = line.split(maxsplit=1)[0].split("[", 1)[0]
        pattern = STATEMENTS.get(keyword)
        match = pattern.fullmatch(line) if pattern else None
        if match is None:
            raise MermaidError(f"line {number}: not xychart-beta syntax: {line!r}")
        if keyword == "title":
            chart["title"] = line.split('"')[1]
        elif keyword == "x-axis" and match["cats"]:
            chart["categories"] = re.findall(CATEGORY, match["cats"])
        elif keyword == "y-axis" and match["min"] is not None:
            chart["y_range"] = (float(match["min"]), float(match["max"]))
        elif keyword in ("line", "bar"):
            chart["series"].append((keyword, [float(v) for v in re.findall(NUMBER, match["data"])]))
    if not chart["series"]:
        raise MermaidError("no line or bar data")
    for kind, values in chart["series"]:
        if chart["categories"] is not None and len(values) != len(chart["categories"]):
            raise MermaidError(
                f"{kind} has {len(values)} values for {len(chart['categories'])} categories"
            )
        if chart["y_range"] and not all(
            chart["y_range"][0] <= v <= chart["y_range"][1] for v in values
        ):
            raise MermaidError(f"{kind} has values outside the y-axis {chart['y_range']}")
    return chart
