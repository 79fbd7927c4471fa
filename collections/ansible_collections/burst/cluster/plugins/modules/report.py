"""Documentation of burst.cluster.report; the work is done by the action plugin of the same name."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report
short_description: Write the plan of a change, the summary of a run, or the cluster's run history
description:
  - "O(kind=plan): what a change of the cluster file would do, for a pull-request comment:
    the size, instance type, source and job before and after, the resources the Pulumi preview
    counts, and what a run costs at the hourly price of the instance type in the price table
    C(schema/aws_prices.json) of this collection (dated, per region)."
  - An invalid cluster file gives a plan that quotes the loader's message.
  - "O(kind=run): the summary of one run: the cluster, the rows in, out and rejected from the
    manifest, the job's time, where the results are, the cost and what failed, with Mermaid
    C(xychart-beta) charts of rows/s over the job and the wall time by phase."
  - "O(kind=run) also writes, beside the summary, C(timeline.json) (the data behind the charts:
    phases, rows done over time, rows/s, every batch with its worker and times) and
    C(report.html) (the same as plotly charts, one page that opens without a network), and moves
    Dask's C(dask-report.html), which the source leaves with its logs, beside them."
  - "O(kind=plan) ends with a Mermaid chart of the longest a run may take, before and after."
  - "O(kind=plan) and O(kind=run) also carry a Mermaid C(xychart-beta) chart of the run time of
    the cluster's last 20 runs (bars; failed and partial runs named under their bar), against
    C(job.deadline) (a line) when it has one, if the cluster has any run with its time recorded
    in C(results.dir) or C(results.s3)."
  - "O(kind=history): C(history.html) in C(results.dir), one page that opens without a network:
    plotly charts of the rows, the run time against C(job.deadline) (or C(job.timeout)), the
    rows/s per worker and the cost of every run over time, and a table of the runs, from the
    manifests of the cluster's latest C(results.history) runs in C(results.dir) and
    C(results.s3). Failed and partial runs are marked, a run directory without a manifest shown
    as C(uncollected); a manifest that is not one of this cluster's is skipped with a line on the
    page and in RV(notes). Without any run the page, and RV(msg), say so."
  - Runs on the controller only (it is an action plugin); it writes the report even in check
    mode, since a report changes no machine.
  - A plan or a summary that cannot be written gives a warning, never a failure, so that it
    never hides why a run failed; a C(history.html) that cannot be written fails the task. A
    report is written whole or not at all (never an empty file).
version_added: 0.1.0
author: burst (!UNKNOWN)
options:
  kind:
    description: Which report to write.
    type: str
    required: true
    choices: [plan, run, history]
  cluster_file:
    description: The cluster file after the change. Required with O(kind=plan).
    type: path
  overrides:
    description: Sections merged into O(cluster_file), as M(burst.cluster.config) takes them.
    type: dict
    default: {}
  base_file:
    description:
      - The cluster file before the change, e.g. from a checkout of the pull request's base.
      - A path that does not exist means the file is new.
    type: path
  changes:
    description:
      - Counts of the preview's operations by name (C(create), C(update), C(delete), C(same), ...).
    type: dict
  config:
    description:
      - The cluster's config, as M(burst.cluster.config) returned it (for O(kind=run), the
        run's). Required with O(kind=run) and O(kind=history).
    type: dict
  run_id:
    description: The run's id. Required with O(kind=run).
    type: str
  manifest:
    description: The run's C(manifest.json), if one was collected.
    type: dict
    default: {}
  failures:
    description: Why the run or the preview failed, one line each; empty when it succeeded.
    type: list
    elements: str
    default: []
  dest:
    description:
      - File to write the Markdown (O(kind=history), the page) to; replaced if it exists.
      - "The default for O(kind=plan) is C(plan.md) in the cluster's state directory
        (C(.burst/<name>) beside the cluster file, or C($BURST_STATE_DIR/<name>)); when the file
        does not load, so has no name, C(plan.md) in C(.burst) (or C($BURST_STATE_DIR)) itself.
        For O(kind=run), C(summary.md) in the run's results, C(<results.dir>/<run_id>/summary.md).
        For O(kind=history), C(<results.dir>/history.html)."
    type: path
  append_to:
    description:
      - File to append the Markdown to as well, e.g. C($GITHUB_STEP_SUMMARY) in GitHub Actions.
    type: path
  marks:
    description:
      - With O(kind=run), when each phase began, one mapping per host of phase name
        (C(provision), C(install), C(start), C(job), C(collect), C(teardown)) to seconds since
        the epoch. A phase lasts from its earliest mark to the next phase's; the last one to the
        report.
    type: list
    elements: dict
    default: []
  sizing:
    description:
      - What M(burst.cluster.sizing) returned; the plan shows its table and the size the change
        runs, the run's summary its predicted time against the actual, with the error, and its
        warnings (a size predicted to miss C(job.deadline), the rows' growth).
    type: dict
    default: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  async:
    support: none
    description: Rendering is quick; it cannot run asynchronously.
  check_mode:
    support: full
    description: Writes the report in check mode too; the plan is what check mode is for.
  diff_mode:
    support: none
    description: The report is new each time; there is no diff to show.
  platform:
    platforms: posix
    description: Runs on the controller.
"""

EXAMPLES = r"""
- name: Write the plan of a pull request
  burst.cluster.report:
    kind: plan
    cluster_file: cluster.yaml
    base_file: .burst/base/cluster.yaml
    changes: {create: 12}

- name: Write the run's summary, also to the job summary of GitHub Actions
  burst.cluster.report:
    kind: run
    config: "{{ burst_config }}"
    run_id: "{{ burst_run_id }}"
    manifest: "{{ lookup('ansible.builtin.file', burst_output ~ '/manifest.json') | from_json }}"
    append_to: "{{ lookup('ansible.builtin.env', 'GITHUB_STEP_SUMMARY') or omit }}"

- name: Draw every run of the cluster in history.html
  burst.cluster.report:
    kind: history
    config: "{{ burst_config }}"
"""

RETURN = r"""
markdown:
  description: The report as written.
  returned: kind plan or run
  type: str
  sample: "### burst plan for `demo`\n\n| | before | after |\n..."
dest:
  description: Where the report was written, or would have been if it could not be.
  returned: success
  type: str
  sample: .burst/demo/plan.md
runs:
  description: How many runs C(history.html) shows.
  returned: kind history
  type: int
  sample: 12
notes:
  description: One line per manifest, or place, skipped.
  returned: kind history
  type: list
  elements: str
  sample: ["skipped output/20261201T130000Z-dddd/manifest.json: not JSON (...)"]
msg:
  description: Where the page is and how many runs it shows (or that there is none), then the notes.
  returned: kind history
  type: list
  elements: str
  sample: ["output/history.html: 12 run(s) of demo"]
wall_seconds:
  description: The run's wall time, from the start its run id names to the summary.
  returned: kind run, with a run id of burst's form
  type: int
  sample: 23
cost:
  description:
    - What the run's machines cost at most, in USD; 0 for providers C(local) and C(static),
      which use no cloud machine; null when the price table has no price.
  returned: kind run
  type: float
  sample: 0
"""
