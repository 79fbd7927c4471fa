"""The charts of one run: their data (``timeline.json``), the page that shows them
(``report.html``, plotly with its JavaScript inlined, so it opens without a network) and the
same shapes as Mermaid ``xychart-beta`` blocks for Markdown (GitHub renders them).

The data comes from the run's files: the source's ``batches.csv`` (one line per batch: its
worker, when it started and stopped there, when its rows went on), ``manifest.json``, and
the times at which the controller began each phase.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os

PHASES = ("provision", "install", "start", "job", "collect", "teardown")
BATCHES = "batches.csv"
DASK_REPORT = "dask-report.html"
RATE_POINTS = 30  # bars of rows/s over the run, at most
MERMAID_LABEL = 24  # characters of an axis label, at most
MERMAID_TITLE = 80


def phases(marks: list[dict], ended_at: float) -> list[dict]:
    """The phases that began, each with its start (the earliest any host noted) and seconds
    (to the next phase's start, the last to ``ended_at``)."""
    began: dict[str, float] = {}
    for host_marks in marks:
        for name, when in (host_marks or {}).items():
            if name in PHASES:
                began[name] = min(float(when), began.get(name, math.inf))
    named = sorted(((when, name) for name, when in began.items()), key=lambda item: item[0])
    ends = [when for when, _ in named[1:]] + [ended_at] if named else []
    return [
        {"phase": name, "start": round(when, 3), "seconds": round(max(end - when, 0.0), 3)}
        for (when, name), end in zip(named, ends, strict=True)
    ]


def read_batches(path: str) -> list[dict]:
    """The batches of ``batches.csv``, in the order their rows went on; [] without the file."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
    numbers = {"first_line": int, "records": int, "rows_out": int, "rows_rejected": int}
    batches = []
    for row in rows:
        try:
            batch = {key: cast(row[key]) for key, cast in numbers.items()}
            batch.update(
                worker=row["worker"],
                started_at=float(row["started_at"]),
                stopped_at=float(row["stopped_at"]),
                forwarded_at=float(row["forwarded_at"]),
            )
        except (KeyError, TypeError, ValueError):
            continue  # a line cut short by a process that was killed
        batches.append(batch)
    return batches


def find_batches(run_dir: str) -> str | None:
    """The source's ``batches.csv`` among the run's logs (``logs/<host>/``)."""
    logs = os.path.join(run_dir, "logs")
    for host in sorted(os.listdir(logs)) if os.path.isdir(logs) else ():
        path = os.path.join(logs, host, BATCHES)
        if os.path.isfile(path):
            return path
    return None


def rows_done(batches: list[dict], since: float) -> list[list[float]]:
    """[seconds since ``since``, rows done] as each batch's rows went on (rejects count as done)."""
    done, points = 0, [[0.0, 0]]
    for batch in sorted(batches, key=lambda item: item["forwarded_at"]):
        done += batch["rows_out"] + batch["rows_rejected"]
        points.append([round(batch["forwarded_at"] - since, 3), done])
    return points


def rows_per_second(points: list[list[float]], count: int = RATE_POINTS) -> list[list[float]]:
    """[end of the interval in seconds, rows/s in it]: ``rows_done`` in equal intervals, at
    most ``count`` and about one for every two batches."""
    if len(points) < 2 or points[-1][0] <= 0:
        return []
    count = max(2, min(count, (len(points) - 1) // 2))
    step = points[-1][0] / count
    rates, index, before = [], 0, 0
    for number in range(1, count + 1):
        end = number * step
        while index + 1 < len(points) and points[index + 1][0] <= end + 1e-9:
            index += 1
        rates.append([round(end, 3), round((points[index][1] - before) / step, 1)])
        before = points[index][1]
    return rates


def timeline(
    run_id: str,
    manifest: dict,
    batches: list[dict],
    marks: list[dict],
    ended_at: float,
    cost: float | None,
    failures=(),
) -> dict:
    """Everything the charts show, as ``timeline.json`` keeps it."""
    since = manifest.get("started_at") or min(
        (batch["started_at"] for batch in batches), default=ended_at
    )
    points = rows_done(batches, since)
    data = {
        "run_id": run_id,
        "outcome": "failed" if failures else "succeeded",
        "failures": list(failures),
        "complete": bool(manifest.get("complete")),
        "partial": bool(manifest.get("partial")),
        "rows": {
            "in": manifest.get("rows_in"),
            "out": manifest.get("rows_out"),
            "rejected": manifest.get("rows_rejected"),
        },
        "job_started_at": since,
        "job_seconds": manifest.get("seconds"),
        "wall_seconds": manifest.get("wall_seconds"),
        "cost": cost,
        "phases": phases(marks, ended_at),
        "rows_done": points,
        "rows_per_second": rows_per_second(points),
        "batches": sorted(batches, key=lambda item: item["first_line"]),
    }
    predicted = manifest.get("predicted")
    if isinstance(predicted, dict) and {"size", "seconds", "basis"} <= set(predicted):
        data["predicted"] = {
            **{key: predicted[key] for key in ("size", "seconds", "basis")},
            "actual_seconds": manifest.get("wall_seconds") or manifest.get("seconds"),
        }
    return data


def page(data: dict, title: str) -> str:
    """``report.html``: the run's charts, one self-contained page."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    figures = []
    points, rates = data["rows_done"], data["rows_per_second"]
    if len(points) > 1:
        figure = make_subplots(specs=[[{"secondary_y": True}]])
        figure.add_trace(
            go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], name="rows done", mode="lines"
            )
        )
        figure.add_trace(
            go.Bar(x=[r[0] for r in rates], y=[r[1] for r in rates], name="rows/s", opacity=0.35),
            secondary_y=True,
        )
        figure.update_layout(title="Rows done over the job, and rows/s")
        figure.update_xaxes(title_text="seconds since the job's start")
        figure.update_yaxes(title_text="rows done", rangemode="tozero", secondary_y=False)
        figure.update_yaxes(title_text="rows/s", rangemode="tozero", secondary_y=True)
        figures.append(("rows", figure))
    batches = data["batches"]
    if batches:
        since = data["job_started_at"]
        figure = go.Figure(
            go.Bar(
                base=[b["started_at"] - since for b in batches],
                x=[max(b["stopped_at"] - b["started_at"], 1e-3) for b in batches],
                y=[b["worker"] or "?" for b in batches],
                orientation="h",
                customdata=[[b["first_line"], b["records"]] for b in batches],
                hovertemplate="batch from line %{customdata[0]}: %{customdata[1]} rows<br>"
                "%{base:.2f} s to %{x:.2f} s later<extra>%{y}</extra>",
                name="batches",
            )
        )
        figure.update_layout(
            title="Task stream: which worker ran which batch when", barmode="overlay"
        )
        figure.update_xaxes(title_text="seconds since the job's start")
        figures.append(("tasks", figure))
    if data["phases"]:
        figure = go.Figure(
            go.Bar(
                x=[p["seconds"] for p in data["phases"]],
                y=[p["phase"] for p in data["phases"]],
                orientation="h",
                text=[f"{p['seconds']:.1f} s" for p in data["phases"]],
            )
        )
        figure.update_layout(title="Where the wall time went, phase by phase")
        figure.update_yaxes(autorange="reversed")
        figure.update_xaxes(title_text="seconds")
        figures.append(("phases", figure))
    rows = data["rows"]
    counted = [(name, rows[name]) for name in ("in", "out", "rejected") if rows[name] is not None]
    if counted:
        figure = go.Figure(
            go.Bar(
                x=[f"rows {n}" for n, _ in counted],
                y=[v for _, v in counted],
                text=[v for _, v in counted],
            )
        )
        figure.update_layout(title="Rows in, out and rejected")
        figures.append(("counts", figure))
    if "predicted" in data and data["predicted"]["actual_seconds"] is not None:
        predicted = data["predicted"]
        figure = go.Figure(
            go.Bar(
                x=[f"predicted ({predicted['basis']})", "actual"],
                y=[predicted["seconds"], predicted["actual_seconds"]],
            )
        )
        figure.update_layout(
            title=f"Predicted against actual seconds ({predicted['size']} machines)"
        )
        figures.append(("predicted", figure))
    return _page(data, title, sections(figures))


def sections(figures: list) -> list[str]:
    """A ``<section class="chart" id="chart-<name>">`` per (name, plotly figure), plotly's
    JavaScript inlined in the first."""
    parts = []
    for number, (name, figure) in enumerate(figures):
        figure.update_layout(height=360, margin={"l": 60, "r": 30, "t": 50, "b": 40})
        parts.append(
            f'<section class="chart" id="chart-{name}">'
            + figure.to_html(
                full_html=False, include_plotlyjs=number == 0, config={"responsive": True}
            )
            + "</section>"
        )
    return parts


def document(title: str, body: str) -> str:
    """A whole page of ``body`` under ``title``."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}th{{text-align:left;padding-right:1em}}
#failed{{border:2px solid #c00;padding:0 1em;background:#fff4f4}}</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def _page(data: dict, title: str, charts: list[str]) -> str:
    escape = html.escape
    rows = data["rows"]
    facts = [
        (
            "outcome",
            data["outcome"] + (" (partial: the input did not end)" if data["partial"] else ""),
        ),
        (
            "rows",
            "not counted: no manifest was collected"
            if rows["out"] is None
            else f"{_count(rows['in'])} in, {rows['out']} out, {rows['rejected']} rejected",
        ),
        ("job time", "" if data["job_seconds"] is None else f"{data['job_seconds']} s"),
        ("wall time", "" if data["wall_seconds"] is None else f"{data['wall_seconds']} s"),
        ("cost", "unknown" if data["cost"] is None else f"${data['cost']}"),
        ("batches", str(len(data["batches"]))),
    ]
    failed = ""
    if data["failures"]:
        items = "".join(f"<li>{escape(line)}</li>" for line in data["failures"])
        failed = (
            f'<section id="failed"><h2>What failed</h2><ul>{items}</ul>'
            "<p>The charts show what was done before it.</p></section>"
        )
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts if v)
    dask = (
        f'<p>Dask\'s own view of the job: <a href="{DASK_REPORT}">{DASK_REPORT}</a>.</p>'
        if data.get("dask_report")
        else ""
    )
    charts_html = "\n".join(charts) or "<p>No batch finished: there is nothing to chart.</p>"
    return document(
        title,
        f"""<table id="facts">{table}</table>
{failed}{dask}
{charts_html}
<p>The data behind these charts: <a href="timeline.json">timeline.json</a>.</p>""",
    )


def _count(rows_in) -> str:
    return "not counted (the source never gave its count)" if rows_in is None else str(rows_in)


def mermaid_line(title: str, points: list[list[float]], y_label: str) -> str | None:
    """A Mermaid ``xychart-beta`` line of [x seconds, y] points, or None for fewer than two."""
    if len(points) < 2:
        return None
    decimals = 0 if points[-1][0] - points[0][0] >= 2 * len(points) else 1
    labels = [f"{x:.{decimals}f}" for x, _ in points]
    return mermaid_chart(title, labels, [("line", [y for _, y in points])], y_label)


def mermaid_bars(title: str, labels: list[str], values: list[float], y_label: str) -> str | None:
    """A Mermaid ``xychart-beta`` bar chart, or None without values."""
    return mermaid_chart(title, labels, [("bar", values)], y_label) if values else None


def mermaid_chart(title: str, labels: list[str], series: list[tuple], y_label: str) -> str:
    """A Mermaid ``xychart-beta`` block: ``series`` are ("bar" or "line", values), one value
    per label, on a y axis from 0."""
    top = max(value for _, values in series for value in values)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{_label(title, MERMAID_TITLE)}"',
            "    x-axis [" + ", ".join(f'"{_label(label)}"' for label in labels) + "]",
            f'    y-axis "{_label(y_label)}" 0 --> {_number(top * 1.1 or 1)}',
            *(
                f"    {kind} [" + ", ".join(_number(value) for value in values) + "]"
                for kind, values in series
            ),
            "```",
        ]
    )


def summary_blocks(data: dict) -> list[str]:
    """The Mermaid blocks of a run's summary: rows/s over the job, wall time by phase."""
    blocks = [
        mermaid_line(
            "rows/s over the job (x: seconds since its start)", data["rows_per_second"], "rows/s"
        ),
        mermaid_bars(
            "wall time by phase (s)",
            [phase["phase"] for phase in data["phases"]],
            [phase["seconds"] for phase in data["phases"]],
            "seconds",
        ),
    ]
    return [block for block in blocks if block]


def _label(text: str, most: int = MERMAID_LABEL) -> str:
    """Text Mermaid takes inside double quotes: none in it, cut to ``most`` characters."""
    text = str(text).replace('"', "'").replace("\n", " ")
    return text if len(text) <= most else text[: most - 1] + "…"


def _number(value: float) -> str:
    """A number as Mermaid reads it: digits, at most one decimal, no exponent."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def dumps(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"
