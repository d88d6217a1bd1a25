"""One benchmark report: every row a Conveyor figure, its peer measured in the same run, the ratio.

Reads the per-benchmark results (``bench/results-*.json``, written by ``make bench``'s steps)
and writes ``bench/results.json`` and ``bench/results.md``, and the same table into ``bench/README.md``
between its two marker comments (the rest of that page is left as it is). A row whose benchmark has
not run is an error, so a report never silently drops a comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("features", "backfill", "training", "drift", "loop", "serving", "dag-parse", "view")
TABLE_START = "<!-- bench/report.py writes this table -->"
TABLE_END = "<!-- end of the generated table -->"


def load(folder: Path) -> dict[str, dict]:
    found = {}
    for name in SOURCES:
        path = folder / f"results-{name}.json"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run `make bench` (or `make bench-{name}`) first")
        found[name] = json.loads(path.read_text())
    return found


def row(what: str, conveyor: float, unit: str, peer: str, peer_value: float, note: str = "") -> dict:
    return {
        "what": what,
        "conveyor": conveyor,
        "unit": unit,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": round(conveyor / peer_value, 3) if peer_value else None,
        "note": note,
    }


def strongest(size: dict, tool: str, key: str) -> str:
    """A feature-job peer's name, with the formulation that was fastest of those tried."""
    tries = size.get(f"{key}_tries", {})
    return f"{tool}, same features" + (f" ({size[key + '_formulation']}, fastest of {len(tries)})" if tries else "")


def rows(r: dict[str, dict]) -> list[dict]:
    out = []
    f = r["features"]
    for size in ("1M", "10M"):
        if size not in f:
            continue
        s = f[size]
        agree = "outputs agree" if s["outputs_agree"] else "OUTPUTS DISAGREE"
        out.append(
            row(
                f"feature job, {s['rows']:,} raw rows (Spark, local[2])",
                s["spark_s"],
                "s",
                strongest(s, "DuckDB SQL", "duckdb"),
                s["duckdb_s"],
                agree,
            )
        )
        if "pandas_s" in s:
            out.append(
                row(
                    f"feature job, {s['rows']:,} raw rows (Spark, local[2])",
                    s["spark_s"],
                    "s",
                    strongest(s, "pandas", "pandas"),
                    s["pandas_s"],
                    agree,
                )
            )
        out.append(
            row(
                f"features gate (Great Expectations on Spark), {s['rows']:,} rows",
                s["gate_s"],
                "s",
                "the feature job it gates",
                s["spark_s"],
            )
        )
    b = r["backfill"]
    for case, label in (
        ("two_years_one_hourly_series", "two years of one hourly series"),
        ("one_year_demand_demo", "a year of the demand demo"),
    ):
        if case in b:
            c = b[case]
            out.append(
                row(
                    f"`conveyor backfill-features`, {label} ({c['days']} days, {c['raw_rows']:,} rows)",
                    c["one_pass_s"],
                    "s",
                    "the same command gating each day on its own (--gate-each-day)",
                    c["per_day_s"],
                    ("same days published" if c["same_outcome"] else "OUTCOMES DIFFER")
                    + (f"; target {b['target_s']:.0f} s" if case.startswith("two_years") else ""),
                )
            )
    t = r["training"]
    out.append(
        row(
            f"Lightning training loop, {t['rows']:,} rows ({t['device']})",
            t["lightning_samples_per_s"],
            "samples/s",
            "plain PyTorch loop, same model and data",
            t["plain_pytorch_samples_per_s"],
            "higher is better; ratio of the medians"
            + (
                f", median of paired runs {t['lightning_over_plain_paired_median']}"
                if "lightning_over_plain_paired_median" in t
                else ""
            ),
        )
    )
    d = r["drift"]
    for case in ("quiet", "drifted"):
        if case in d:
            c = d[case]
            peer = {"scipy": "scipy on every row", "evidently_full": "Evidently on every row"}[
                c.get("peer_best", "scipy")
            ]
            tries = c.get("peer_tries", {})
            out.append(
                row(
                    f"drift check, {c['rows']:,}-row window ({case})",
                    c["conveyor_seconds"],
                    "s",
                    peer + (f" (fastest of {len(tries)})" if len(tries) > 1 else ""),
                    c.get("peer_seconds", c["scipy_seconds"]),
                    "verdicts agree" if c["verdicts_agree"] else "VERDICTS DISAGREE",
                )
            )
    loop = r["loop"]
    out.append(
        row(
            "end-to-end loop through the scheduler (features, train, score, drift)",
            loop["loop_wall_s"],
            "s",
            "time a task was running (Airflow's task records)",
            loop["loop_busy_s"],
            f"orchestration overhead {loop['orchestration_overhead_s']} s ({loop['overhead_share']:.0%})",
        )
    )
    sv = r["serving"]
    ours, peer = sv["conveyor"], sv["peer_mlflow_models_serve"]
    load = f"{sv['rows_per_request']} rows/request"
    swap = ours["closed_across_champion_change"]
    out.append(
        row(
            f"serving throughput, {load}, {sv['concurrency']} clients (`conveyor serve`)",
            ours["closed"]["rps"],
            "requests/s",
            f"`mlflow models serve`, same model and load ({peer['workers']} worker(s), the fastest tried)",
            peer["closed"]["rps"],
            f"higher is better; target >= 3x; {sv['failed_requests']} failed, {swap['rps']}/s across a champion change",
        )
    )
    out.append(
        row(
            f"serving p99 latency at {sv['rate']:.0f} requests/s, {load}",
            ours["open_100rps"]["p99_ms"],
            "ms",
            "`mlflow models serve`, same rate",
            peer["open_100rps"]["p99_ms"],
            "target <= 15 ms",
        )
    )
    out.append(
        row(
            f"serving throughput, key-only rows (features from the lake), {load}",
            ours["key_only"]["closed"]["rps"],
            "requests/s",
            "`mlflow models serve` with full rows",
            peer["closed"]["rps"],
            f"p99 at {sv['rate']:.0f}/s {ours['key_only']['open_100rps']['p99_ms']} ms",
        )
    )
    out.append(
        row(
            f"serving p50 latency, {load}",
            ours["open_100rps"]["p50_ms"],
            "ms",
            "the model's predict_rows in process (the floor)",
            sv["floor"]["predict_rows"]["p50_ms"],
            f"pyfunc predict on a DataFrame: {sv['floor']['pyfunc_predict_pandas']['p50_ms']} ms",
        )
    )
    p = r["dag-parse"]
    for name, stats in p["files"].items():
        out.append(
            row(
                f"DAG parse, dags/{name} ({stats['dags']} DAGs, {stats['tasks']} tasks)",
                round(stats["seconds"] * 1000, 1),
                "ms",
                "a one-task DAG file",
                round(p["peer_one_task_dag_s"] * 1000, 1),
            )
        )
    v = r["view"]
    out.append(
        row(
            f"Conveyor view, a pipeline's page ({v['days']} days, {v['versions']} versions; through Airflow's "
            "api-server with its login)",
            v["conveyor"]["median_s"],
            "s",
            "MLflow UI's registered-model page requests (versions only)",
            v["peer_mlflow_model_page"]["median_s"],
            f"first request {v['conveyor']['first_s']} s; target < {v['target_s']:.0f} s",
        )
    )
    return out


def markdown(table: list[dict], machine: str) -> str:
    lines = [
        f"Machine: {machine}. Every row's peer was measured in the same run.",
        "",
        "| what | Conveyor | peer | peer value | ratio | note |",
        "|---|---|---|---|---|---|",
    ]
    for t in table:
        lines.append(
            f"| {t['what']} | {t['conveyor']} {t['unit']} | {t['peer']} | {t['peer_value']} {t['unit']} | "
            f"{t['ratio']}x | {t['note']} |"
        )
    return "\n".join(lines) + "\n"


def with_table(page: str, table: str, name: str = "the page") -> str:
    """``page`` with the text between its two table markers replaced by ``table``; nothing else changes."""
    starts, ends = page.count(TABLE_START), page.count(TABLE_END)
    if starts != 1 or ends != 1 or page.index(TABLE_END) < page.index(TABLE_START):
        raise SystemExit(
            f"{name} needs one {TABLE_START!r} line and, after it, one {TABLE_END!r} line around the "
            f"benchmark table (found {starts} and {ends}): put them back around it"
        )
    head, rest = page.split(TABLE_START)
    _, tail = rest.split(TABLE_END)
    return f"{head}{TABLE_START}\n\n{table.strip()}\n\n{TABLE_END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / "bench")
    parser.add_argument("--readme", type=Path, help="the page whose table to rewrite (default: FOLDER/README.md)")
    args = parser.parse_args()
    readme = args.readme or args.folder / "README.md"
    if not readme.exists():
        raise SystemExit(f"{readme} is missing: the report rewrites the table in it (pass --readme)")
    results = load(args.folder)
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    table = rows(results)
    missing_peer = [t["what"] for t in table if not t["peer_value"]]
    if missing_peer:
        raise SystemExit(f"rows without a peer figure: {missing_peer}")
    text = markdown(table, machine)
    # the page first: when its markers are missing, nothing is written
    page = with_table(readme.read_text(), text, str(readme))
    (args.folder / "results.json").write_text(
        json.dumps({"date": date.today().isoformat(), "machine": machine, "rows": table, "sources": results}, indent=1)
    )
    (args.folder / "results.md").write_text(text)
    readme.write_text(page)
    print(text)


if __name__ == "__main__":
    main()
