"""The benchmark results as a Markdown table against burst's targets, and as a PNG chart."""

from pathlib import Path


def figures(results: dict) -> list[tuple[str, str, float, str, bool]]:
    """(what, measured as text, value, target as text, met) for every target of the suite."""
    rows = []
    cores = results["machine"]["cores"]
    for entry in results["efficiency"]:
        rows.append(
            (
                f"parallel efficiency, black box, {entry['rows']:,} rows,"
                f" {entry['workers']} worker(s)",
                f"{entry['efficiency']:.3f} (single {entry['single_s']} s,"
                f" pipeline {entry['pipeline_s']} s; {entry['workers']} independent single"
                f" processes side by side: {entry['machine_ceiling']:.3f})",
                entry["efficiency"],
                "≥ 0.95" if entry["workers"] == cores else "(for the record)",
                entry["efficiency"] >= 0.95 or entry["workers"] != cores,
            )
        )
    for entry in results.get("sweep", []):
        efficiency, ceiling = entry["efficiency"], entry["machine_ceiling"]
        share = efficiency["auto"] / ceiling
        fixed = ", ".join(f"{k}: {v:.3f}" for k, v in efficiency.items() if k != "auto")
        where = (
            f"{entry['rows']:,} rows, slowness {entry['slowness']:,},"
            f" {entry.get('rounds', 1)} round(s)"
        )
        rows.append(
            (
                f"batch_rows auto ÷ the machine's ceiling, black box, {where}",
                f"{share:.3f} (efficiency {efficiency['auto']:.3f}, ceiling {ceiling:.3f})",
                share,
                "≥ 0.95",
                share >= 0.95,
            )
        )
        best = max(v for k, v in efficiency.items() if k != "auto")
        rows.append(
            (
                f"best fixed batch_rows ÷ auto, {where}",
                f"{best / efficiency['auto']:.3f} ({fixed})",
                best / efficiency["auto"],
                "≤ 1.03",
                best <= 1.03 * efficiency["auto"],
            )
        )
    contenders = results["throughput"]["contenders"]
    burst = contenders["burst"]["rows_per_s"]
    n = results["throughput"]["rows"]
    for name, target in (("Dask DataFrame by hand", 1.0), ("single process (pandas)", 1.5)):
        ratio = burst / contenders[name]["rows_per_s"]
        rows.append(
            (
                f"burst ÷ {name}, cheap classifier, {n:,} rows",
                f"{ratio:.2f} ({burst:,} against {contenders[name]['rows_per_s']:,} rows/s)",
                ratio,
                f"≥ {target}",
                ratio >= target,
            )
        )
    plain = next((entry for name, entry in contenders.items() if "without TLS" in name), None)
    if plain:
        ratio = burst / plain["rows_per_s"]
        rows.append(
            (
                f"burst (TLS on every link) ÷ burst without TLS, cheap classifier, {n:,} rows",
                f"{ratio:.2f} ({burst:,} against {plain['rows_per_s']:,} rows/s)",
                ratio,
                "(for the record)",
                True,
            )
        )
    one = contenders["burst, one record per frame"]["rows_per_s"]
    rows.append(
        (
            f"burst fed one record per frame, {n:,} rows",
            f"{one:,} rows/s",
            one,
            "≥ 50,000 rows/s",
            one >= 50_000,
        )
    )
    overhead = results["overhead"]
    phases = ", ".join(f"{k} {v} s" for k, v in overhead["phases"].items())
    rows.append(
        (
            f"controller overhead, site.yml provider local, {overhead['rows']:,} rows",
            f"{overhead['overhead_s']:.1f} s (wall {overhead['wall_s']} s"
            f" − job {overhead['job_s']} s; {phases})",
            overhead["overhead_s"],
            "≤ 10 s",
            overhead["overhead_s"] <= 10,
        )
    )
    share = overhead["efficiency"] / overhead["machine_ceiling"]
    rows.append(
        (
            f"make run's parallel efficiency ÷ the machine's ceiling: cluster.yaml, no batch_rows,"
            f" {overhead['rows']:,} rows, slowness {overhead['slowness']:,},"
            f" {overhead['workers']} workers",
            f"{share:.3f} (efficiency {overhead['efficiency']:.3f} from the job's own time,"
            f" ceiling {overhead['machine_ceiling']:.3f})",
            share,
            "≥ 0.95",
            share >= 0.95,
        )
    )
    report = results["report_cost"]
    rows.append(
        (
            f"the run report's cost to the job (batches.csv, Dask's performance report),"
            f" black box, {report['rows']:,} rows, {report['workers']} worker(s)",
            f"{report['cost_percent']:+.2f} % (job {report['median_with']} s with it,"
            f" {report['median_without']} s without)",
            report["cost_percent"],
            "≤ 2 %",
            report["cost_percent"] <= 2,
        )
    )
    growth = results["growth"]
    small, big = growth["rows"]
    rows.append(
        (
            f"growth: the pipeline's own time at {big:,} ÷ at {small:,} rows",
            f"{growth['time_ratio']:.2f} ({growth['job_seconds'][1]} s ÷"
            f" {growth['job_seconds'][0]} s; from the sender's start to the receiver's exit"
            f" {growth['end_to_end_time_ratio']:.2f})",
            growth["time_ratio"],
            f"{big / small * 0.9:g} to {big / small * 1.1:g}",
            abs(growth["time_ratio"] - big / small) <= 0.1 * big / small,
        )
    )
    for name, ratio in growth["peak_rss_ratio"].items():
        mib = growth["peak_rss_bytes"]["big"][name] / 2**20
        rows.append(
            (
                f"growth: peak RSS of the {name} at {big:,} ÷ at {small:,} rows",
                f"{ratio:.2f} ({mib:.0f} MiB)" if ratio else "not measured (ended between samples)",
                ratio,
                "≤ 1.2",
                ratio is not None and ratio <= 1.2,
            )
        )
    return rows


def write_table(results: dict, path: Path) -> None:
    m = results["machine"]
    lines = [
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']},"
        f" pandas {m['pandas']}, dask {m['dask']}, distributed {m['distributed']}."
        f" Medians of {results['rounds']} round(s),"
        f" contenders alternating; the suite took {results['seconds']} s.",
        "",
        "| what | measured | target | met |",
        "| --- | --- | --- | --- |",
    ]
    if results["size"] == "smoke":
        lines[0] = "Smoke run on tiny inputs: the targets do not apply. " + lines[0]
    for what, measured, _, target, met in figures(results):
        lines.append(f"| {what} | {measured} | {target} | {'yes' if met else '**no**'} |")
    lines += [
        "",
        "| contender (cheap classifier) | seconds | rows/s | same rows as the single process |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in results["throughput"]["contenders"].items():
        same = "yes" if entry["same_as_single_process"] else "**no**"
        lines.append(f"| {name} | {entry['seconds']} | {entry['rows_per_s']:,} | {same} |")
    path.write_text("\n".join(lines) + "\n")


def write_chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sweep = results.get("sweep", [])
    figure, axes = pyplot.subplots(1, 3 if sweep else 2, figsize=(16 if sweep else 11, 4))
    left, right = axes[0], axes[1]
    contenders = results["throughput"]["contenders"]
    names = list(contenders)
    left.barh(names, [contenders[n]["rows_per_s"] for n in names], color="#4477aa")
    left.set_xlabel("rows/s (higher is better)")
    left.set_title(f"cheap classifier, {results['throughput']['rows']:,} rows")
    left.invert_yaxis()
    for rows in sorted({e["rows"] for e in results["efficiency"]}):
        entries = [e for e in results["efficiency"] if e["rows"] == rows]
        right.plot(
            [e["workers"] for e in entries],
            [e["efficiency"] for e in entries],
            marker="o",
            label=f"{rows:,} rows",
        )
    right.axhline(0.95, color="grey", linestyle="--", label="target 0.95")
    right.set_ylim(0, 1.05)
    right.set_xlabel("workers")
    right.set_ylabel("parallel efficiency")
    right.set_title("black box")
    right.legend()
    if sweep:
        _sweep_chart(axes[2], sweep)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _sweep_chart(axis, sweep: list[dict]) -> None:
    """Efficiency ÷ the machine's ceiling against the classifier's cost, per batch_rows."""
    for rows in sorted({e["rows"] for e in sweep}):
        entries = [e for e in sweep if e["rows"] == rows]
        for setting in entries[0]["efficiency"]:
            axis.plot(
                [e["slowness"] for e in entries],
                [e["efficiency"][setting] / e["machine_ceiling"] for e in entries],
                marker="o" if setting == "auto" else ".",
                linewidth=2.5 if setting == "auto" else 1,
                label=f"{setting}, {rows:,} rows",
            )
    axis.axhline(0.95, color="grey", linestyle="--", label="target 0.95")
    axis.set_xscale("log")
    axis.set_ylim(0, 1.1)
    axis.set_xlabel("slowness (SHA-256 rounds a row)")
    axis.set_ylabel("efficiency ÷ the machine's ceiling")
    axis.set_title("batch_rows: auto against fixed")
    axis.legend(fontsize="x-small")
