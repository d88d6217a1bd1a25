"""The benchmark report: every row carries its peer and the ratio; a missing benchmark is an error; the table in
bench/README.md is the report of the committed results files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench import report
from tests.unit import test_docs_links as links

BENCH = Path(report.__file__).resolve().parent

RESULTS = {
    "features": {
        "1M": {
            "rows": 1_008_000,
            "spark_s": 14.0,
            "duckdb_s": 2.0,
            "pandas_s": 7.0,
            "outputs_agree": True,
            "gate_s": 4.2,
        },
        "10M": {
            "rows": 10_080_000,
            "spark_s": 30.0,
            "duckdb_s": 12.0,
            "duckdb_formulation": "dense_rows",
            "duckdb_tries": {"range_frames": 28.0, "dense_rows": 12.0},
            "pandas_s": 40.0,
            "pandas_formulation": "numpy_grid",
            "pandas_tries": {"numpy_grid": 40.0, "groupby_rolling": 60.0},
            "outputs_agree": True,
            "gate_s": 12.0,
        },
    },
    "backfill": {
        "target_s": 60.0,
        "two_years_one_hourly_series": {
            "days": 730,
            "raw_rows": 17_300,
            "one_pass_s": 40.0,
            "per_day_s": 400.0,
            "same_outcome": True,
        },
    },
    "training": {
        "rows": 400_000,
        "device": "cpu",
        "lightning_samples_per_s": 300_000.0,
        "plain_pytorch_samples_per_s": 320_000.0,
    },
    "drift": {"quiet": {"rows": 10_000_000, "conveyor_seconds": 1.5, "scipy_seconds": 24.0, "verdicts_agree": True}},
    "loop": {"loop_wall_s": 200.0, "loop_busy_s": 150.0, "orchestration_overhead_s": 50.0, "overhead_share": 0.25},
    "serving": {
        "rows_per_request": 8,
        "concurrency": 4,
        "rate": 100.0,
        "failed_requests": 0,
        "floor": {"predict_rows": {"p50_ms": 0.2}, "pyfunc_predict_pandas": {"p50_ms": 2.0}},
        "conveyor": {
            "closed": {"rps": 600.0},
            "open_100rps": {"p50_ms": 2.0, "p99_ms": 6.0},
            "key_only": {"closed": {"rps": 500.0}, "open_100rps": {"p99_ms": 7.0}},
            "closed_across_champion_change": {"rps": 550.0},
        },
        "peer_mlflow_models_serve": {"workers": 2, "closed": {"rps": 150.0}, "open_100rps": {"p99_ms": 30.0}},
    },
    "dag-parse": {"peer_one_task_dag_s": 0.005, "files": {"demand.py": {"seconds": 0.4, "dags": 5, "tasks": 18}}},
    "view": {
        "days": 365,
        "versions": 50,
        "target_s": 1.0,
        "conveyor": {"first_s": 0.5, "median_s": 0.4},
        "peer_mlflow_model_page": {"first_s": 0.05, "median_s": 0.05},
    },
}


def test_every_row_has_a_peer_and_a_ratio(tmp_path, capsys):
    for name, data in RESULTS.items():
        (tmp_path / f"results-{name}.json").write_text(json.dumps(data))
    table = report.rows(report.load(tmp_path))
    assert all(t["peer_value"] and t["ratio"] is not None for t in table)
    by_peer = {t["peer"]: t for t in table}
    assert by_peer["DuckDB SQL, same features"]["ratio"] == 7.0
    assert by_peer["DuckDB SQL, same features (dense_rows, fastest of 2)"]["ratio"] == 2.5
    assert by_peer["pandas, same features"]["ratio"] == 2.0
    assert by_peer["the feature job it gates"]["ratio"] in (0.3, 0.4)
    assert by_peer["scipy on every row"]["ratio"] == 0.062
    assert by_peer["a one-task DAG file"]["conveyor"] == 400.0
    assert by_peer["the same command gating each day on its own (--gate-each-day)"]["ratio"] == 0.1
    assert "overhead 50.0 s (25%)" in by_peer["time a task was running (Airflow's task records)"]["note"]
    assert by_peer["MLflow UI's registered-model page requests (versions only)"]["ratio"] == 8.0
    throughput = next(t for t in table if t["what"].startswith("serving throughput, 8 rows"))
    assert throughput["ratio"] == 4.0 and "2 worker(s)" in throughput["peer"]
    md = report.markdown(table, "2 cores")
    assert md.count("\n|") == len(table) + 2


def test_a_missing_benchmark_stops_the_report(tmp_path):
    (tmp_path / "results-features.json").write_text(json.dumps(RESULTS["features"]))
    with pytest.raises(SystemExit, match="results-backfill.json is missing"):
        report.load(tmp_path)


PAGE = f"""# Benchmarks

Intro, kept as it is.

{report.TABLE_START}

| old | table |
|---|---|

{report.TABLE_END}

## `make bench-features`

Also kept, {report.TABLE_START.upper()} and all.
"""


def test_the_readme_rewrite_replaces_only_the_marked_block():
    table = report.markdown([report.row("a job", 2.0, "s", "its peer", 4.0, "agree")], "2 cores")
    page = report.with_table(PAGE, table)
    head, rest = PAGE.split(report.TABLE_START)
    tail = rest.split(report.TABLE_END)[1]
    assert page == f"{head}{report.TABLE_START}\n\n{table.strip()}\n\n{report.TABLE_END}{tail}"
    assert "| old | table |" not in page and "| a job | 2.0 s | its peer | 4.0 s | 0.5x | agree |" in page
    assert report.with_table(page, table) == page  # a second run changes nothing


@pytest.mark.parametrize(
    "broken",
    [
        "# Benchmarks\n\n| a hand-made table |\n",
        PAGE.replace(report.TABLE_START, ""),
        PAGE.replace(report.TABLE_END, ""),
        PAGE + report.TABLE_START + "\n",
        PAGE + report.TABLE_END + "\n",
        PAGE.replace(report.TABLE_START, "@@")
        .replace(report.TABLE_END, report.TABLE_START)
        .replace("@@", report.TABLE_END),
    ],
    ids=["no markers", "no start", "no end", "two starts", "two ends", "end before start"],
)
def test_the_readme_rewrite_needs_both_markers_in_order(broken):
    with pytest.raises(SystemExit, match="end of the generated table"):
        report.with_table(broken, "| a |\n")


def test_a_page_without_markers_stops_the_report_before_it_writes(tmp_path, monkeypatch):
    for name, data in RESULTS.items():
        (tmp_path / f"results-{name}.json").write_text(json.dumps(data))
    (tmp_path / "README.md").write_text("# Benchmarks\n\nNo table here.\n")
    monkeypatch.setattr(sys, "argv", ["report.py", "--folder", str(tmp_path)])
    with pytest.raises(SystemExit, match="README.md needs one"):
        report.main()
    assert not (tmp_path / "results.md").exists() and not (tmp_path / "results.json").exists()
    (tmp_path / "README.md").write_text(PAGE)
    report.main()
    written = (tmp_path / "README.md").read_text()
    assert (tmp_path / "results.md").read_text().strip() in written and written.endswith(
        PAGE.split(report.TABLE_END)[1]
    )


def test_the_committed_readme_table_is_the_report_of_the_committed_results():
    """bench/README.md cannot drift from the results: its table is what report.py makes of bench/results-*.json."""
    machine = json.loads((BENCH / "results.json").read_text())["machine"]
    table = report.markdown(report.rows(report.load(BENCH)), machine)
    readme = (BENCH / "README.md").read_text()
    assert report.with_table(readme, table) == readme, "run `.venv/bin/python -m bench.report` to rewrite the table"
    assert (BENCH / "results.md").read_text() == table


def test_the_bench_readme_links_resolve():
    links.test_relative_links_resolve(BENCH / "README.md")
