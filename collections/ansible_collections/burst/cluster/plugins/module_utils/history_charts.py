"""The charts across a cluster's runs: ``history.html`` in results.dir (plotly, its JavaScript
inlined as in a run's ``report.html``) with every run ``run_history`` reads, failed ones marked;
and the Mermaid chart of the run time over the last runs, for a run's summary and a plan.
"""

from __future__ import annotations

import datetime
import html
import os

from ansible_collections.burst.cluster.plugins.module_utils import run_charts, run_history
from ansible_collections.burst.cluster.plugins.module_utils.run_report import run_started

PAGE = "history.html"
MERMAID_RUNS = 20  # runs in the Mermaid chart, at most
OUTCOMES = {  # how each outcome is drawn: colour, marker
    "succeeded": ("#2a7f3f", "circle"),
    "partial": ("#e08a00", "diamond"),
    "failed": ("#cc0000", "x"),
    "uncollected": ("#888888", "circle-open"),
}
CHARTS = (  # section, title, key of a run's line, y-axis
    ("rows", "Rows per run", "rows", "rows"),
    ("time", "Run time", "wall_seconds", "seconds"),
    ("rate", "Rows/s per worker, over the job", "rows_per_second_per_worker", "rows/s per worker"),
    ("cost", "Cost per run", "cost", "USD"),
)


def read(config: dict, s3_client=None) -> run_history.History:
    """Every run of ``config``'s cluster the history shows: the latest ``results.history``,
    those without a manifest too."""
    return run_history.read_history(
        config, limit=config["results"]["history"], s3_client=s3_client, uncollected=True
    )


def lines(runs: list[run_history.Run]) -> list[dict]:
    """A run's line of the history: what its manifest says, and its rows/s per worker."""
    found = []
    for run in runs:
        done = _sum(run.rows_out, run.rows_rejected)
        seconds, workers = _number(run.seconds), _number(run.workers)
        started = run_started(run.run_id) or _number(run.started_at)
        found.append(
            {
                "run_id": run.run_id,
                "started": None if started is None else _when(started),
                "outcome": run.outcome,
                "failures": [str(line) for line in _listed(run.failures)],
                "rows": _number(run.rows_in) if run.rows_in is not None else done,
                "rows_out": _number(run.rows_out),
                "rows_rejected": _number(run.rows_rejected),
                "wall_seconds": _number(run.wall_seconds),
                "job_seconds": seconds,
                "workers": workers,
                "rows_per_second_per_worker": round(done / seconds / workers, 1)
                if done is not None and seconds and workers
                else None,
                "cost": _number(run.cost),
            }
        )
    return found


def time_limit(config: dict) -> tuple[str, float]:
    """What a run's time is held against: job.deadline, else job.timeout."""
    deadline = config["job"]["deadline"]
    if deadline:
        return f"job.deadline {deadline} s", deadline
    return f"job.timeout {config['job']['timeout']} s (the job's)", config["job"]["timeout"]


def page(config: dict, history: run_history.History) -> str:
    """``history.html``: the runs' charts and table, what was skipped, or why there is none."""
    runs = lines(history.runs)
    title = f"burst history of {config['name']}: {len(runs)} run(s)"
    where = html.escape(places(config))
    skipped = "".join(f"<li>{html.escape(note)}</li>" for note in history.notes)
    skipped = f'<h2>Skipped</h2><ul id="skipped">{skipped}</ul>' if skipped else ""
    if not runs:
        body = f'<p id="no-runs">No run of {html.escape(config["name"])} in {where} yet.</p>'
        return run_charts.document(title, body + skipped)
    counts = {outcome: 0 for outcome in OUTCOMES}
    for run in runs:
        counts[run["outcome"]] += 1
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
    body = (
        f'<p id="runs">{len(runs)} run(s) from {where}: {outcomes}.</p>\n'
        + "\n".join(run_charts.sections(_figures(runs, config)))
        + _table(runs, config)
        + skipped
    )
    return run_charts.document(title, body)


def places(config: dict) -> str:
    """Where the runs are read from: results.dir (relative to the cluster file's directory
    when inside it) and results.s3."""
    directory = os.path.relpath(config["results"]["dir"], config["base_dir"])
    if directory.startswith(".."):
        directory = config["results"]["dir"]
    return directory + (f" and {config['results']['s3']}" if config["results"]["s3"] else "")


def _figures(runs: list[dict], config: dict) -> list:
    from plotly import graph_objects as go

    figures = []
    for name, title, key, y_label in CHARTS:
        drawn = [run for run in runs if run[key] is not None and run["started"]]
        if not drawn:
            continue
        figure = go.Figure(
            go.Scatter(
                x=[run["started"] for run in drawn],
                y=[run[key] for run in drawn],
                mode="lines",
                line={"color": "#bbbbbb"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        for outcome, (colour, symbol) in OUTCOMES.items():
            these = [run for run in drawn if run["outcome"] == outcome]
            if these:
                figure.add_trace(
                    go.Scatter(
                        x=[run["started"] for run in these],
                        y=[run[key] for run in these],
                        mode="markers",
                        name=outcome,
                        marker={"color": colour, "symbol": symbol, "size": 9},
                        text=[_hover(run) for run in these],
                        hovertemplate="%{text}<br>%{y}<extra></extra>",
                    )
                )
        if name == "time":
            label, limit = time_limit(config)
            figure.add_trace(
                go.Scatter(
                    x=[drawn[0]["started"], drawn[-1]["started"]],
                    y=[limit, limit],
                    mode="lines",
                    name=label,
                    line={"color": "#cc0000", "dash": "dash"},
                )
            )
            title = f"{title} against {label.split(' (')[0]}"
        figure.update_layout(title=title)
        figure.update_yaxes(title_text=y_label, rangemode="tozero")
        figures.append((name, figure))
    return figures


def _hover(run: dict) -> str:
    failed = f"<br>{html.escape(run['failures'][0][:120])}" if run["failures"] else ""
    return f"{run['run_id']}: {run['outcome']}{failed}"


def _table(runs: list[dict], config: dict) -> str:
    head = (
        "<tr><th>run</th><th>started</th><th>outcome</th><th>rows in / out / rejected</th>"
        "<th>run time (s)</th><th>job time (s)</th><th>workers</th><th>rows/s per worker</th>"
        "<th>cost (USD)</th><th>what failed</th></tr>"
    )
    rows = []
    for run in reversed(runs):
        report = os.path.join(config["results"]["dir"], run["run_id"], "report.html")
        name = html.escape(run["run_id"])
        if os.path.isfile(report):
            name = f'<a href="{name}/report.html">{name}</a>'
        counted = " / ".join(_cell(run[key]) for key in ("rows", "rows_out", "rows_rejected"))
        if run["outcome"] == "uncollected":
            counted = "no manifest was collected"
        cells = [
            name,
            html.escape(run["started"] or ""),
            run["outcome"],
            counted,
            *(_cell(run[key]) for key in ("wall_seconds", "job_seconds", "workers")),
            *(_cell(run[key]) for key in ("rows_per_second_per_worker", "cost")),
            "<br>".join(html.escape(line) for line in run["failures"]),
        ]
        rows.append(
            f'<tr class="{run["outcome"]}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    return f'<h2>Runs, the latest first</h2><table id="runs-table">{head}{"".join(rows)}</table>'


def mermaid_run_times(runs: list[run_history.Run], config: dict, count=MERMAID_RUNS) -> str | None:
    """A Mermaid chart of the run time of the last ``count`` runs that recorded one, failed
    ones named, against job.deadline when there is one; None without such a run."""
    timed = [run for run in lines(runs) if run["wall_seconds"] is not None][-count:]
    if not timed:
        return None
    labels = [
        (run["started"] or run["run_id"])[5:16]
        + ("" if run["outcome"] == "succeeded" else " " + run["outcome"])
        for run in timed
    ]
    series = [("bar", [run["wall_seconds"] for run in timed])]
    title = f"run time over the last {len(timed)} run(s) (s)"
    if config["job"]["deadline"]:
        series.append(("line", [config["job"]["deadline"]] * len(timed)))
        title += f"; line: job.deadline {config['job']['deadline']} s"
    return run_charts.mermaid_chart(title, labels, series, "seconds")


def _listed(value) -> list:
    return value if isinstance(value, list) else []


def _sum(*values):
    numbers = [_number(value) for value in values]
    return None if any(number is None for number in numbers) else sum(numbers)


def _number(value):
    """A manifest's number, or None for anything else (a manifest is read as found)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cell(value) -> str:
    return "" if value is None else html.escape(str(value))


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
